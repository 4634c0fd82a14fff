"""Every Triton kernel in kernels/ compiles for real GPUs (sm_80 and sm_90) to PTX and a cubin,
without a GPU: the interpreter tests (test_triton_interpret.py) check the maths, this checks
that the compiled path (types, layouts, libdevice calls, register budget) goes through the
whole NVIDIA pipeline down to ptxas."""

import os

import pytest

triton = pytest.importorskip("triton", reason="triton is not installed (pip install -e .[test])")
pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") == "1", reason="the kernels are interpreted functions here"
)

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
    (ssim, "_ssim_tile_kernel", "fp32", {"BH": ssim.BH, "BW": ssim.BW}),
    (ssim, "_ssim_tile_kernel", "fp64", {"BH": ssim.BH, "BW": ssim.BW}),
]
NUM_WARPS = {
    "_radial_sums_kernel": 4,
    "_fsds_colsum_kernel": 8,
    "_fsds_scan_kernel": 8,
    "_ssim_tile_kernel": 4,
}


def test_every_kernel_is_covered():
    for module in (fsds, radial_spectrum, ssim):
        kernels = {
            name for name, obj in vars(module).items()
            if isinstance(obj, triton.runtime.JITFunction) and name.endswith("_kernel")
        }  # fmt: skip
        assert kernels == {k for m, k, *_ in CONFIGS if m is module}, module.__name__


@pytest.mark.parametrize("arch", [80, 90])
@pytest.mark.parametrize(
    "module,kernel,real,constexprs", CONFIGS, ids=[f"{c[1]}-{c[2]}-{c[3]}" for c in CONFIGS]
)
def test_compiles_for_gpu(module, kernel, real, constexprs, arch):
    fn = getattr(module, kernel)
    if module is ssim:
        sig = _ssim_signature(real)
    else:
        sig = _radial_signature(real) if module is radial_spectrum else _fsds_signature(kernel, real)
    assert list(sig) == fn.arg_names, "the signature above is out of date"
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
    compiled = triton.compile(
        src, target=GPUTarget("cuda", arch, 32), options={"num_warps": NUM_WARPS[kernel]}
    )
    ptx = compiled.asm["ptx"]
    assert f".target sm_{arch}" in ptx and ".entry" in ptx
    assert len(compiled.asm["cubin"]) > 1000
