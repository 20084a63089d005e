"""The evaluator's CSV reader: values as Python parses them, rows of other column counts in file
order, and errors that name the physical line."""

from __future__ import annotations

import numpy as np
import pytest

from ava_detector.ava.evaluation.csv_io import read_ava_csv
from ava_detector.data.errors import InputFileError


def _write(tmp_path, text: str):
    path = tmp_path / "f.csv"
    path.write_text(text)
    return path


def test_floats_equal_python_float_for_any_number_of_digits(tmp_path):
    texts = ["0.1234567890123456789", "0.30000000000000004", "1e-7", "0902.50"]
    path = _write(tmp_path, f"v,{texts[3]},{texts[0]},{texts[1]},0.5,0.5,1,{texts[2]}\n")
    t = read_ava_csv(path, "detections")
    assert t.time[0] == float(texts[3])
    assert t.boxes[0, 0] == float(texts[0]) and t.boxes[0, 1] == float(texts[1])
    assert t.score[0] == float(texts[2])


def test_ground_truth_column_8_is_kept_as_score(tmp_path):
    # The official script reads it as a score; it orders a keyframe's boxes (person id, descending).
    path = _write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,1,3\nv,0902,0.1,0.1,0.5,0.5,2\n")
    assert read_ava_csv(path, "groundtruth").score.tolist() == [3.0, 1.0]


def test_leading_keyframe_rows_then_box_rows_keep_file_order(tmp_path):
    path = _write(tmp_path, "v,0901\nv,0902\nv,0903\nw,0902,0.1,0.1,0.5,0.5,4,0\nv,0904\n")
    t = read_ava_csv(path, "groundtruth")
    assert t.label.tolist() == [0, 0, 0, 4, 0]
    assert t.time.tolist() == [901.0, 902.0, 903.0, 902.0, 904.0]
    assert [t.videos[i] for i in t.video] == ["v", "v", "v", "w", "v"]
    assert np.isnan(t.boxes[0]).all() and t.boxes[3].tolist() == [0.1, 0.1, 0.5, 0.5]


def test_integer_valued_action_id_written_as_float_is_accepted(tmp_path):
    path = _write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,1.0,0.9\nv,0902,0.1,0.1,0.5,0.5,2,0.8\n")
    assert read_ava_csv(path, "detections").label.tolist() == [1, 2]


def test_blank_lines_are_skipped_and_errors_name_the_physical_line(tmp_path):
    ok = "v,0902,0.1,0.1,0.5,0.5,1,0.9\n"
    assert len(read_ava_csv(_write(tmp_path, ok + "\n   \n" + ok), "detections")) == 2
    with pytest.raises(InputFileError) as err:
        read_ava_csv(_write(tmp_path, ok + "\n   \nv,0902,0.1,0.1,0.5,0.5,1,nan\n"), "detections")
    assert err.value.line == 4 and "score must be finite" in err.value.problem


@pytest.mark.parametrize(
    "kind,text,line,problem",
    [
        ("exclusions", "v,0902\nv,0903,1\n", 2, "expected 2 comma-separated columns, got 3"),
        (
            "detections",
            "v,0902,0.1,0.1,0.5,0.5,1,0.9\n,0902,0.1,0.1,0.5,0.5,1,0.9\n",
            2,
            "empty video_id",
        ),
        (
            "detections",
            "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,inf,0.1,0.1,0.5,0.5,1,0.9\n",
            2,
            "timestamp must be finite",
        ),
        ("groundtruth", "v,0902,0.1,0.1,0.5,,1,0\n", 1, "y2 must be a number, got ''"),
    ],
)
def test_malformed_rows(tmp_path, kind, text, line, problem):
    with pytest.raises(InputFileError) as err:
        read_ava_csv(_write(tmp_path, text), kind)
    assert err.value.line == line and problem in err.value.problem


def test_empty_and_missing_files(tmp_path):
    assert len(read_ava_csv(_write(tmp_path, ""), "exclusions")) == 0
    assert len(read_ava_csv(_write(tmp_path, "\n\n"), "detections")) == 0
    with pytest.raises(InputFileError, match="detections file not found"):
        read_ava_csv(tmp_path / "absent.csv", "detections")


def test_detections_with_a_person_id_column_read_as_without(tmp_path):
    """The demo's out.csv puts the track id after the score; the evaluator ignores it."""
    eight = "v,0902,0.1,0.2,0.3,0.4,12,0.9\nv,0902.5,0.1,0.2,0.3,0.4,14,0.25\n"
    nine = "v,0902,0.1,0.2,0.3,0.4,12,0.9,3\nv,0902.5,0.1,0.2,0.3,0.4,14,0.25,7\n"
    (tmp_path / "8.csv").write_text(eight)
    (tmp_path / "9.csv").write_text(nine)
    (tmp_path / "mixed.csv").write_text(eight.splitlines()[0] + "\n" + nine.splitlines()[1] + "\n")
    a = read_ava_csv(tmp_path / "8.csv", "detections")
    for name in ("9.csv", "mixed.csv"):
        b = read_ava_csv(tmp_path / name, "detections")
        assert b.videos == a.videos and b.time.tolist() == a.time.tolist() == [902.0, 902.5]
        assert b.label.tolist() == a.label.tolist() and b.score.tolist() == a.score.tolist()
        np.testing.assert_array_equal(b.boxes, a.boxes)


def test_a_line_of_blanks_keeps_the_order_of_rows_of_other_widths(tmp_path):
    """Rows of 8 and 9 columns around a line of spaces come back in file order (the file order
    decides the official order of equal scores), and the line of spaces is skipped."""
    rows = [
        "v,0901,0.1,0.2,0.3,0.4,12,0.9",
        "v,0902,0.1,0.2,0.3,0.4,12,0.8,5",
        "v,0903,0.1,0.2,0.3,0.4,12,0.7",
    ]
    path = tmp_path / "d.csv"
    path.write_text(rows[0] + "\n   \n" + rows[1] + "\n" + rows[2] + "\n")
    got = read_ava_csv(path, "detections")
    assert got.time.tolist() == [901.0, 902.0, 903.0]
    assert got.score.tolist() == pytest.approx([0.9, 0.8, 0.7])
    # a line of blanks before a last row of another width is no error either
    path.write_text(rows[0] + "\n" + rows[2] + "\n   \n" + rows[1] + "\n")
    assert read_ava_csv(path, "detections").time.tolist() == [901.0, 903.0, 902.0]


def test_unreadable_text_is_an_error_naming_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"v,0902,0.1,0.2,0.3,0.4,12,0.9\nv\xff,0902,0.1,0.2,0.3,0.4,12,0.9\n")
    with pytest.raises(
        InputFileError, match=r"bad.csv:2: detections file is not UTF-8 text \(byte 31\)"
    ):
        read_ava_csv(bad, "detections")
    huge = tmp_path / "huge.csv"
    huge.write_text(
        "v,0902,0.1,0.2,0.3,0.4,12,0.9\nv,0902,0.1,0.2,0.3,0.4,12," + "x" * 200_000 + "\n"
    )
    with pytest.raises(InputFileError, match=r"huge.csv:2: a field longer than 131072 characters"):
        read_ava_csv(huge, "detections")


def test_an_action_id_beyond_int32_names_its_line(tmp_path):
    f = tmp_path / "det.csv"
    f.write_text("v,0902,0.1,0.2,0.3,0.4,12,0.9\nv,0902,0.1,0.2,0.3,0.4,192233720368547758080.25\n")
    with pytest.raises(InputFileError, match=r"det.csv:2: action_id out of range"):
        read_ava_csv(f, "detections")
