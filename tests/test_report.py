"""lpfk report: the paper's LaTeX table, the summary CSV, PNG figures and a Markdown report from
an lpfk eval results file."""

import csv
import io

import pytest
from PIL import Image

from lpfk import cli
from lpfk.evaluation import tables
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
    rep = tmp_path / "rep"
    assert cli.main(["report", str(out), "--out-dir", str(rep)]) == 0
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
    assert cli.main(["report", str(tmp_path / "p.csv"), "--out-dir", str(tmp_path / "p")]) == 2
    assert "has no fsds column" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.csv")]) == 2
    assert "no results file" in capsys.readouterr().err


def _write(path, header, lines):
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


HEAD = "method,image,sr_file,height,width,channels,fsds,psnr,lpips,error"


def _rows_csv(tmp_path):
    """Two images per method and scale; means chosen so that every rank is known."""
    means = {  # method: {scale: (fsds, psnr, lpips)}
        "EDSR_x2": (30.0, 34.0, 0.10),
        "EDSR_x4": (24.0, 28.0, 0.30),
        "RCAN_x2": (31.0, 33.0, 0.20),
        "RCAN_x4": (25.0, 29.0, 0.25),
        "Bicubic_x2": (28.0, 31.0, 0.40),
        "LIIF_x12": (18.0, 22.0, 0.0042),
    }
    lines = []
    for m, (f, p, lp) in means.items():
        for k, d in enumerate((-0.5, 0.5)):
            lines.append(f"{m},{k}.png,{k}.png,8,8,3,{f + d:.6f},{p - d:.6f},{lp:.6f},")
    return _write(tmp_path / "r.csv", HEAD, lines)


def test_latex_table_ranks_per_scale_as_the_authors_script(tmp_path, capsys):
    src = _rows_csv(tmp_path)
    rep = tmp_path / "rep"
    assert cli.main(["report", str(src), "--out-dir", str(rep)]) == 0
    tex = (rep / "report.tex").read_text()
    rows = {line.split(" & ")[0]: line.split(" & ")[1:] for line in tex.splitlines() if " & " in line}
    assert rows["Scale"][-1] == "$\\times12$ \\\\"
    assert list(rows) == ["Method", "Scale", "EDSR", "RCAN", "Bicubic", "LIIF"]
    edsr, rcan, bic, liif = rows["EDSR"], rows["RCAN"], rows["Bicubic"], rows["LIIF"]
    sup = "\\textcolor{gray}{\\textsuperscript{%d}}"
    # fsds (higher is better) at x2: RCAN 31 > EDSR 30 > Bicubic 28
    assert rcan[0] == "\\textcolor{red}{31.00}" + sup % 1
    assert edsr[0] == "\\textcolor{blue}{30.00}" + sup % 2
    assert bic[0] == "28.00" + sup % 3
    assert bic[1] == "-" and bic[2] == "-" and edsr[2] == "-"  # no x4 / x12 rows
    assert liif[2] == "\\textcolor{red}{18.00}" + sup % 1 and liif[0] == "-"
    # psnr at x2: EDSR 34 best; lpips (lower is better) at x2: EDSR 0.10 best, Bicubic last
    assert edsr[3].startswith("\\textcolor{red}{34.00}")
    assert edsr[6] == "\\textcolor{red}{0.100}" + sup % 1  # LPIPS: 3 decimals, as the script
    assert bic[6] == "0.400" + sup % 3
    assert liif[8].startswith("\\textcolor{red}{0.004}")
    assert "LPIPS $\\downarrow$" in tex and "FSDS (dB) $\\uparrow$" in tex
    summary = list(csv.DictReader(io.StringIO((rep / "summary.csv").read_text())))
    got = {(r["method"], r["scale"]): r for r in summary}
    assert set(got) == {
        ("EDSR", "2"),
        ("EDSR", "4"),
        ("RCAN", "2"),
        ("RCAN", "4"),
        ("Bicubic", "2"),
        ("LIIF", "12"),
    }
    assert got["RCAN", "4"]["fsds_mean"] == "25.000000" and got["RCAN", "4"]["fsds_rank"] == "1"
    assert got["EDSR", "4"]["lpips_rank"] == "2" and got["EDSR", "4"]["images"] == "2"
    assert "report.tex" in capsys.readouterr().out


def test_report_never_replaces_files_unasked(tmp_path, capsys):
    src = _rows_csv(tmp_path)
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "report.tex").write_text("mine")
    assert cli.main(["report", str(src), "--out-dir", str(rep)]) == 2
    assert "already holds report.tex; pass --overwrite" in capsys.readouterr().err
    assert (rep / "report.tex").read_text() == "mine"
    assert cli.main(["report", str(src), "--out-dir", str(rep), "--overwrite"]) == 0
    assert (rep / "report.tex").read_text().startswith("% lpfk report")


def test_default_output_is_lpfk_out_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = _rows_csv(tmp_path)
    assert cli.main(["report", str(src)]) == 0
    assert (tmp_path / "lpfk_out" / "report" / "report.tex").is_file()


@pytest.mark.parametrize(
    "name, want",
    [
        ("EDSR_x4", ("EDSR", 4)),
        ("RCAN-X2", ("RCAN", 2)),
        ("HAT_SRx3", ("HAT_SR", 3)),
        ("x2", ("", 2)),
        ("_x3", ("", 3)),
        ("swinir_classical_sr_x12", ("swinir_classical_sr", 12)),
        ("baby_x4_SR", ("baby_SR", 4)),
        ("RDN", ("RDN", None)),
        ("max4", ("max4", None)),  # not a scale inside a word
        ("x264net", ("x264net", None)),
    ],
)
def test_split_scale(name, want):
    assert tables.split_scale(name) == want


def test_scale_from_a_column_or_the_folder(tmp_path):
    rows = [
        {"method": "EDSR", "scale": "2", "fsds": "30", "error": ""},
        {"method": "EDSR_x4", "scale": "x4", "fsds": "24", "error": ""},
        {"method": "x3", "fsds": "27", "error": ""},
        {"method": "plain", "fsds": "20", "error": ""},
    ]
    folders = {"x3": "res/edsr/x3", "plain": "res/rcan/X4/"}
    table = tables.build(rows, ["fsds"], folders)
    assert table.methods == ["EDSR", "edsr", "plain"]
    assert table.scales == [2, 3, 4]
    assert table.cells["EDSR", "fsds", 4].mean == 24 and table.cells["plain", "fsds", 4].rank == 2
    with pytest.raises(ValueError, match="scale column: expected a number such as 4 or x4, got 'big'"):
        tables.build([{"method": "a", "scale": "big", "fsds": "1", "error": ""}], ["fsds"])
