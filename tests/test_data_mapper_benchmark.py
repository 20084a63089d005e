"""``tools/benchmark.py data`` runs end to end on a tiny synthetic set and reports both sources."""

from __future__ import annotations

import argparse

from ava_detector.benchmarks import data as bench


def test_data_benchmark_prints_both_sources(capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        ["--records", "2", "--videos", "1", "--seconds", "4", "--size", "120", "160", "--mode", "test",
         "INPUT.NUM_FRAMES", "8"]
    )
    assert bench.run(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:3] for line in lines[1:]}
    assert rows == {("frames", "test", "8x2"), ("video", "test", "8x2")}
    assert all(float(line.strip("|").split("|")[3]) > 0 for line in lines[1:])
