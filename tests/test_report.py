"""lpfk report: PNG figures and a Markdown report from an lpfk eval results file."""

from PIL import Image

from lpfk import cli
from tests.imagefiles import make_dataset


def test_report_writes_figures_beside_the_table(tmp_path, capsys):
    hr, dirs = make_dataset(tmp_path, 3, {"netA_x4": 4.0, "netB_x4": 10.0, "same": 0.0})
    out = tmp_path / "r.csv"
    assert (
        cli.main(
            [
                "eval",
                "--quiet",
                "--workers",
                "0",
                "--hr",
                str(hr),
                "--sr",
                *map(str, dirs),
                "--out",
                str(out),
                "--y-channel",
            ]
        )
        == 0
    )
    assert cli.main(["report", str(out)]) == 0
    rep = tmp_path / "r_report"
    for name in ("fsds_distribution.png", "fsds_vs_psnr_y.png"):
        with Image.open(rep / name) as im:
            assert im.format == "PNG" and im.size[0] > 300
    md = (rep / "report.md").read_text()
    assert "| netA_x4 | 3 |" in md and "| same | 3 | n/a |" in md  # all +inf: no finite mean
    assert "same: fsds is +inf on 3 image(s)" in md
    assert "Y channel of ITU-R BT.601" in md  # the conventions, from r.run.json
    assert "![FSDS against PSNR-Y](fsds_vs_psnr_y.png)" in md


def test_report_without_psnr_and_errors(tmp_path, capsys):
    hr, dirs = make_dataset(tmp_path, 2, {"a": 4.0})
    out = tmp_path / "r.jsonl"
    argv = ["eval", "--quiet", "--workers", "0", "--hr", str(hr), "--sr", str(dirs[0]), "--out"]
    assert cli.main([*argv, str(out), "--metrics", "fsds"]) == 0
    assert cli.main(["report", str(out), "--out-dir", str(tmp_path / "rep")]) == 0
    assert "no PSNR column" in (tmp_path / "rep" / "report.md").read_text()
    assert not list((tmp_path / "rep").glob("fsds_vs_*.png"))
    assert cli.main([*argv, str(tmp_path / "p.csv"), "--metrics", "psnr"]) == 0
    assert cli.main(["report", str(tmp_path / "p.csv")]) == 2
    assert "has no fsds column" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.csv")]) == 2
    assert "no results file" in capsys.readouterr().err
