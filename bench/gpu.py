"""Helpers of the GPU benchmarks: skip without a GPU (or without the backend), the peak GPU
memory a call adds, and the GPU's state (clocks, memory, temperature, power) through
nvidia-ml-py, recorded beside each timing in the benchmark JSON."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU: the GPU benchmarks need one"
)


def require_backend(backend: str) -> None:
    """Skip (saying why) when ``backend`` cannot run here; ``torch`` always can."""
    import lpfk

    why = lpfk.available_backends()[backend]
    if why is not None:
        pytest.skip(f"backend {backend!r} unavailable: {why}")


def peak_memory_mib(fn: Callable[[], object]) -> float:
    """GPU memory allocated by torch at the peak of one call of ``fn``, above what was already held."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - held) / 2**20


def nvml_state() -> dict | str:
    """The current GPU's clocks, memory in use, temperature and power, or why they are unknown."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver: not an error
        return f"NVML unavailable ({type(exc).__name__})"
    try:
        index = torch.cuda.current_device()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(h)
        mem = pynvml.nvmlDeviceGetMemoryInfo(h)
        return {
            "index": index,
            "name": name.decode() if isinstance(name, bytes) else name,
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "memory_used_mib": mem.used // 2**20,
            "memory_total_mib": mem.total // 2**20,
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
        }
    except Exception as exc:  # a field this GPU or driver does not report
        return f"NVML query failed ({type(exc).__name__}: {exc})"
    finally:
        pynvml.nvmlShutdown()


def record(benchmark, fast: Callable[[], object], baseline: Callable[[], object]) -> None:
    """Peak memory of both sides and the GPU state, into the benchmark's extra_info."""
    benchmark.extra_info["peak_memory_mib"] = peak_memory_mib(fast)
    benchmark.extra_info["baseline_peak_memory_mib"] = peak_memory_mib(baseline)
    benchmark.extra_info["gpu"] = nvml_state()


# ----------------------------------------------------------------------------------------------
# The summary of scripts/gpu_check.sh: python bench/gpu.py summarize OUT_DIR


def _run(cmd: list[str]) -> str:
    import subprocess

    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({type(exc).__name__})"
    return (res.stdout or res.stderr).strip()


def _environment() -> dict:
    import platform

    env: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "nvidia_smi": _run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        ),
        "nvcc": _run(["nvcc", "--version"]).splitlines()[-1:] or None,
    }
    try:  # (the build stage may have failed)
        import lpfk
        from lpfk.ops import dispatch

        env["lpfk_C_cuda"] = dispatch.cuda_versions()
        env["backends"] = lpfk.available_backends()
    except Exception as exc:
        env["lpfk_C_cuda"] = env["backends"] = f"lpfk not importable ({type(exc).__name__}: {exc})"
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                      "multiprocessors": props.multi_processor_count,
                      "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count()}  # fmt: skip
    return env


def _tests(out) -> dict:
    """Per test: outcome, seconds, recorded properties (junit XML; else the -v log, outcomes only)."""
    import re
    import xml.etree.ElementTree as ET

    cases: list[dict] = []
    xml = out / "tests.xml"
    if xml.exists():
        for tc in ET.parse(xml).iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = tc.find(tag)
                if el is not None:
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                    message = (
                        (el.get("message") or "").strip().splitlines()[0][:300] if el.get("message") else ""
                    )
            props = {p.get("name"): p.get("value") for p in tc.iter("property")}
            cases.append({"test": tc.get("name"), "file": tc.get("classname"), "outcome": outcome,
                          "seconds": float(tc.get("time") or 0), "message": message, "properties": props})  # fmt: skip
    elif (out / "tests.log").exists():  # the stage was stopped before pytest wrote its XML
        # "tests/x.py::t PASSED [ 5%]", or with pytest-xdist "[gw0] [ 5%] PASSED tests/x.py::t"
        pat = re.compile(
            r"(?:^(tests/\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR))|(?:(PASSED|FAILED|SKIPPED|ERROR) (tests/\S+::\S+)$)"
        )
        for line in (out / "tests.log").read_text(errors="replace").splitlines():
            if m := pat.search(line.strip()):
                name, outcome = (m[1], m[2]) if m[1] else (m[4], m[3])
                cases.append({"test": name.split("::", 1)[1], "file": name.split("::")[0],
                              "outcome": outcome.lower(), "seconds": None, "message": "", "properties": {}})  # fmt: skip
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    return {"counts": counts, "cases": cases, "complete": xml.exists()}


def _benchmarks(out) -> list[dict]:
    import json

    path = out / "bench.json"
    if not path.exists():
        return []
    rows = []
    for b in json.loads(path.read_text()).get("benchmarks", []):
        x = b.get("extra_info", {})
        rows.append({"benchmark": b["name"], "fast_median_ms": _ms(x.get("fast_median_s")),
                     "baseline": x.get("baseline"), "baseline_median_ms": _ms(x.get("baseline_median_s")),
                     "speedup": x.get("speedup"), "peak_memory_mib": x.get("peak_memory_mib"),
                     "baseline_peak_memory_mib": x.get("baseline_peak_memory_mib"), "rounds": x.get("rounds")})  # fmt: skip
    return rows


def _ms(seconds):
    return None if seconds is None else round(1e3 * seconds, 4)


def _markdown(s: dict) -> str:
    env, t = s["environment"], s["tests"]
    gpu = env.get("gpu", {})
    lines = [
        "# lpfk GPU check", "",
        f"GPU: {gpu.get('name')} (compute {gpu.get('capability')}, {gpu.get('multiprocessors')} SMs, "
        f"{gpu.get('memory_gib')} GiB, {gpu.get('count')} device(s)); nvidia-smi: {env['nvidia_smi']}", "",
        f"torch {env['torch']} (CUDA {env['torch_cuda']}), triton {env['triton']}, Python {env['python']}, "
        f"nvcc: {env['nvcc']}, lpfk._C CUDA: {env['lpfk_C_cuda']}", "",
        "| stage | exit status | seconds | limit (s) |", "|---|---|---|---|",
    ]  # fmt: skip
    lines += [f"| {st['stage']} | {st['rc']} | {st['seconds']} | {st['limit_s']} |" for st in s["stages"]]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(t["counts"].items())) or "none ran"
    lines += [
        "",
        f"## GPU tests: {counts}" + ("" if t["complete"] else " (stopped early: outcomes from the log)"),
        "",
    ]
    lines += ["| test | outcome | seconds | notes |", "|---|---|---|---|"]
    for c in t["cases"]:
        notes = "; ".join(f"{k}={v}" for k, v in c["properties"].items()) or c["message"]
        lines.append(
            f"| `{c['test']}` | {c['outcome']} | {c['seconds'] if c['seconds'] is not None else ''} | {notes} |"
        )
    lines += ["", "## GPU benchmarks (median of interleaved rounds, same run)", ""]
    lines += [
        "| benchmark | ms | baseline | baseline ms | speedup | peak MiB (baseline) |",
        "|---|---|---|---|---|---|",
    ]
    for b in s["benchmarks"]:
        sp = f"{b['speedup']:.2f}x" if b["speedup"] else ""
        lines.append(f"| `{b['benchmark']}` | {b['fast_median_ms']} | {b['baseline']} | {b['baseline_median_ms']} "
                     f"| {sp} | {b['peak_memory_mib']} ({b['baseline_peak_memory_mib']}) |")  # fmt: skip
    lines += ["", f"Overall: {'PASSED' if s['passed'] else 'FAILED'}", ""]
    return "\n".join(lines)


def summarize(out_dir: str) -> bool:
    """Write OUT_DIR/summary.json and summary.md from the stage times, the test XML (or log) and
    the benchmark JSON that scripts/gpu_check.sh left there; True when every stage passed."""
    import json
    from pathlib import Path

    out = Path(out_dir)
    stages = []
    for line in (out / "stages.tsv").read_text().splitlines():
        name, rc, secs, limit = line.split("\t")
        stages.append({"stage": name, "rc": int(rc), "seconds": int(secs), "limit_s": int(limit)})
    tests = _tests(out)
    passed = (
        bool(stages) and all(st["rc"] == 0 for st in stages) and len(stages) == 3
        and not tests["counts"].get("failed") and not tests["counts"].get("error")
    )  # fmt: skip
    summary = {"passed": passed, "stages": stages, "environment": _environment(), "tests": tests,
               "benchmarks": _benchmarks(out)}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "summary.md").write_text(_markdown(summary))
    return passed


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "summarize":
        raise SystemExit("usage: python bench/gpu.py summarize OUT_DIR")
    raise SystemExit(0 if summarize(sys.argv[2]) else 1)
