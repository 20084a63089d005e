"""AVA frame-mAP evaluation on an AVA-val-sized input: whole-process time and peak memory.

Generates 64 videos x 897 keyframes (~270k ground-truth rows, ~10M detection rows: every detected
box scored for the 60 evaluated classes) with NumPy, writing the CSVs as fixed-width byte rows, then
runs ``tools/evaluate_ava.py`` as a user does, a fresh process per run, and reports its wall time
(start-up included) and peak resident memory.

Interleaved with it (this, floor, this, floor, ...: a noisy machine slows both alike) runs the
*floor*: a fresh process that only parses the two CSVs with pyarrow at its fastest for them
(memory-mapped, multi-threaded, columns typed up front) and argsorts the detection scores, what
any exact evaluator of these files pays (start-up included).
The target is the evaluator within 1.5x of the floor. ``--baseline DIR`` adds another source
tree's evaluator to the rotation.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_LABEL_MAP = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "ava"
    / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
)
_EVALUATED = (
    1,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    17,
    20,
    22,
    24,
    26,
    27,
    28,
    29,
    30,
    34,
    36,
    37,
    38,
    41,
    43,
    45,
    46,
    47,
    48,
    49,
    51,
    52,
    54,
    56,
    57,
    58,
    59,
    60,
    61,
    62,
    63,
    64,
    65,
    66,
    67,
    68,
    69,
    70,
    72,
    73,
    74,
    76,
    77,
    78,
    79,
    80,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=int, default=64, help="videos (AVA val: 64)")
    parser.add_argument("--first-sec", type=int, default=902)
    parser.add_argument("--last-sec", type=int, default=1798)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of tools/evaluate_ava.py (a fresh process each)",
    )
    parser.add_argument(
        "--baseline",
        default="",
        help="another source tree of this project (e.g. `git worktree add` of an "
        "older commit): its evaluator runs interleaved with this one",
    )
    parser.add_argument("--protocol", default="official")
    parser.add_argument(
        "--labelmap",
        default=str(DEFAULT_LABEL_MAP),
        help="label map pbtxt (default: ../shared's AVA v2.2 map)",
    )
    parser.add_argument(
        "--workdir",
        default="",
        help="keep the generated CSVs here, or reuse those already there "
        "(default: a temporary folder)",
    )
    parser.add_argument("--seed", type=int, default=0)


def _put_digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write non-negative integers as zero-padded decimal ASCII into ``out[:, col:col+width]``."""
    v = values.astype(np.int64)
    for p in range(width):
        out[:, col + width - 1 - p] = 48 + (v // 10**p) % 10


def _fixed_rows(
    video_names: np.ndarray,
    sec: np.ndarray,
    boxes: np.ndarray,
    label: np.ndarray,
    last: np.ndarray,
    last_digits: int,
) -> bytes:
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
        out[:, c : c + 2] = (ord("0"), ord("."))
        _put_digits(out, c + 2, milli[:, k], 3)
        c += 6
    _put_digits(out, c, label, 2)
    c += 3
    if score:
        out[:, c : c + 2] = (ord("0"), ord("."))
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
    with (
        open(workdir / "groundtruth.csv", "wb") as gt_f,
        open(workdir / "detections.csv", "wb") as det_f,
    ):
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
            gt_f.write(
                _fixed_rows(np.tile(name, (len(g), 1)), p_sec[g], pbox[g], glab, pid[g] % 100, 2)
            )
            gt_rows += len(g)
            # Detected boxes: each person jittered, plus a false box on ~15% of keyframes' persons.
            extra = rng.random(n_p) < 0.15
            d_src = np.concatenate([np.arange(n_p), np.flatnonzero(extra)])
            dbox = pbox[d_src] + rng.normal(0, 0.02, (len(d_src), 4))
            dbox[len(pbox) :] = np.roll(dbox[len(pbox) :], 1, axis=0)
            order = np.argsort(p_sec[d_src], kind="stable")
            d_src, dbox = d_src[order], dbox[order]
            k = len(ids)
            rows = np.repeat(np.arange(len(d_src)), k)
            dlab = np.tile(ids, len(d_src))
            score = rng.integers(0, 1_000_000, len(rows))
            det_f.write(
                _fixed_rows(
                    np.tile(name, (len(rows), 1)), p_sec[d_src][rows], dbox[rows], dlab, score, 6
                )
            )
            det_rows += len(rows)
    (workdir / "excluded.csv").write_text("")
    return {
        "keyframes": videos * len(secs),
        "groundtruth_rows": gt_rows,
        "detection_rows": det_rows,
    }


# Runs the script as ``python SCRIPT ARGS`` would, then reports the process's own peak resident
# memory: VmHWM belongs to the memory map made at exec, whereas ru_maxrss of a child also counts
# the parent's resident memory at the fork (the benchmark's imports).
_PEAK_OF_SCRIPT = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = next(int(l.split()[1]) for l in f if l.startswith('VmHWM'))\n"
    "    sys.stderr.write(f'\\nVmHWM {kb}\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = sys.argv[1:]\n"
    "sys.path[0] = __import__('os').path.dirname(sys.argv[0])\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _run_cli(checkout: Path, files: list[str], protocol: str) -> dict:
    """One whole ``tools/evaluate_ava.py`` process of ``checkout``, as a user runs it: wall time,
    CPU time (all threads; ``os.wait4``), peak resident memory (its ``VmHWM``) and the printed mAP.

    Args:
        checkout: a source tree of this project (its ``tools/`` and ``ava_detector/``).
        files: label map, ground truth, detections, exclusions.
        protocol: the ``--protocol`` value.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(checkout)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
    }
    args = [
        str(checkout / "tools" / "evaluate_ava.py"),
        "--labelmap",
        files[0],
        "--groundtruth",
        files[1],
        "--detections",
        files[2],
        "--exclusions",
        files[3],
        "--protocol",
        protocol,
    ]
    m = _measure([sys.executable, "-c", _PEAK_OF_SCRIPT, *args], env=env, cwd=checkout)
    m["mAP"] = m.pop("last_line").split(":")[-1].strip()
    return m


def _measure(cmd: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Run ``cmd`` (a ``_PEAK_OF_SCRIPT`` process): wall time, CPU time (all threads;
    ``os.wait4``), system time, its peak resident memory (``VmHWM``) and its last output line."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({proc.returncode}):\n{errors[-2000:]}")
    kb = int(
        next(line.split()[1] for line in reversed(errors.splitlines()) if line.startswith("VmHWM"))
    )
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "sys_s": usage.ru_stime,
        "peak_mib": kb / 1024,
        "last_line": (text.strip().splitlines() or [""])[-1],
    }


# The floor: parse both CSVs with pyarrow at its fastest for them (memory-mapped, multi-threaded,
# the columns typed up front: no inference, the video name dictionary-encoded), then argsort the
# detection scores; start-up and the peak memory measured as for the evaluator.
_FLOOR_SCRIPT = (
    "import sys\n"
    "import numpy as np\n"
    "import pyarrow as pa\n"
    "import pyarrow.csv as pacsv\n"
    "types = {f'c{i}': pa.float64() for i in range(8)}\n"
    "types['c0'] = pa.dictionary(pa.int32(), pa.string())\n"
    "types['c6'] = pa.int32()\n"
    "for path in sys.argv[1:3]:\n"
    "    with pa.memory_map(path) as source:\n"
    "        table = pacsv.read_csv(\n"
    "            source,\n"
    "            read_options=pacsv.ReadOptions(column_names=list(types)),\n"
    "            convert_options=pacsv.ConvertOptions(column_types=types),\n"
    "        )\n"
    "order = np.argsort(table.column(7).to_numpy())\n"
    "print(f'floor: {len(order)} detection rows')\n"
)
TARGET_VS_FLOOR = 1.5
TARGET_WALL_S = 4.0


def _run_floor(script: Path, files: list[str]) -> dict:
    """One floor process (``script``: ``_FLOOR_SCRIPT`` written to a file) on the ground truth and
    detections of ``files``: wall time, CPU time, peak resident memory."""
    return _measure(
        [sys.executable, "-c", _PEAK_OF_SCRIPT, str(script), files[1], files[2]],
        env=dict(os.environ),
        cwd=script.parent,
    )


def run(args: argparse.Namespace) -> int:
    here = Path(__file__).resolve().parents[2]
    checkouts = [("this", here)] + (
        [("baseline", Path(args.baseline).resolve())] if args.baseline else []
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.workdir and (workdir / "detections.csv").exists():
            print(f"using the CSVs in {workdir}")
        else:
            t0 = time.perf_counter()
            counts = generate(workdir, args.videos, args.first_sec, args.last_sec, args.seed)
            print(f"generated {counts} in {time.perf_counter() - t0:.1f} s")
        files = [args.labelmap] + [
            str(workdir / f) for f in ("groundtruth.csv", "detections.csv", "excluded.csv")
        ]
        floor_script = Path(tmp) / "floor.py"
        floor_script.write_text(_FLOOR_SCRIPT)
        runners: list[tuple[str, Callable[[], dict]]] = [
            (name, functools.partial(_run_cli, checkout, files, args.protocol))
            for name, checkout in checkouts
        ]
        runners.insert(1, ("floor", functools.partial(_run_floor, floor_script, files)))
        results: dict[str, list[dict]] = {name: [] for name, _ in runners}
        for i in range(args.repeat):  # interleaved: this, floor, baseline, this, floor, ...
            for name, fn in runners:
                m = fn()
                results[name].append(m)
                print(
                    f"run {i + 1} {name}: {m['wall_s']:.2f} s (CPU {m['cpu_s']:.2f} s, of "
                    f"which system {m['sys_s']:.2f} s), "
                    f"peak {m['peak_mib']:.0f} MiB" + (f", mAP {m['mAP']}" if "mAP" in m else ""),
                    flush=True,
                )
        for name, runs in results.items():
            wall = sorted(r["wall_s"] for r in runs)
            cpu = np.median([r["cpu_s"] for r in runs])
            peak = max(r["peak_mib"] for r in runs)
            print(
                f"{name}: whole process median {np.median(wall):.2f} s (min {wall[0]:.2f}, "
                f"max {wall[-1]:.2f}), CPU median {cpu:.2f} s, peak {peak:.0f} MiB"
            )
        median = {
            name: float(np.median([r["wall_s"] for r in runs])) for name, runs in results.items()
        }
        vs_floor = median["this"] / median["floor"]
        print(
            f"this / floor (medians): {vs_floor:.2f}x (target <= {TARGET_VS_FLOOR:g}x: "
            f"{'met' if vs_floor <= TARGET_VS_FLOOR else 'NOT met'}); this: {median['this']:.2f} s "
            f"(target <= {TARGET_WALL_S:g} s on the 2-core reference machine: "
            f"{'met' if median['this'] <= TARGET_WALL_S else 'NOT met'})"
        )
        if args.baseline:
            ratio = np.median([r["wall_s"] for r in results["baseline"]]) / np.median(
                [r["wall_s"] for r in results["this"]]
            )
            print(f"baseline / this (medians): {ratio:.2f}x")
    return 0
