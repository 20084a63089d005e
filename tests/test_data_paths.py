"""List paths that leave the dataset root are refused unless opted in; the Kinetics list and label
map readers report bad bytes, directories and empty paths with the file and line, never crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_tool
from detectron2.data import DatasetCatalog

from ava_detector.ava.data.label_map import read_label_map
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.errors import InputFileError
from ava_detector.data.paths import (
    leaves_root,
    resolve_under_root,
)
from ava_detector.kinetics.data.lists import (
    parse_kinetics_list,
    read_kinetics_list,
)
from ava_detector.kinetics.data.register import (
    register_all_kinetics,
    register_kinetics_from_cfg,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "entry, outside",
    [
        ("a/b.mp4", False),
        ("./a.mp4", False),
        ("a/../b.mp4", False),
        ("a b/c,d.mp4", False),
        ("..a/b.mp4", False),
        ("a/..", False),
        ("../x.mp4", True),
        ("a/../../x.mp4", True),
        ("..", True),
        ("/etc/passwd", True),
        ("..\\..\\x.mp4", True),
        ("C:/x.mp4", True),
        ("c:x.mp4", True),
        ("//server/x", True),
    ],
)
def test_leaves_root(entry, outside):
    assert leaves_root(entry) is outside


def test_resolve_under_root_names_file_line_and_key():
    assert resolve_under_root("v/a.mp4", "/data/k") == "/data/k/v/a.mp4"
    with pytest.raises(InputFileError) as info:
        resolve_under_root(
            "../../../etc/passwd",
            "/data/k",
            source="train.csv",
            line=7,
            opt_in_key="AVA.ALLOW_PATHS_OUTSIDE_ROOT",
        )
    message = str(info.value)
    assert message.startswith("train.csv:7: path '../../../etc/passwd' points outside")
    assert "'/data/k'" in message and "set AVA.ALLOW_PATHS_OUTSIDE_ROOT True" in message
    assert resolve_under_root("/abs/v.mp4", "/data/k", allow_outside=True) == "/abs/v.mp4"
    assert resolve_under_root("../v.mp4", "/data/k", allow_outside=True) == "/data/k/../v.mp4"
    for bad in ("", "   ", "a\x00b"):
        with pytest.raises(InputFileError, match="l.csv:2: "):
            resolve_under_root(bad, "/r", source="l.csv", line=2)


@pytest.mark.parametrize("entry", ["../../../etc/passwd", "/etc/passwd", "a/../../b.mp4"])
def test_kinetics_list_refuses_paths_outside_the_prefix(entry):
    lines = ["ok.mp4 1", f"{entry} 2"]
    with pytest.raises(
        InputFileError,
        match=r"l\.csv:2: path .* points outside .*"
        r"KINETICS\.ALLOW_PATHS_OUTSIDE_ROOT",
    ):
        parse_kinetics_list(lines, "l.csv", prefix="/root")
    recs = parse_kinetics_list(lines, "l.csv", prefix="/root", allow_outside_root=True)
    assert recs[1]["video_path"] == ("/etc/passwd" if entry.startswith("/") else f"/root/{entry}")


@pytest.mark.parametrize("line", [" ,5", ",5", "\t,3", " , 5"])
def test_kinetics_line_without_a_path_is_an_error(line):
    with pytest.raises(InputFileError, match=r"l\.csv:2: empty video path"):
        parse_kinetics_list(["ok.mp4 1", line], "l.csv", prefix="/root")


def test_kinetics_reader_bad_bytes_directory_and_bom(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a.mp4 0\nb.mp4 1\nc\xff\xfe.mp4 2\n")
    with pytest.raises(
        InputFileError, match=r"bad\.csv:3: not UTF-8 text \(byte 0xff at column 2\)"
    ):
        read_kinetics_list(bad)
    with pytest.raises(InputFileError, match="is a directory"):
        read_kinetics_list(tmp_path)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffé/a.mp4 0\n".encode())
    (rec,) = read_kinetics_list(bom)
    assert rec["video_id"] == "é/a.mp4" and rec["video_path"] == str(tmp_path / "é/a.mp4")


def test_config_key_reaches_the_registered_lists(tmp_path: Path):
    (tmp_path / "train.csv").write_text("/elsewhere/a.mp4 0\nb.mp4 1\n")
    cfg = get_ava_cfg()
    cfg.KINETICS.ROOT = str(tmp_path)
    try:
        register_kinetics_from_cfg(cfg)
        with pytest.raises(
            InputFileError, match=r"train\.csv:1: .*KINETICS\.ALLOW_PATHS_OUTSIDE_ROOT"
        ):
            DatasetCatalog.get("kinetics400_train")
        cfg.KINETICS.ALLOW_PATHS_OUTSIDE_ROOT = True
        register_kinetics_from_cfg(cfg)
        recs = DatasetCatalog.get("kinetics400_train")
        assert [r["video_path"] for r in recs] == ["/elsewhere/a.mp4", str(tmp_path / "b.mp4")]
    finally:
        register_all_kinetics()


def test_pretrain_kinetics_stops_on_a_path_outside(tmp_path: Path, capsys):
    root = tmp_path / "kin"
    root.mkdir()
    (root / "train.csv").write_text("v/a.mp4 0\n../../../etc/passwd 1\n")
    (root / "val.csv").write_text("v/b.mp4 0\n")
    tool = load_tool("pretrain_kinetics")
    try:
        rc = tool.cli(
            [
                "--config",
                str(REPO / "configs/synthetic/tiny_kinetics.yaml"),
                "KINETICS.SYNTHETIC_ROOT",
                str(root),
                "OUTPUT_DIR",
                str(tmp_path / "out"),
            ]
        )
    finally:
        register_all_kinetics()
    assert rc == 2
    (line,) = [
        ln
        for ln in capsys.readouterr().err.splitlines()
        if ln.startswith("pretrain_kinetics.py: error: ")
    ]
    assert f"{root / 'train.csv'}:2: path '../../../etc/passwd' points outside" in line
    assert not (tmp_path / "out").exists()


def test_label_map_bad_bytes_and_directory(tmp_path: Path):
    lm = tmp_path / "lm.pbtxt"
    lm.write_bytes(b'label {\n  name: "st\xe9nd"\n  label_id: 1\n}\n')
    with pytest.raises(
        InputFileError, match=r"lm\.pbtxt:2: not UTF-8 text \(byte 0xe9 at column 12\)"
    ):
        read_label_map(lm)
    with pytest.raises(InputFileError, match="is a directory"):
        read_label_map(tmp_path)
    lm.write_bytes('\ufefflabel {\n  name: "ständ"\n  label_id: 1\n}\n'.encode())
    assert read_label_map(lm).names == {1: "ständ"}
