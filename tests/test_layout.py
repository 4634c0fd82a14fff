"""The layout's import rules (docs/design.md, "Layout"), read with ``ast`` from every module of
lpfk/, kernels/ and bench/, so that the layout stays true.

Each test collects every violation (file:line and what it imports) and asserts the list is
empty: a failure names all offending lines at once. Imports inside functions count as much as
those at the top: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = frozenset(sys.stdlib_module_names)
SUBPACKAGES = ("ops", "analysis", "evaluation", "plots", "models", "commands")


@dataclass(frozen=True)
class Import:
    file: Path  # relative to the repository root
    line: int
    module: str  # the absolute module imported from ("lpfk.ops.fsds")
    names: tuple[str, ...]  # the names taken from it ("fsds",); () for ``import module``

    def __str__(self) -> str:
        what = f"from {self.module} import {', '.join(self.names)}" if self.names else f"import {self.module}"
        return f"{self.file}:{self.line}: {what}"


def _module_name(path: Path) -> str:
    """lpfk/analysis/lam.py -> lpfk.analysis.lam; kernels/fsds.py -> lpfk.kernels.fsds (installed
    as lpfk.kernels); bench/bench_lam.py -> bench.bench_lam."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "kernels":
        parts = ["lpfk", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _files() -> list[Path]:
    out = []
    for top in ("lpfk", "kernels", "bench"):
        out += sorted(p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)
    return out


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    rel = path.relative_to(ROOT)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(rel, node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append(Import(rel, node.lineno, module, tuple(a.name for a in node.names)))
    return out


ALL = {p: _imports(p) for p in _files()}


def _subpackage(path: Path) -> str:
    """The sub-package a file belongs to: "ops", "analysis", ..., "kernels", "bench", or "lpfk"
    for the top-level modules (cli.py, progress.py, __init__.py)."""
    parts = path.relative_to(ROOT).parts
    if parts[0] in ("kernels", "bench"):
        return parts[0]
    return parts[1] if len(parts) > 2 else "lpfk"


def _in(path: Path, sub: str) -> bool:
    return _subpackage(path) == sub


def _targets(imp: Import) -> list[str]:
    """Every module an import may load: the module, and module.name for each name taken."""
    return [imp.module] + [f"{imp.module}.{n}" for n in imp.names]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _top(module: str) -> str:
    return module.split(".")[0]


def _violations(rule) -> list[str]:
    return [str(imp) for path, imps in ALL.items() for imp in imps if rule(path, imp)]


def test_the_files_are_found():
    names = {_module_name(p) for p in ALL}
    assert {"lpfk.ops.fsds", "lpfk.analysis.impulse", "lpfk.kernels.fsds", "lpfk.cli"} <= names
    assert any(_under(n, "bench") for n in names)


def test_ops_imports_torch_numpy_the_extension_and_kernels_only():
    # scipy.fft, ducc0.fft: the other exact FFT engines of lpfk/ops/fft.py beside torch.fft
    allowed = ("torch", "numpy", "scipy.fft", "ducc0.fft", "lpfk._C", "lpfk.kernels", "lpfk.ops")

    def bad(path, imp):
        if not _in(path, "ops") or _top(imp.module) in STDLIB or imp.module == "__future__":
            return False
        if imp.module == "lpfk":  # from lpfk import _C / kernels
            return not all(n in ("_C", "kernels") for n in imp.names)
        return not any(_under(imp.module, a) for a in allowed)

    assert _violations(bad) == []


def test_analysis_draws_nothing_and_knows_no_files_or_commands():
    banned = ("matplotlib", "lpfk.evaluation", "lpfk.plots", "lpfk.commands", "lpfk.cli")

    def bad(path, imp):
        return _in(path, "analysis") and any(_under(t, b) for t in _targets(imp) for b in banned)

    assert _violations(bad) == []


def test_plots_is_the_only_importer_of_matplotlib():
    def bad(path, imp):
        return not _in(path, "plots") and _top(imp.module) == "matplotlib"

    assert _violations(bad) == []


def test_only_the_cli_imports_commands():
    def bad(path, imp):
        if _in(path, "commands") or path.relative_to(ROOT) == Path("lpfk/cli.py"):
            return False
        return any(_under(t, "lpfk.commands") for t in _targets(imp))

    assert _violations(bad) == []


def test_no_private_name_from_another_subpackage():
    """``from lpfk.X.m import _name`` or ``import lpfk.X._m`` outside X, in lpfk/ and kernels/.
    The extension lpfk._C is the C++ ops' interface, imported by lpfk.ops only (checked above).
    bench/, like tests/, measures the private pure-torch references (``_fsds``) on purpose."""

    def owner(module: str) -> str | None:
        parts = module.split(".")
        if parts[0] != "lpfk":
            return None
        if len(parts) > 1 and parts[1] == "kernels":
            return "kernels"
        return parts[1] if len(parts) >= 2 and parts[1] in SUBPACKAGES else "lpfk"

    def bad(path, imp):
        here = _subpackage(path)
        if here == "bench" or owner(imp.module) in (None, here):
            return False
        private_module = any(p.startswith("_") and p != "_C" for p in imp.module.split(".")[1:])
        private_name = any(n.startswith("_") and n != "_C" for n in imp.names)
        return private_module or private_name

    assert _violations(bad) == []


def _bound_names(tree: ast.Module) -> dict[str, ast.AST]:
    """Names bound at the top of a module: imports, defs, classes, assignments."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for a in node.names:
                out[(a.asname or a.name).split(".")[0]] = node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


def _binds_the_module(node: ast.AST, package: str, name: str) -> bool:
    """``from package import name`` (or ``import package.name``): the submodule itself."""
    if isinstance(node, ast.ImportFrom):
        return (node.module == package and node.level == 0) or (node.level == 1 and not node.module)
    return isinstance(node, ast.Import) and any(a.name == f"{package}.{name}" for a in node.names)


def _shadowing(init: Path, package: str) -> list[str]:
    """Public names bound in ``init`` that equal a submodule of its package but are not it."""
    pkg_dir = init.parent
    subs = {p.stem for p in pkg_dir.glob("*.py") if p.stem != "__init__"}
    subs |= {p.name for p in pkg_dir.iterdir() if (p / "__init__.py").is_file()}
    return [
        f"{init.name}:{node.lineno}: {name} hides {package}.{name}"
        for name, node in _bound_names(ast.parse(init.read_text())).items()
        if name in subs and not name.startswith("_") and not _binds_the_module(node, package, name)
    ]


def test_no_public_name_in_an_init_shadows_a_submodule():
    """``lpfk.lam`` was a function hiding the module lpfk/lam.py (the demo crash of 9c754b1)."""
    bad = []
    for init in [ROOT / "lpfk" / "__init__.py", *sorted((ROOT / "lpfk").glob("*/__init__.py"))]:
        bad += [f"{init.parent.relative_to(ROOT)}/{v}" for v in _shadowing(init, _module_name(init))]
    assert bad == []


def test_the_shadowing_check_sees_the_old_bug(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "lam.py").write_text("def lam(): pass\n")
    (pkg / "sinc.py").write_text("")
    (pkg / "__init__.py").write_text("from pkg.lam import lam\nfrom pkg import sinc\n")
    assert _shadowing(pkg / "__init__.py", "pkg") == ["__init__.py:1: lam hides pkg.lam"]


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_each_subpackage_says_what_it_may_import(sub):
    doc = ast.get_docstring(ast.parse((ROOT / "lpfk" / sub / "__init__.py").read_text())) or ""
    assert "May import" in doc or "may import" in doc, (
        f"lpfk/{sub}/__init__.py: no import rule in its docstring"
    )
