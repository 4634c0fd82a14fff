"""Pairing SR files with HR files by name: suffixes, names, and every refusal."""

from pathlib import Path

import pytest

from lpfk.evaluation.pairing import Method, file_key, pair_folders, parse_method


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")
    return folder


def test_file_key():
    assert file_key(Path("baby_x4_SR.png"), ["_SR", "_x4_SR"]) == "baby"  # the longest suffix wins
    assert file_key(Path("baby_x4.png"), ["_SR"]) == "baby_x4"
    assert file_key(Path("_SR.png"), ["_SR"]) == "_SR"  # never an empty key
    assert file_key(Path("0801x4.png"), ["x4"]) == "0801"


def test_parse_method(tmp_path):
    assert parse_method("EDSR=res/edsr") == Method("EDSR", Path("res/edsr"))
    assert parse_method("res/edsr_x4") == Method("edsr_x4", Path("res/edsr_x4"))
    assert parse_method("res/edsr_x4/").name == "edsr_x4"
    odd = _touch(tmp_path / "a=b")  # an existing folder with "=" in its name stays a folder
    assert parse_method(str(odd)).folder == odd


def test_pairs_by_name_with_suffixes_and_other_extensions(tmp_path):
    hr = _touch(tmp_path / "HR", "baby_HR.png", "bird_HR.png", "notes.txt")
    a = _touch(tmp_path / "a", "bird_x4_SR.jpg", "baby_x4_SR.png")
    b = _touch(tmp_path / "b", "baby.png", "bird.bmp")
    p = pair_folders(hr, [Method("A", a), Method("B", b)], sr_suffixes=["_x4_SR"], hr_suffixes=["_HR"])
    assert [i.key for i in p.items] == ["baby", "bird"]
    assert [(m, f.name) for m, f in p.items[1].srs] == [("A", "bird_x4_SR.jpg"), ("B", "bird.bmp")]
    assert p.n_pairs == 4 and p.unpaired == {}


def test_unpaired_names_refuse_to_start_and_list_them(tmp_path):
    hr = _touch(tmp_path / "HR", "0001.png", "0002.png", "0003.png")
    sr = _touch(tmp_path / "edsr", "0001_x4.png", "0002_x4.png", "0003_x4.png")
    with pytest.raises(
        ValueError, match=r"(?s)names do not pair.*edsr: 3 SR file\(s\).*0001_x4\.png.*try --sr-suffix _x4"
    ):
        pair_folders(hr, [Method("edsr", sr)])
    assert pair_folders(hr, [Method("edsr", sr)], sr_suffixes=["_x4"]).n_pairs == 3
    part = _touch(tmp_path / "part", "0001.png", "0009.png")
    with pytest.raises(
        ValueError,
        match=r"(?s)--allow-unpaired.*without HR: 0009\.png.*HR file\(s\) without SR.*0002\.png, 0003\.png",
    ):
        pair_folders(hr, [Method("part", part)])
    p = pair_folders(hr, [Method("part", part)], allow_unpaired=True)
    assert [i.key for i in p.items] == ["0001"]
    assert p.unpaired == {
        "part: SR files without HR": ["0009.png"],
        "part: HR files without SR": ["0002.png", "0003.png"],
    }


def test_long_lists_are_cut(tmp_path):
    hr = _touch(tmp_path / "HR", *[f"{i:03d}.png" for i in range(30)])
    sr = _touch(tmp_path / "sr", "000.png")
    with pytest.raises(ValueError, match=r"29 HR file\(s\) without SR .*\.\.\. \(19 more\)"):
        pair_folders(hr, [Method("sr", sr)])


def test_ambiguous_and_duplicate_names(tmp_path):
    hr = _touch(tmp_path / "HR", "a.png", "b.png")
    sr = _touch(tmp_path / "sr", "a.png", "a.jpg", "b.png")
    with pytest.raises(ValueError, match=r"pair ambiguously.*a\.jpg and a\.png"):
        pair_folders(hr, [Method("sr", sr)])
    sr2 = _touch(tmp_path / "sr2", "a_SR.png", "a.png", "b.png")
    with pytest.raises(ValueError, match=r"pair ambiguously.*a\.png and a_SR\.png"):
        pair_folders(hr, [Method("sr2", sr2)], sr_suffixes=["_SR"], allow_unpaired=True)
    ok = _touch(tmp_path / "x" / "sr", "a.png", "b.png")
    ok2 = _touch(tmp_path / "y" / "sr", "a.png", "b.png")
    with pytest.raises(ValueError, match="several SR folders are named sr; name them apart with NAME=DIR"):
        pair_folders(hr, [parse_method(str(ok)), parse_method(str(ok2))])
    assert pair_folders(hr, [Method("x", ok), Method("y", ok2)]).n_pairs == 4


def test_empty_and_missing_folders(tmp_path):
    hr = _touch(tmp_path / "HR", "a.png")
    empty = _touch(tmp_path / "empty")
    with pytest.raises(ValueError, match="no images in the SR folder"):
        pair_folders(hr, [Method("e", empty)])
    with pytest.raises(ValueError, match="no images in the HR folder"):
        pair_folders(empty, [Method("h", hr)])
    with pytest.raises(ValueError, match="not a folder"):
        pair_folders(tmp_path / "nope", [Method("h", hr)])
    with pytest.raises(ValueError, match="no SR result folders"):
        pair_folders(hr, [])
    other = _touch(tmp_path / "other", "z.png")
    with pytest.raises(ValueError, match="no SR file pairs with an HR file"):
        pair_folders(hr, [Method("o", other)], allow_unpaired=True)
