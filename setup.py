"""Thin driver of the CMake project: builds the pybind11 extension lpfk._C.

LPFK_CUDA=auto (default) builds the CUDA kernels when nvcc is on PATH or CUDA_HOME is set,
LPFK_CUDA=1 requires them, LPFK_CUDA=0 skips them. LPFK_BUILD_JOBS sets the parallel build level.
Flags live in CMakeLists.txt, not here.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _cuda_flag() -> str:
    mode = os.environ.get("LPFK_CUDA", "auto").strip().lower()
    if mode in ("1", "on", "true", "yes"):
        return "ON"
    if mode in ("0", "off", "false", "no"):
        return "OFF"
    if mode != "auto":
        raise SystemExit(f"LPFK_CUDA must be auto, 1 or 0; got {mode!r}")
    return "ON" if shutil.which("nvcc") or os.environ.get("CUDA_HOME") else "OFF"


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        import pybind11  # build requirement (pyproject.toml)

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / ext.name
        build_dir.mkdir(parents=True, exist_ok=True)
        cfg = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DLPFK_CUDA={_cuda_flag()}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        jobs = os.environ.get("LPFK_BUILD_JOBS", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *cfg], check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "-j", jobs], check=True)


setup(ext_modules=[CMakeExtension("lpfk._C")], cmdclass={"build_ext": CMakeBuild})
