"""Fuzz every file reader with mutated copies of valid files: a reader may accept a file or raise
``InputFileError`` (file and line named), never anything else.

    python tools/fuzz_readers.py [--per-reader 10000] [--seed 0] [--only NAME ...]

Mutations of a valid seed file: random byte flips, insertions of awkward text (invalid UTF-8, NUL,
a byte-order mark, numbers beyond 2^63 or float32, negative ids, "nan", long runs of commas, a field
of 200,000 characters), truncation, duplicated or dropped lines. Prints per reader how many inputs
were accepted and refused; exits 1 listing the first input of each reader that raised something
else (kept under ``--keep DIR``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from ava_detector.ava.data.csv_formats import (
    read_annotations,
    read_exclusions,
    read_proposals,
)
from ava_detector.ava.data.frame_table import read_frame_table
from ava_detector.ava.data.label_map import read_label_map
from ava_detector.ava.evaluation.csv_io import read_ava_csv
from ava_detector.data.errors import InputFileError
from ava_detector.kinetics.data.lists import read_kinetics_list

SEEDS: dict[str, bytes] = {
    "annotations": b"vidA,0902,0.1,0.2,0.3,0.4,12,0\nvidA,0902,0.1,0.2,0.3,0.4,17,0\nvidB,0903\n"
    b"vidB,0904,0.5,0.5,0.9,0.95,80,3\n",
    "proposals": b"vidA,0902,0.1,0.2,0.3,0.4,,0.95\nvidA,0903,0.1,0.2,0.3,0.45,,0.5\n",
    "exclusions": b"vidA,0902\nvidB,1798\n",
    "frame list": b'original_vido_id video_id frame_id path labels\nvidA 0 0 vidA/vidA_000001.jpg ""\n'
    b'vidA 0 1 vidA/vidA_000002.jpg ""\nvidB 1 0 vidB/vidB_000001.jpg ""\n',
    "label map": b'label {\n  name: "stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n}\n'
    b'label {\n  name: "walk"\n  label_id: 14\n  label_type: PERSON_MOVEMENT\n}\n',
    "kinetics list": b"videos/a.mp4 0\nvideos/b.mp4 4\n",
    "evaluator detections": b"vidA,0902,0.1,0.2,0.3,0.4,12,0.9\nvidA,0902.5,0.1,0.2,0.3,0.4,14,0.25\n",
    "evaluator ground truth": b"vidA,0902,0.1,0.2,0.3,0.4,12,0\nvidB,0903\n",
}

READERS: dict[str, Callable[[Path], object]] = {
    "annotations": read_annotations,
    "proposals": read_proposals,
    "exclusions": read_exclusions,
    "frame list": lambda p: read_frame_table(p, p.parent),
    "label map": read_label_map,
    "kinetics list": read_kinetics_list,
    "evaluator detections": lambda p: read_ava_csv(p, "detections"),
    "evaluator ground truth": lambda p: read_ava_csv(p, "groundtruth"),
}

_AWKWARD = [
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\xef\xbb\xbf",
    b"99999999999999999999",
    b"9223372036854775808",
    b"1e39",
    b"-1e400",
    b"nan",
    b"inf",
    b"-69",
    b",",
    b",,,,,,,,",
    b"\n",
    b"\r\n",
    b" ",
    b'"',
    b"\t",
    b"..",
    b"../../etc/passwd",
    b"/abs/x.jpg",
    b"0x10",
    b"1_0",
    b"\xe2\x80\xa8",
    b"{",
    b"}",
    b"label_id:",
    b"x" * 200_000,
    b"," * 5_000,
]


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """One mutated copy of ``seed`` (one to four mutations)."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randint(0, len(data))
        if kind == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:
            data[at:at] = rng.choice(_AWKWARD)
        elif kind == 2:
            del data[at:]
        elif kind == 3:
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i]) if rng.random() < 0.5 else lines.pop(i)
            data = bytearray(b"\n".join(lines))
        elif kind == 4:
            end = min(len(data), at + rng.randint(1, 8))
            data[at:end] = rng.choice(_AWKWARD)
        else:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return bytes(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-reader", type=int, default=10_000, help="mutated inputs per reader")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=[], choices=list(READERS), metavar="NAME")
    p.add_argument("--keep", default="", help="folder to copy crashing inputs into")
    args = p.parse_args(argv)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, reader in READERS.items():
            if args.only and name not in args.only:
                continue
            rng = random.Random(f"{args.seed}:{name}")
            accepted = refused = 0
            first_crash = None
            path = Path(tmp) / f"{name.replace(' ', '_')}.txt"
            for _ in range(args.per_reader):
                data = mutate(SEEDS[name], rng)
                path.write_bytes(data)
                try:
                    reader(path)
                    accepted += 1
                except InputFileError:
                    refused += 1
                except Exception:  # noqa: BLE001 - what the fuzzer is looking for
                    failures += 1
                    if first_crash is None:
                        first_crash = (data, traceback.format_exc(limit=3))
            print(
                f"{name:24s} {args.per_reader:6d} inputs: {accepted:6d} accepted, {refused:6d} refused"
                + (", CRASHES" if first_crash else "")
            )
            if first_crash is not None:
                print(f"  first crashing input: {first_crash[0][:200]!r}\n{first_crash[1]}")
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep) / path.name).write_bytes(first_crash[0])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
