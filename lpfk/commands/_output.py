"""Where a command writes, shared by every ``lpfk`` command (docs/design.md, "Data safety").

Rules: each command writes under its own default folder ``lpfk_out/<command>/``; it never replaces
a file that this run did not write unless the user passed ``--overwrite`` (it refuses with one line
naming the file and the flag); it says what it wrote. All the files of a run are claimed *before*
the work starts, so that a refusal costs nothing and never leaves half a result.

Use::

    add_output_args(parser, "sinc")              # --out lpfk_out/sinc, --overwrite
    out = Output.from_args(args)
    png, js = out.claim("sinc.png", "sinc.json")  # refuses (OutputExistsError) before any work
    ...                                          # write png and js
    print(out.report())                          # "wrote lpfk_out/sinc/sinc.png, lpfk_out/sinc/sinc.json"

A folder that some other code fills (file names not known in advance) is claimed whole with a
trailing slash, ``out.claim("hyra/")`` (or ``out.claim_folder("hyra")``): it must be absent or
empty unless ``--overwrite``. Claim everything in one call: a refusal then creates nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path("lpfk_out")


class OutputExistsError(ValueError):
    """A command would replace a file that this run did not write, without ``--overwrite``: the
    command line must change (another ``--out``, or ``--overwrite``), so the CLI exits 2 (usage)."""


def default_folder(command: str) -> Path:
    """``lpfk_out/<command>``: every command's default output folder."""
    return ROOT / command


def add_output_args(p: argparse.ArgumentParser, command: str) -> None:
    """Add ``--out`` (default ``lpfk_out/<command>``) and ``--overwrite`` to a command's parser."""
    g = p.add_argument_group("output")
    g.add_argument(
        "--out",
        type=Path,
        default=default_folder(command),
        help=f"output folder (default: {default_folder(command)})",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files that an earlier run left in --out (default: refuse and name the file)",
    )


class Output:
    """One run's output folder: claims file names before writing, remembers what it claimed."""

    def __init__(self, folder: str | Path, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = bool(overwrite)
        self._claimed: list[Path] = []

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Output:
        """From the ``--out`` and ``--overwrite`` options of :func:`add_output_args`."""
        return cls(args.out, overwrite=getattr(args, "overwrite", False))

    def _refuse(self, path: Path, what: str) -> OutputExistsError:
        return OutputExistsError(
            f"{path} {what} (not written by this run): pass --overwrite to replace it, "
            "or choose another --out"
        )

    def claim(self, *names: str) -> list[Path]:
        """Paths of ``names`` inside the folder; a name may hold sub-folders (``"eval/rows.csv"``)
        and a name ending in ``/`` claims a whole folder that other code fills (``"hyra/"``).

        Raises OutputExistsError, and claims nothing, if a file already exists (or a claimed
        folder holds files) that this run did not claim before, unless ``--overwrite`` was given.
        Otherwise creates the folders and remembers the paths (see :meth:`written`)."""
        if not names:
            raise ValueError("Output.claim: expected at least one file name, got none")
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputExistsError(f"--out {self.folder} exists and is not a folder")
        paths = [self.folder / n for n in names]
        for name, path in zip(names, paths, strict=True):
            if self.overwrite or path in self._claimed or not path.exists():
                continue
            if name.endswith("/") and path.is_dir():
                if any(path.iterdir()):
                    raise self._refuse(path, "holds files")
            else:
                raise self._refuse(path, "exists")
        for name, path in zip(names, paths, strict=True):
            (path if name.endswith("/") else path.parent).mkdir(parents=True, exist_ok=True)
            if path not in self._claimed:
                self._claimed.append(path)
        return paths

    def claim_folder(self, name: str) -> Path:
        """``claim(name + "/")``: a sub-folder filled by other code; every file in it after the
        run counts as written."""
        return self.claim(name.rstrip("/") + "/")[0]

    def written(self) -> list[Path]:
        """The claimed files that exist now (the files of a claimed folder, sorted)."""
        out: list[Path] = []
        for p in self._claimed:
            if p.is_dir():
                out += sorted(f for f in p.rglob("*") if f.is_file())
            elif p.exists():
                out.append(p)
        return out

    def report(self) -> str:
        """One line: ``wrote a, b, c`` (or ``wrote nothing``)."""
        files = self.written()
        return "wrote " + (", ".join(str(f) for f in files) if files else "nothing")


def write_png(image, path: str | Path) -> Path:
    """An image [C, H, W] (C = 1 or 3) in [0, 1] as an 8-bit PNG: clamped, rounded; written under
    a temporary name first, so a file under the final name is never half-written."""
    import numpy as np
    import torch
    from PIL import Image

    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"write_png: expected an image [C, H, W] with C = 1 or 3, got {getattr(image, 'shape', type(image).__name__)}"
        )
    arr = (image.detach().double().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    pil = Image.fromarray(arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0)))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pil.save(tmp, format="PNG")
    tmp.replace(path)
    return path
