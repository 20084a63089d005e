"""Re-encode videos for training with ``INPUT.SOURCE video``: each shuffled clip decodes ~4x cheaper.

    python data_prep/transcode_videos.py datasets/kitchen/videos --out datasets/kitchen/videos_train

Writes ``OUT/<name>.mp4`` for every video under the given files or folders (not recursive), in the
training encoding (:class:`ava_detector.data.video.transcode.ClipEncoding`): ``--fps`` frames a
second, a key frame every ``--gop`` frames placed where a clip of ``--clip-span`` frames centred on a
whole second starts, unreferenced B-frames between the sampled frames, x264's fastdecode tuning.
Timestamps stay in seconds from the video's start, so a dataset's keyframe times and boxes still
apply: point the dataset at OUT (e.g. link it as the dataset's ``videos`` folder). Finished outputs
are skipped and each one appears only when complete, so an interrupted run can be restarted. A video
that cannot be decoded is reported (file named) and the others go on; the exit status is then 1.
``data_prep/prepare_ava.py cut`` writes AVA's cut videos in the same encoding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ava_detector.ava.data.register import VIDEO_SUFFIXES
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.transcode import ClipEncoding, transcode


def find_videos(inputs: list[str]) -> list[Path]:
    """The video files among ``inputs`` and directly inside the folders among them, sorted;
    a missing input is an error."""
    found: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="video files or folders of videos")
    p.add_argument("--out", required=True, help="folder of the re-encoded videos")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate")
    p.add_argument("--gop", type=int, default=30, help="frames between key frames")
    p.add_argument(
        "--clip-span",
        type=int,
        default=64,
        help="frames a training clip spans (NUM_FRAMES x SAMPLING_RATE at --fps); 0: key frames "
        "at multiples of --gop",
    )
    p.add_argument("--crf", type=int, default=18, help="x264 quality (lower: better, larger)")
    p.add_argument("--force", action="store_true", help="re-encode outputs that exist")
    args = p.parse_args(argv)
    try:
        encoding = ClipEncoding(args.fps, args.gop, args.clip_span, crf=args.crf)
        videos = find_videos(args.inputs)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    if not videos:
        p.error(f"no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in {' '.join(args.inputs)}")
    out = Path(args.out)
    names = [v.stem for v in videos]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        p.error(f"several inputs would be written as {out / clash[0]}.mp4")
    todo = [v for v in videos if args.force or not (out / f"{v.stem}.mp4").exists()]
    if len(todo) < len(videos):
        print(f"{len(videos) - len(todo)} of {len(videos)} already in {out} (--force redoes them)")
    failed: list[str] = []
    for video in tqdm(todo, desc="transcode", unit="video"):
        try:
            transcode(video, out / f"{video.stem}.mp4", encoding)
        except InputFileError as e:
            failed.append(str(e))
            tqdm.write(f"error: {e}", file=sys.stderr)
    print(f"wrote {len(todo) - len(failed)} video(s) to {out}")
    if failed:
        print(f"{len(failed)} failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
