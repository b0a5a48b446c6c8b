"""Memory of the coverage engine under distinct questions, its caches bounded and not.

Run: ``.venv/bin/python bench/bench_coverage_memory.py [--questions N] [--budget BYTES]``.

Each side runs in a fresh child process on the default (schematic Miyun) network: the
engine with its caches bounded (``--budget``, default ``COVERAGE_ENGINE_CACHE_BYTES``'s)
and, as the baseline in the same run, unbounded (as before issue 14). Each asks the same
N distinct questions (mode × buffer × thresholds × kinds, polygons dissolved as
``/api/coverage`` does) and prints its resident memory (RSS) after the first question of
each mode (the static tables of every mode built) and after the last, the growth per
question between them (and every 30 questions), what the caches hold by the engine's
count, and the wall time. The
machine's load average is printed first and last.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice.coverage import CoverageEngine
from geoservice.coverage.engine import DEFAULT_CACHE_BYTES
from geoservice.network import NetworkLibrary
from geoservice.store import GpkgStore
from geoservice.web import DEFAULT_GPKG, DEFAULT_NETWORK

MB = 1024**2
_MODES = 3
_STEP = 30  # RSS is printed after every this many questions


def questions(n: int) -> list[dict]:
    """``n`` distinct coverage questions, cycling over modes first."""
    kinds = ("warm_station", "warm_station,worker_home", "worker_home")
    minutes = ("5,10,15", "10,20", "15", "5,10", "20,30")
    every = [
        {"mode": mode, "buffer_m": buffer_m, "minutes": m, "kind": kind}
        for m, kind, buffer_m, mode in itertools.product(
            minutes, kinds, (25, 50, 100, 200), ("walk", "bike", "drive")
        )
    ]
    return every[:n]


def rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(n: int, budget: int | None) -> dict:
    """One side: the questions on a fresh engine; its memory before and after."""
    with tempfile.TemporaryDirectory() as tmp:
        store = GpkgStore(Path(tmp) / "live.gpkg", seed=DEFAULT_GPKG)
        library = NetworkLibrary(Path(tmp) / "networks", DEFAULT_NETWORK)
        engine = CoverageEngine(library.load(), store, library, cache_bytes=budget)
        asked = questions(n)
        started = time.perf_counter()
        # One question per mode first: the static tables of every mode are then built
        # (not bounded: every answer needs them), so the growth after is the caches'.
        for q in asked[:_MODES]:
            engine.compute(q).areas.dissolve_all()
        first = rss()
        steps = {}
        for i, q in enumerate(asked[_MODES:], start=_MODES + 1):
            engine.compute(q).areas.dissolve_all()
            if i % _STEP == 0:
                steps[i] = rss()
        return {
            "rss_first": first,
            "rss_steps": steps,
            "rss_last": rss(),
            "cache_bytes": engine.cache_bytes(),
            "seconds": time.perf_counter() - started,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--budget", type=int, default=DEFAULT_CACHE_BYTES)
    parser.add_argument("--child", choices=("bounded", "unbounded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        budget = args.budget if args.child == "bounded" else None
        print(json.dumps(child(args.questions, budget)))
        return
    print(f"load average {load_average()}")
    print(f"{args.questions} distinct questions on {Path(DEFAULT_NETWORK).name}")
    print(f"{'caches':>24s} {'RSS first':>10s} {'RSS last':>10s} {'growth':>8s} "
          f"{'per q.':>8s} {'cached':>8s} {'wall':>7s}")  # fmt: skip
    for side in ("bounded", "unbounded"):
        cmd = [sys.executable, __file__, "--child", side]
        cmd += ["--questions", str(args.questions), "--budget", str(args.budget)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        growth = r["rss_last"] - r["rss_first"]
        label = f"bounded {args.budget / MB:.0f} MB" if side == "bounded" else "unbounded (before)"
        print(
            f"{label:>24s} {r['rss_first'] / MB:8.0f} MB {r['rss_last'] / MB:6.0f} MB "
            f"{growth / MB:6.0f} MB {growth / max(1, args.questions - _MODES) / MB:6.2f} MB "
            f"{r['cache_bytes'] / MB:6.0f} MB {r['seconds']:6.1f} s"
        )
        steps = "  ".join(f"{k}: {v / MB:.0f}" for k, v in r["rss_steps"].items())
        print(f"{'':>24s} RSS (MB) after questions  {steps}")
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
