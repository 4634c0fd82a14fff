"""scripts/survey_models.py, the survey of the trained networks (docs/models.md): its --quick run
writes every output with finite numbers, refuses to replace them, and says how to install the
``real`` extra when it is missing."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from lpfk.models import shipped

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ["demo-msrresnet", "animevideov3-x4"]  # the two cheap ones; the RRDBNets take minutes

needs_real = pytest.mark.skipif(not shipped.trained() or not shipped.photos(), reason=shipped.INSTALL)


def _script():
    spec = importlib.util.spec_from_file_location("survey_models", ROOT / "scripts" / "survey_models.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """One --quick run shared by the tests: (script module, output folder, exit code, stdout)."""
    mod = _script()
    out = tmp_path_factory.mktemp("survey")
    if not shipped.trained() or not shipped.photos():
        return mod, out, None
    return mod, out, mod.main(["--quick", "--out", str(out), "--networks", *NETWORKS])


def _numbers(obj, path=""):
    """Every number in a JSON tree, with where it is."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


@needs_real
def test_quick_run_writes_every_output(survey):
    mod, out, rc = survey
    assert rc == 0
    for name in mod.FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in mod.FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


@needs_real
def test_json_has_every_measurement_and_finite_numbers(survey):
    mod, out, _ = survey
    data = json.loads((out / "survey.json").read_text())
    assert data["complete"] is True and data["settings"]["quick"] is True
    assert list(data["networks"]) == NETWORKS
    for name, v in data["networks"].items():
        assert {
            "network",
            "sinc",
            "sinc_published_setting",
            "shift_variance",
            "hyra",
            "lam",
            "seconds",
        } <= set(v)
        assert len(v["sinc"]["dc_gain"]) == 3 and v["sinc"]["scale"] == 4
        assert set(v["hyra"]) == set(mod.PHOTOS)
        assert 0 < v["lam"]["diffusion_index"] < 100
        assert (v["lam"]["fold"], v["lam"]["method"]) == (mod.QUICK.lam_fold, "riemann")
        assert (
            v["lam"]["check"]["method"] == "gausslegendre" and 0 < v["lam"]["check"]["diffusion_index"] < 100
        )
        assert v["network"]["parameters"] > 0
        # the reference (centre) response is an exact shift of itself; the border ones are not
        by_col = {int(k): d for k, d in v["shift_variance"]["by_lr_column"].items()}
        assert by_col[max(by_col)] == 0.0 and by_col[0] > 0, name
    bad = [(p, x) for p, x in _numbers(data["networks"]) if not math.isfinite(x)]
    assert bad == []
    # the L1-trained demo network keeps flat images about flat (DC gain near 1), the GAN one does not
    demo = data["networks"]["demo-msrresnet"]["sinc_published_setting"]["dc_gain"]
    assert all(0.8 < g < 1.2 for g in demo), demo


@needs_real
def test_tables_name_every_network(survey):
    _, out, _ = survey
    md = (out / "survey.md").read_text()
    for name in NETWORKS:
        assert md.count(f"| {name} |") == 5, name  # sinc, shift variance, HyRA, LAM, run time
    assert "nan" not in md.lower().replace("n/a", "")


@needs_real
def test_refuses_to_overwrite_and_writes_nothing(survey, capsys):
    mod, out, _ = survey
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    rc = mod.main(["--quick", "--out", str(out), "--networks", "demo-msrresnet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("survey_models: error: ") and "--overwrite" in err and "\n" not in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_missing_extra_is_one_line_and_exit_1(monkeypatch, tmp_path, capsys):
    mod = _script()
    monkeypatch.setattr(shipped, "trained", lambda: {})
    rc = mod.main(["--quick", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err == f"survey_models: error: {shipped.INSTALL}"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "word"), [(["--networks", "nope"], "nope"), (["--lam-fold", "0"], "--lam-fold")]
)
def test_bad_options_are_usage_errors(tmp_path, capsys, args, word):
    mod = _script()
    with pytest.raises(SystemExit) as exc:
        mod.main([*args, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert word in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
