"""Every Triton kernel in kernels/ compiles for real GPUs (sm_80 and sm_90) to PTX and a cubin,
without a GPU: the interpreter tests (test_triton_interpret.py) check the maths, this checks
that the compiled path (types, layouts, libdevice calls, register budget) goes through the
whole NVIDIA pipeline down to ptxas, and that the FSDS scan's carry, which several threads of
a program read and one stores, is ordered by barriers in the generated code (the interpreter
runs one thread and cannot show that race; docs/gpu.md, "Review")."""

import functools
import os
import re

import pytest

triton = pytest.importorskip("triton", reason="triton is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") == "1", reason="the kernels are interpreted functions here"
)

import triton.language as tl  # noqa: E402
from lpfk.kernels import fsds, radial_spectrum, ssim  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

_FSDS_ARGS = {
    "xp": None, "xt": None, "wm_p": "*fp64", "is_p": "*fp64", "wm_t": "*fp64", "is_t": "*fp64",
}  # fmt: skip
_FSDS_SIZES = ["channels", "h", "hp", "wr", "rows_per_group", "n_groups"]


def _fsds_signature(kernel: str, real: str) -> dict:
    sig = {k: v or f"*{real}" for k, v in _FSDS_ARGS.items()}
    if kernel == "_fsds_colsum_kernel":
        sig["colsum"] = "*fp64"
        sig.update(dict.fromkeys(_FSDS_SIZES, "i32"))
    else:
        sig["carry"] = "*fp64"
        sig["partial"] = "*fp64"
        sig.update(dict.fromkeys([*_FSDS_SIZES, "n_col_blocks"], "i32"))
    return {**sig, "BY_PRED": "constexpr", "CR": "constexpr", "BW": "constexpr"}


def _radial_signature(real: str) -> dict:
    return {
        "spec_ptr": f"*{real}", "order_ptr": "*i32", "starts_ptr": "*i32", "out_ptr": "*fp64",
        "plane": "i32", "wr": "i32", "n_bins": "i32",
        "EVEN_W": "constexpr", "POWER": "constexpr", "BLOCK": "constexpr",
    }  # fmt: skip


def _ssim_signature(real: str) -> dict:
    return {
        "p_ptr": f"*{real}", "t_ptr": f"*{real}", "win_ptr": "*fp64", "partial_ptr": "*fp64",
        **dict.fromkeys(["h", "w", "ho", "wo", "pad", "k", "tiles_x", "tiles"], "i32"),
        "c1": "fp32", "c2": "fp32", "BH": "constexpr", "BW": "constexpr",
    }  # fmt: skip


# (module, kernel, dtype of the spectrum, constexprs): the shapes the launchers pick at the
# extremes (a 512-wide row per tile; one column and many rows) and in between.
CONFIGS = [
    (radial_spectrum, "_radial_sums_kernel", "fp32", {"EVEN_W": True, "POWER": False, "BLOCK": 256}),
    (radial_spectrum, "_radial_sums_kernel", "fp64", {"EVEN_W": False, "POWER": True, "BLOCK": 1024}),
    (fsds, "_fsds_colsum_kernel", "fp32", {"BY_PRED": False, "CR": 8, "BW": 64}),
    (fsds, "_fsds_colsum_kernel", "fp64", {"BY_PRED": True, "CR": 1, "BW": 512}),
    (fsds, "_fsds_scan_kernel", "fp32", {"BY_PRED": False, "CR": 8, "BW": 64}),
    (fsds, "_fsds_scan_kernel", "fp32", {"BY_PRED": True, "CR": 1, "BW": 512}),
    (fsds, "_fsds_scan_kernel", "fp64", {"BY_PRED": False, "CR": 512, "BW": 1}),
    # the widths below 32 * num_warps that _tiles picks for W <= 255 and for W = 128 ... 3840
    (fsds, "_fsds_scan_kernel", "fp32", {"BY_PRED": False, "CR": 32, "BW": 16}),
    (fsds, "_fsds_scan_kernel", "fp32", {"BY_PRED": False, "CR": 16, "BW": 32}),
    (fsds, "_fsds_scan_kernel", "fp64", {"BY_PRED": True, "CR": 4, "BW": 128}),
    (ssim, "_ssim_tile_kernel", "fp32", {"BH": ssim.BH, "BW": ssim.BW}),
    (ssim, "_ssim_tile_kernel", "fp64", {"BH": ssim.BH, "BW": ssim.BW}),
]
NUM_WARPS = {
    "_radial_sums_kernel": 4,
    "_fsds_colsum_kernel": 8,
    "_fsds_scan_kernel": 8,
    "_ssim_tile_kernel": 4,
}


@pytest.mark.skipif("LPFK_EXPECT_TRITON" not in os.environ, reason="set by .ci/run's second triton")
def test_runs_under_the_expected_triton():
    assert triton.__version__ == os.environ["LPFK_EXPECT_TRITON"], triton.__file__


def test_every_kernel_is_covered():
    for module in (fsds, radial_spectrum, ssim):
        kernels = {
            name for name, obj in vars(module).items()
            if isinstance(obj, triton.runtime.JITFunction) and name.endswith("_kernel")
        }  # fmt: skip
        assert kernels == {k for m, k, *_ in CONFIGS if m is module}, module.__name__


@functools.cache
def _compile(index: int, arch: int):
    module, kernel, real, constexprs = CONFIGS[index]
    fn = getattr(module, kernel)
    if module is ssim:
        sig = _ssim_signature(real)
    else:
        sig = _radial_signature(real) if module is radial_spectrum else _fsds_signature(kernel, real)
    assert list(sig) == fn.arg_names, "the signature above is out of date"
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
    return triton.compile(
        src,
        target=GPUTarget("cuda", arch, 32),
        options={"num_warps": NUM_WARPS[kernel], "enable_fp_fusion": True},
    )


_IDS = [f"{c[1]}-{c[2]}-{c[3]}" for c in CONFIGS]


@pytest.mark.parametrize("arch", [80, 90])
@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=_IDS)
def test_compiles_for_gpu(index, arch):
    compiled = _compile(index, arch)
    ptx = compiled.asm["ptx"]
    assert f".target sm_{arch}" in ptx and ".entry" in ptx
    assert len(compiled.asm["cubin"]) > 1000
    if CONFIGS[index][1] == "_fsds_scan_kernel":  # contraction on, as the launcher asks (docs/gpu.md)
        assert "fma.rn.f64" in ptx


# ---------------------------------------------------------------------------------------------
# Ordering of global memory within a program, read off the PTX: which paths of the kernel's
# control flow go from a store to a load (or a load to a store) of one buffer with no barrier.

_LABEL = re.compile(r"^(\$L__\w+):")
_BRANCH = re.compile(r"^(@!?%p\d+\s+)?bra(?:\.uni)?\s+(\$L__\w+);")
_PARAM = re.compile(r"ld\.param\.[ub]64\s+(%rd\d+),\s*\[(\w+)\]")
_DEF = re.compile(r"^(?:@!?%p\d+\s+)?[a-z][\w.]*\s+(%\w+),(.*);")
_MEM = re.compile(r"\b(ld|st)\.global(\.nc)?[\w.]*\s+.*\[\s*(%rd\d+)")
_BARRIER = re.compile(r"\b(bar|barrier)(\.cta)?\.sync\b")


def _entry_lines(ptx: str) -> list[str]:
    """The instructions and labels of the kernel (the .entry function), comments stripped."""
    lines = ptx.splitlines()
    start = next(i for i, line in enumerate(lines) if ".entry" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("}"))
    body = [line.split("//")[0].strip() for line in lines[start:end]]
    return [line for line in body if line and not line.startswith((".", "{", "}", ")"))]


def _pointer_params(lines: list[str]) -> dict[str, set[str]]:
    """Register -> the kernel parameters its value derives from (a union over all its
    definitions, iterated to a fixed point: loops redefine registers)."""
    origin: dict[str, set[str]] = {}
    for line in lines:
        if m := _PARAM.search(line):
            origin.setdefault(m[1], set()).add(m[2])
    changed = True
    while changed:
        changed = False
        for line in lines:
            m = _DEF.match(line)
            if not m or "ld.param" in line or ".global" in line:
                continue
            srcs = set().union(*(origin.get(r, set()) for r in re.findall(r"%\w+", m[2])))
            if not srcs <= origin.get(m[1], set()):
                origin.setdefault(m[1], set()).update(srcs)
                changed = True
    return origin


def unordered_accesses(ptx: str, param_index: int) -> list[str]:
    """Paths on which a global store is followed by a load, or a load by a store, of the buffer
    that kernel parameter ``param_index`` points to, with no bar.sync in between; and every
    non-coherent (.nc) load of it. Each as 'store at line i -> load at line j'."""
    lines = _entry_lines(ptx)
    param = re.search(r"\.entry\s+(\w+)\(", ptx)[1] + f"_param_{param_index}"
    origin = _pointer_params(lines)
    labels = {m[1]: i for i, line in enumerate(lines) if (m := _LABEL.match(line))}
    succ: list[list[int]] = []
    for i, line in enumerate(lines):
        m = _BRANCH.match(line)
        if line.startswith(("ret", "exit", "trap")):
            succ.append([])
        elif m:
            succ.append([labels[m[2]]] + ([i + 1] if m[1] else []))
        else:
            succ.append([i + 1] if i + 1 < len(lines) else [])
    kind: dict[int, str] = {}
    problems = []
    for i, line in enumerate(lines):
        m = _MEM.search(line)
        if m and param in origin.get(m[3], set()):
            kind[i] = m[1]
            if m[2]:
                problems.append(f"non-coherent load at line {i}: {line}")
    assert kind, f"no global access through {param} found: the analysis is out of date"
    barrier = {i for i, line in enumerate(lines) if _BARRIER.search(line)}
    for i, k in kind.items():
        other = "ld" if k == "st" else "st"
        seen, todo = set(), list(succ[i])
        while todo:
            j = todo.pop()
            if j in seen or j in barrier:
                continue
            seen.add(j)
            if kind.get(j) == other:
                problems.append(f"{k} at line {i} -> {other} at line {j} with no barrier")
                break
            todo.extend(succ[j])
    return problems


_SCANS = [i for i, c in enumerate(CONFIGS) if c[1] == "_fsds_scan_kernel"]


@pytest.mark.parametrize("arch", [80, 90])
@pytest.mark.parametrize("index", _SCANS, ids=[_IDS[i] for i in _SCANS])
def test_fsds_scan_orders_its_carry(index, arch):
    """Every path between a store and a load of the carry (kernel argument ``carry``) crosses a
    bar.sync: with a tile narrower than the program's threads, the thread that stores a carry
    element is not the only one that reads it back."""
    compiled = _compile(index, arch)
    carry = [n for n in fsds._fsds_scan_kernel.arg_names if not n.isupper()].index("carry")
    assert unordered_accesses(compiled.asm["ptx"], carry) == []


def test_race_check_finds_a_missing_barrier():
    """The analysis above on a kernel with the race (a carry stored and loaded back in a loop by
    different threads, no barrier) and on the same kernel with the barrier."""

    @triton.jit
    def racy(buf, n, BARRIER: tl.constexpr, BW: tl.constexpr):
        cols = tl.arange(0, BW)
        acc = tl.zeros([BW], dtype=tl.float64)
        for _ in range(n):
            if BARRIER:
                tl.debug_barrier()
            c = tl.load(buf + cols)
            acc += c
            if BARRIER:
                tl.debug_barrier()
            tl.store(buf + cols, c + 1.0)
        tl.store(buf + BW + cols, acc)

    for barrier in (False, True):
        src = ASTSource(fn=racy, signature={"buf": "*fp64", "n": "i32", "BARRIER": "constexpr", "BW": "constexpr"},
                        constexprs={"BARRIER": barrier, "BW": 32})  # fmt: skip
        ptx = triton.compile(
            src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 8, "enable_fp_fusion": True}
        ).asm["ptx"]
        found = unordered_accesses(ptx, 0)
        assert (found == []) == barrier, found
