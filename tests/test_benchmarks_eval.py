"""The evaluation benchmark's generated input and its two timed processes (evaluator and floor)."""

from __future__ import annotations

from pathlib import Path

from ava_detector.ava.evaluation.evaluate_files import evaluate_files
from ava_detector.benchmarks import eval as eval_benchmark

REPO = Path(__file__).resolve().parents[1]


def test_generated_input_and_the_floor_process_read_the_same_rows(tmp_path: Path):
    counts = eval_benchmark.generate(tmp_path, videos=2, first_sec=902, last_sec=905, seed=0)
    # 2 videos x 4 keyframes; one detection row per detected box and evaluated class (60)
    assert counts["keyframes"] == 8
    det_lines = (tmp_path / "detections.csv").read_bytes().count(b"\n")
    gt_lines = (tmp_path / "groundtruth.csv").read_bytes().count(b"\n")
    assert det_lines == counts["detection_rows"] and det_lines % 60 == 0
    assert gt_lines == counts["groundtruth_rows"]

    files = [
        str(eval_benchmark.DEFAULT_LABEL_MAP),
        str(tmp_path / "groundtruth.csv"),
        str(tmp_path / "detections.csv"),
        str(tmp_path / "excluded.csv"),
    ]
    script = tmp_path / "floor.py"
    script.write_text(eval_benchmark._FLOOR_SCRIPT)
    floor = eval_benchmark._run_floor(script, files)
    assert floor["last_line"] == f"floor: {counts['detection_rows']} detection rows"
    assert floor["peak_mib"] > 0 and floor["wall_s"] > 0

    # the timed evaluator is the CLI a user runs: its printed mAP is the library's, to 6 decimals
    this = eval_benchmark._run_cli(REPO, files, "official")
    expected = evaluate_files(*files, protocol="official").result.mAP
    assert this["mAP"] == f"{expected:.6f}"
