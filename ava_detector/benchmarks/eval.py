"""AVA frame-mAP evaluation on an AVA-val-sized input: time and peak memory of parse + metric.

Generates 64 videos x 897 keyframes (~270k ground-truth rows, ~9.5M detection rows: every detected
box scored for the 60 evaluated classes) with NumPy, writing the CSVs as fixed-width byte rows, then
runs ``evaluate_files`` in a fresh subprocess per repeat and reports wall time and peak resident
memory (``VmHWM``) of that process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_LABEL_MAP = (Path(__file__).resolve().parents[3] / "shared" / "ava"
                     / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
_EVALUATED = (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29, 30,
              34, 36, 37, 38, 41, 43, 45, 46, 47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62, 63,
              64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 76, 77, 78, 79, 80)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=int, default=64, help="videos (AVA val: 64)")
    parser.add_argument("--first-sec", type=int, default=902)
    parser.add_argument("--last-sec", type=int, default=1798)
    parser.add_argument("--repeat", type=int, default=2, help="timed evaluations (fresh process each)")
    parser.add_argument("--protocol", default="official")
    parser.add_argument("--labelmap", default=str(DEFAULT_LABEL_MAP),
                        help="label map pbtxt (default: ../shared's AVA v2.2 map)")
    parser.add_argument("--workdir", default="", help="keep the generated CSVs here (default: temp)")
    parser.add_argument("--seed", type=int, default=0)


def _put_digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write non-negative integers as zero-padded decimal ASCII into ``out[:, col:col+width]``."""
    v = values.astype(np.int64)
    for p in range(width):
        out[:, col + width - 1 - p] = 48 + (v // 10**p) % 10


def _fixed_rows(video_names: np.ndarray, sec: np.ndarray, boxes: np.ndarray, label: np.ndarray,
                last: np.ndarray, last_digits: int) -> bytes:
    """``vid,ssss,0.xxx,0.xxx,0.xxx,0.xxx,ll,<last>`` rows; ``last`` is an integer (person id) or a
    score in millionths written ``0.xxxxxx``."""
    n, vlen = len(sec), video_names.shape[1]
    score = last_digits == 6
    width = vlen + 1 + 4 + 1 + 4 * 6 + 3 + (8 if score else last_digits) + 1
    out = np.full((n, width), ord(","), np.uint8)
    out[:, :vlen] = video_names
    c = vlen + 1
    _put_digits(out, c, sec, 4)
    c += 5
    milli = np.clip(np.round(boxes * 1000), 0, 999).astype(np.int64)
    for k in range(4):
        out[:, c:c + 2] = (ord("0"), ord("."))
        _put_digits(out, c + 2, milli[:, k], 3)
        c += 6
    _put_digits(out, c, label, 2)
    c += 3
    if score:
        out[:, c:c + 2] = (ord("0"), ord("."))
        _put_digits(out, c + 2, last, 6)
        c += 8
    else:
        _put_digits(out, c, last, last_digits)
        c += last_digits
    out[:, c] = ord("\n")
    return out.tobytes()


def generate(workdir: Path, videos: int, first_sec: int, last_sec: int, seed: int) -> dict:
    """Write groundtruth.csv, detections.csv, excluded.csv (empty) under ``workdir``; return counts."""
    rng = np.random.default_rng(seed)
    ids = np.array(_EVALUATED)
    secs = np.arange(first_sec, last_sec + 1)
    gt_rows = det_rows = 0
    with open(workdir / "groundtruth.csv", "wb") as gt_f, open(workdir / "detections.csv", "wb") as det_f:
        for v in range(videos):
            name = np.frombuffer(f"vid{v:08d}".encode(), np.uint8)
            persons = 1 + rng.poisson(1.6, len(secs))
            p_sec = np.repeat(secs, persons)
            n_p = len(p_sec)
            xy = rng.uniform(0.0, 0.6, (n_p, 2))
            wh = rng.uniform(0.1, 0.4, (n_p, 2))
            pbox = np.concatenate([xy, xy + wh], axis=1)
            pid = np.concatenate([np.arange(k) for k in persons])
            nlab = 1 + rng.poisson(0.8, n_p)
            g = np.repeat(np.arange(n_p), nlab)
            glab = ids[rng.integers(0, len(ids), len(g))]
            gt_f.write(_fixed_rows(np.tile(name, (len(g), 1)), p_sec[g], pbox[g], glab, pid[g] % 100, 2))
            gt_rows += len(g)
            # Detected boxes: each person jittered, plus a false box on ~15% of keyframes' persons.
            extra = rng.random(n_p) < 0.15
            d_src = np.concatenate([np.arange(n_p), np.flatnonzero(extra)])
            dbox = pbox[d_src] + rng.normal(0, 0.02, (len(d_src), 4))
            dbox[len(pbox):] = np.roll(dbox[len(pbox):], 1, axis=0)
            order = np.argsort(p_sec[d_src], kind="stable")
            d_src, dbox = d_src[order], dbox[order]
            k = len(ids)
            rows = np.repeat(np.arange(len(d_src)), k)
            dlab = np.tile(ids, len(d_src))
            score = rng.integers(0, 1_000_000, len(rows))
            det_f.write(_fixed_rows(np.tile(name, (len(rows), 1)), p_sec[d_src][rows], dbox[rows],
                                    dlab, score, 6))
            det_rows += len(rows)
    (workdir / "excluded.csv").write_text("")
    return {"keyframes": videos * len(secs), "groundtruth_rows": gt_rows, "detection_rows": det_rows}


_CHILD = """
import json, os, sys, time
os.environ["AVA_DETECTOR_NO_REGISTER"] = "1"  # as tools/evaluate_ava.py: no torch in the process
t0 = time.perf_counter()
from ava_detector.evaluation.evaluate_files import evaluate_files
t1 = time.perf_counter()
r = evaluate_files(*sys.argv[1:5], protocol=sys.argv[5]).result
t2 = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"import_s": t1 - t0, "eval_s": t2 - t1, "peak_mib": hwm / 1024, "mAP": r.mAP}))
"""


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        counts = generate(workdir, args.videos, args.first_sec, args.last_sec, args.seed)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f} s")
        files = [args.labelmap] + [str(workdir / f) for f in
                                   ("groundtruth.csv", "detections.csv", "excluded.csv")]
        for i in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", _CHILD, *files, args.protocol], check=True,
                                 capture_output=True, text=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(f"run {i + 1}: parse+metric {m['eval_s']:.2f} s, peak memory {m['peak_mib']:.0f} MiB "
                  f"(process incl. imports {m['import_s']:.1f} s), mAP {m['mAP']:.6f}")
    return 0
