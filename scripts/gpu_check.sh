#!/usr/bin/env bash
# Verify every GPU path of lpfk on this machine's NVIDIA GPU, in one command (docs/gpu.md):
#
#     scripts/gpu_check.sh [OUT_DIR]        # default gpu_check_out/
#
# From a fresh copy of the repository, with the Python that is there (python3 with torch built
# for CUDA, triton, pybind11, cmake, ninja, pytest, pytest-benchmark; nvcc on PATH or in
# CUDA_HOME): nothing is downloaded. Stages, each timed:
#   1. build   lpfk._C with its CUDA kernels (LPFK_CUDA=1, parallel, no build isolation) into a
#              virtual environment in build/gpu_check_venv that sees the system packages (the
#              system Python is left as it was);
#   2. tests   python -m pytest -m gpu (tests/test_gpu.py: FSDS and radial spectrum against
#              float64 and repeated bitwise, streams, devices, 4K batches, autograd,
#              torch.compile, the self-check, the analysis tools and `lpfk eval` on CUDA against
#              the CPU, compute-sanitizer memcheck and racecheck);
#   3. bench   the GPU benchmarks (bench/bench_fsds.py, bench/bench_radial_spectrum.py -k gpu):
#              triton and cuda against the torch reference and against cuFFT alone;
#   4. summary OUT_DIR/summary.json and OUT_DIR/summary.md (GPU, driver, versions, every check,
#              every timing with its baseline), beside the logs.
# Exit status: 0 all passed; 1 a stage failed (the summary says which); 2 no usable GPU here
# (said in one line, within seconds). Budget: about 8 minutes on one H100/H200-class GPU.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
PY=${PYTHON:-python3}

die2() {
  echo "gpu_check: $*; nothing was checked" >&2
  exit 2
}

# --- a GPU, or exit 2 at once ------------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || die2 "no NVIDIA GPU here (nvidia-smi is not on PATH)"
nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || die2 "no NVIDIA GPU here (nvidia-smi lists none)"
command -v "$PY" >/dev/null 2>&1 || die2 "no $PY on PATH (set PYTHON=...)"
why=$("$PY" - 2>&1 <<'EOF'
try:
    import torch
except Exception as exc:
    print(f"torch is not importable by this Python ({type(exc).__name__}: {exc})")
else:
    if torch.version.cuda is None:
        print(f"this torch ({torch.__version__}) is a CPU-only build")
    elif not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device (driver or CUDA_VISIBLE_DEVICES)")
EOF
)
[ -z "$why" ] || die2 "$(echo "$why" | tail -n 1)"

OUT=${1:-gpu_check_out}
mkdir -p "$OUT" || { echo "gpu_check: cannot create $OUT" >&2; exit 1; }
OUT=$(cd "$OUT" && pwd)
if [ -e "$OUT/summary.json" ]; then
  echo "gpu_check: $OUT already holds a summary.json; give another folder (nothing overwritten)" >&2
  exit 1
fi
STAGES="$OUT/stages.tsv"
: >"$STAGES"
FAILED=0

stage() {  # stage NAME TIMEOUT_S LOG COMMAND...
  local name=$1 limit=$2 log=$3
  shift 3
  echo "== $name: $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  local dt=$((SECONDS - t0))
  tail -n 15 "$log"
  [ "$rc" -eq 124 ] && echo "   (stopped after its limit of $limit s)"
  echo "== $name: rc=$rc in ${dt} s"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$dt" "$limit" >>"$STAGES"
  [ "$rc" -eq 0 ] || FAILED=1
  return "$rc"
}

# --- 1. build ----------------------------------------------------------------------------------
VENV="$ROOT/build/gpu_check_venv"
build() {
  set -e
  # A venv that sees the packages of $PY, itself perhaps a venv (whose packages
  # --system-site-packages alone would not show): a .pth file lists $PY's site directories.
  "$PY" -m venv --clear --system-site-packages --without-pip "$VENV"
  "$PY" -c 'import site; print("\n".join(site.getsitepackages()))' \
    >"$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gpu_check_parent.pth"
  "$VENV/bin/python" -c 'import torch, pip' || { echo "the venv does not see torch and pip of $PY"; exit 1; }
  export LPFK_CUDA=1 LPFK_BUILD_JOBS
  LPFK_BUILD_JOBS=$(nproc)
  export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
  "$VENV/bin/python" -m pip install --no-build-isolation --no-deps -e "$ROOT"
  "$VENV/bin/python" -c "import lpfk._C as c; assert c.with_cuda, 'built without CUDA'; print('lpfk._C CUDA (driver, runtime):', c.cuda_versions())"
}
export -f build
export PY VENV ROOT
stage build 150 "$OUT/build.log" bash -c build
VPY="$VENV/bin/python"
[ -x "$VPY" ] || VPY=$PY

# --- 2. the GPU tests --------------------------------------------------------------------------
if [ "$FAILED" -eq 0 ]; then
  # Four worker processes share the GPU when pytest-xdist is there: the Triton JIT compiles and
  # torch.compile are CPU-bound, and no test times anything it asserts on.
  PAR=()
  "$VPY" -c "import xdist" 2>/dev/null && PAR=(-n 4)
  stage tests 250 "$OUT/tests.log" env PYTHONUNBUFFERED=1 "$VPY" -m pytest -m gpu -v -rfEs ${PAR[@]+"${PAR[@]}"} \
    --durations=10 -p no:cacheprovider --junitxml="$OUT/tests.xml" tests/
  # --- 3. the GPU benchmarks -------------------------------------------------------------------
  stage bench 60 "$OUT/bench.log" env PYTHONUNBUFFERED=1 "$VPY" -m pytest -q -p no:cacheprovider \
    bench/bench_fsds.py bench/bench_radial_spectrum.py -k gpu --benchmark-only \
    --benchmark-json="$OUT/bench.json"
fi

# --- 4. summary --------------------------------------------------------------------------------
"$VPY" "$ROOT/bench/gpu.py" summarize "$OUT" || FAILED=1
echo "gpu_check: summary in $OUT/summary.md"
exit "$FAILED"
