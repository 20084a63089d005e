"""Prepare real AVA in the PySlowFast layout: cut movies, extract 30 fps frames, build frame lists.

    python data_prep/prepare_ava.py cut     --movies DIR --root datasets/ava   # -> root/videos/<vid>.mp4
    python data_prep/prepare_ava.py frames  --root datasets/ava                # -> root/frames/<vid>/
    python data_prep/prepare_ava.py lists   --root datasets/ava                # -> root/frame_lists/
    python data_prep/prepare_ava.py all     --movies DIR --root datasets/ava

Exact commands (used when ffmpeg is on the PATH; otherwise a deterministic PyAV fallback, see
``ava_detector.ava.data.prep``)::

    ffmpeg -y -ss 900 -t 901 -i <movie> -r 30 -c:v libx264 -pix_fmt yuv420p -crf 18 \
        -x264-params keyint=30:min-keyint=30:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none \
        -tune fastdecode -force_key_frames 'expr:eq(mod(n+2,30),0)' -an -f mp4 <root>/videos/<vid>.mp4
    ffmpeg -i <root>/videos/<vid>.mp4 -r 30 -q:v 1 <root>/frames/<vid>/<vid>_%06d.jpg

The cut is encoded for training from the videos (``--cut-encoding training``, the default): 30 fps
(the frames the frame extraction keeps), a key frame where each clip of ``--clip-span`` frames
around a keyframe starts, unreferenced B-frames between (``INPUT.SOURCE video`` decodes a shuffled
32x2 clip ~4x faster than from x264's defaults). ``--cut-encoding reference`` writes PySlowFast's
cut (the movie's frame rate, the encoder's defaults, ``-g`` from ``--gop``).

The split of each video comes from the annotation CSVs ``root/annotations/ava_{train,val}_<version>.csv``.
Finished videos / frame folders are skipped, so an interrupted run can simply be restarted; a movie
that cannot be cut or decoded is reported by name, the others go on, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ava_detector.ava.data.prep import (
    cut_video,
    extract_frames,
    write_frame_lists,
)
from ava_detector.ava.data.register import VIDEO_SUFFIXES
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.transcode import ClipEncoding


def split_videos(root: Path, version: str) -> dict[str, list[str]]:
    """Video ids per split, in first-appearance order of the annotation CSVs."""
    out = {}
    for split in ("train", "val"):
        path = root / "annotations" / f"ava_{split}_{version}.csv"
        if path.is_file():
            ids = pd.read_csv(path, header=None, usecols=[0], dtype=str, names=["v"])["v"]
            out[split] = list(dict.fromkeys(ids))
    if not out:
        sys.exit(f"error: no annotation CSVs under {root / 'annotations'}")
    return out


def _report(failed: list[str], fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """``fn(*args, **kwargs)``; a bad movie or video is reported (file named) and the run goes on."""
    try:
        fn(*args, **kwargs)
    except InputFileError as e:
        failed.append(str(e))
        tqdm.write(f"error: {e}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["cut", "frames", "lists", "all"])
    p.add_argument("--root", default="datasets/ava")
    p.add_argument("--movies", help="folder of the downloaded movies (<vid>.<ext>)")
    p.add_argument("--version", default="v2.2")
    p.add_argument("--start", type=float, default=900, help="first second kept by the cut")
    p.add_argument("--length", type=float, default=901, help="seconds kept by the cut")
    p.add_argument("--fps", type=float, default=30)
    p.add_argument(
        "--no-ffmpeg", action="store_true", help="use the PyAV fallback even with ffmpeg"
    )
    p.add_argument(
        "--cut-encoding",
        choices=["training", "reference"],
        default="training",
        help="training: 30 fps, key frames where clips start, unreferenced B-frames (fast "
        "INPUT.SOURCE video training); reference: PySlowFast's cut command",
    )
    p.add_argument(
        "--gop",
        type=int,
        default=30,
        help="frames between key frames of the cut videos (reference cut: 0 is the encoder's 250)",
    )
    p.add_argument(
        "--clip-span",
        type=int,
        default=64,
        help="training cut: frames a clip spans (NUM_FRAMES x SAMPLING_RATE; 64 for 32x2, 16x4, "
        "8x8); a key frame sits where each clip around a keyframe starts",
    )
    args = p.parse_args(argv)
    root = Path(args.root)
    encoding = None
    if args.cut_encoding == "training":
        try:
            encoding = ClipEncoding(args.fps, args.gop, args.clip_span)
        except ValueError as e:
            p.error(str(e))
    use_ffmpeg = False if args.no_ffmpeg else None
    failed: list[str] = []
    vids = [v for vs in split_videos(root, args.version).values() for v in vs]
    if args.step in ("cut", "all"):
        if not args.movies:
            sys.exit("error: --movies is needed to cut")
        movies = {
            m.stem: m for m in Path(args.movies).iterdir() if m.suffix.lower() in VIDEO_SUFFIXES
        }
        (root / "videos").mkdir(parents=True, exist_ok=True)
        missing = [v for v in vids if v not in movies]
        if missing:
            print(f"warning: {len(missing)} movies missing, e.g. {missing[0]}", file=sys.stderr)
        for v in tqdm([v for v in vids if v in movies], desc="cut"):
            if not (root / "videos" / f"{v}.mp4").exists():
                _report(
                    failed,
                    cut_video,
                    movies[v],
                    root / "videos" / f"{v}.mp4",
                    args.start,
                    args.length,
                    use_ffmpeg,
                    gop=args.gop or None,
                    encoding=encoding,
                )
    if args.step in ("frames", "all"):
        for v in tqdm(vids, desc="frames"):
            video = root / "videos" / f"{v}.mp4"
            if video.exists() and not (root / "frames" / v).is_dir():
                _report(failed, extract_frames, video, root / "frames", v, args.fps, use_ffmpeg)
    if failed:
        print(
            f"{len(failed)} failed (rerun to retry them):\n  " + "\n  ".join(failed),
            file=sys.stderr,
        )
        return 1
    if args.step in ("lists", "all"):
        counts = write_frame_lists(root, split_videos(root, args.version))
        print(", ".join(f"{s}: {n} frames" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
