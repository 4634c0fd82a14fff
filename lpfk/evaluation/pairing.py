"""Pairing SR results with their ground truth by file name, for ``lpfk eval``.

A file's *key* is its name without the extension and without the longest of the given suffixes it
ends with (``--sr-suffix _x4 --sr-suffix _SR`` turns ``baby_x4.png`` and ``baby_SR.png`` into
``baby``). An SR file pairs with the HR file of the same key; extensions may differ. Two files
with one key in one folder are always an error; names that do not pair are an error that lists
them unless ``allow_unpaired`` (then they are reported and left out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lpfk.evaluation.images import IMAGE_SUFFIXES, list_images

_SHOW = 10  # names listed per problem in an error message


@dataclass(frozen=True)
class Method:
    """One folder of SR results and the name it gets in the tables."""

    name: str
    folder: Path


@dataclass(frozen=True)
class Item:
    """One HR image and the SR results to compare with it (one per method, in method order)."""

    key: str
    hr: Path
    srs: tuple[tuple[str, Path], ...]  # (method name, SR file)


@dataclass
class Pairing:
    items: list[Item]  # sorted by HR file name
    methods: list[Method]
    hr_dir: Path
    unpaired: dict[str, list[str]] = field(default_factory=dict)  # "method: ..." -> file names

    @property
    def n_pairs(self) -> int:
        return sum(len(item.srs) for item in self.items)


def parse_method(spec: str) -> Method:
    """``DIR`` (named after the folder) or ``NAME=DIR``."""
    name, sep, folder = spec.partition("=")
    if sep and name and "/" not in name and not Path(spec).exists():
        return Method(name, Path(folder))
    path = Path(spec)
    return Method(path.resolve().name if path.name in ("", ".", "..") else path.name, path)


def file_key(path: Path, suffixes: Sequence[str]) -> str:
    """The name without extension and without the longest matching suffix."""
    stem = path.stem
    for suffix in sorted(suffixes, key=len, reverse=True):
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _keyed(folder: Path, suffixes: Sequence[str], what: str) -> dict[str, Path]:
    files = list_images(folder)
    keyed: dict[str, list[Path]] = {}
    for f in files:
        keyed.setdefault(file_key(f, suffixes), []).append(f)
    clashes = {k: v for k, v in keyed.items() if len(v) > 1}
    if clashes:
        shown = "; ".join(" and ".join(p.name for p in v) for v in list(clashes.values())[:_SHOW])
        more = f" (and {len(clashes) - _SHOW} more)" if len(clashes) > _SHOW else ""
        raise ValueError(
            f"{what} folder {folder}: {len(clashes)} name(s) pair ambiguously, the same name after "
            f"removing extension and suffix: {shown}{more}"
        )
    return {k: v[0] for k, v in keyed.items()}


def _suffix_hint(names: list[str], keys: set[str]) -> str | None:
    """The suffix that, removed from most of ``names``, would make them match ``keys``."""
    found: Counter[str] = Counter()
    for name in names:
        for i in range(len(name) - 1, 0, -1):
            if name[:i] in keys:
                found[name[i:]] += 1
                break
    if not found:
        return None
    suffix, count = found.most_common(1)[0]
    return suffix if count * 2 >= len(names) else None


def _listing(names: list[str]) -> str:
    more = f", ... ({len(names) - _SHOW} more)" if len(names) > _SHOW else ""
    return ", ".join(names[:_SHOW]) + more


def pair_folders(
    hr_dir: str | Path,
    methods: Sequence[Method],
    *,
    sr_suffixes: Sequence[str] = (),
    hr_suffixes: Sequence[str] = (),
    allow_unpaired: bool = False,
) -> Pairing:
    """Pair every SR folder's files with ``hr_dir``'s. Raises ValueError listing the names that do
    not pair (unless ``allow_unpaired``), ambiguous names, duplicate method names, empty folders."""
    hr_dir = Path(hr_dir)
    methods = [Method(m.name, Path(m.folder)) for m in methods]
    if not methods:
        raise ValueError("no SR result folders given")
    names = [m.name for m in methods]
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise ValueError(
            f"several SR folders are named {', '.join(dup)}; name them apart with NAME=DIR "
            "(e.g. --sr EDSR_x4=results/EDSR/x4 RCAN_x4=results/RCAN/x4)"
        )
    hr = _keyed(hr_dir, hr_suffixes, "HR")
    if not hr:
        raise ValueError(f"no images in the HR folder {hr_dir} (looked for {', '.join(IMAGE_SUFFIXES)})")
    per_method: dict[str, dict[str, Path]] = {}
    unpaired: dict[str, list[str]] = {}
    problems = []
    for m in methods:
        sr = _keyed(m.folder, sr_suffixes, f"SR ({m.name})")
        if not sr:
            raise ValueError(f"no images in the SR folder {m.folder} ({m.name})")
        extra = sorted(sr[k].name for k in sr.keys() - hr.keys())
        missing = sorted(hr[k].name for k in hr.keys() - sr.keys())
        if extra:
            unpaired[f"{m.name}: SR files without HR"] = extra
            hint = _suffix_hint([file_key(sr[k], sr_suffixes) for k in sr.keys() - hr.keys()], set(hr))
            tip = f" (try --sr-suffix {hint})" if hint else ""
            problems.append(
                f"{m.name}: {len(extra)} SR file(s) in {m.folder} without HR: {_listing(extra)}{tip}"
            )
        if missing:
            unpaired[f"{m.name}: HR files without SR"] = missing
            hint = _suffix_hint([file_key(hr[k], hr_suffixes) for k in hr.keys() - sr.keys()], set(sr))
            tip = f" (try --hr-suffix {hint})" if hint and not extra else ""
            problems.append(
                f"{m.name}: {len(missing)} HR file(s) without SR in {m.folder}: {_listing(missing)}{tip}"
            )
        per_method[m.name] = sr
    if problems and not allow_unpaired:
        raise ValueError(
            "names do not pair (pass --allow-unpaired to evaluate the pairs that do and report the rest):\n  "
            + "\n  ".join(problems)
        )
    items = []
    for key in sorted(hr, key=lambda k: hr[k].name):
        srs = tuple((m.name, per_method[m.name][key]) for m in methods if key in per_method[m.name])
        if srs:
            items.append(Item(key, hr[key], srs))
    if not items:
        raise ValueError(f"no SR file pairs with an HR file in {hr_dir}")
    return Pairing(items, list(methods), hr_dir, unpaired)
