"""Opening-hours benchmark: the open-now mask over many stations.

Run: ``.venv/bin/python bench/bench_hours.py``. Every number is printed beside a baseline
measured in the same process, with the ratio:

- ``hours.open_mask`` over 100 and 20,000 stations (the sample data's six expressions plus
  200 generated ones, so ~206 distinct expressions), on an ordinary Wednesday, a public
  holiday (2026-10-01) and a make-up working Saturday (2026-02-14): the first call in a
  minute and a repeated call in the same minute (what concurrent requests see).
- Baselines, same process: the previous ``open_mask`` (a memo per call, one Python loop
  over the stations, no cache across calls) and ``parse(expr).is_open(at)`` for every
  station one after the other (what a caller would write without the mask).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _common import best_seconds

from geoservice import hours

SAMPLE = [
    "24/7",
    "Mo-Fr 08:30-17:30",
    "Mo-Su 07:00-20:00",
    "Mo-Su 06:00-11:30,13:30-21:00",
    "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00; PH off",
    "Mo-Sa 08:00-18:00; Su off",
]


def _expressions(n: int) -> list[str]:
    generated = [
        f"Mo-Fr {7 + i % 3:02d}:{(i * 5) % 60:02d}-{17 + i % 4:02d}:30; PH off" for i in range(200)
    ]
    distinct = SAMPLE + generated
    return [distinct[i % len(distinct)] for i in range(n)]


def _previous_open_mask(exprs, at):
    """``open_mask`` as it was before the per-minute cache (for the baseline)."""
    memo: dict[object, bool] = {}
    out = np.zeros(len(exprs), dtype=bool)
    for i, expr in enumerate(exprs):
        if expr in memo:
            out[i] = memo[expr]
            continue
        out[i] = memo[expr] = hours.parse(expr).is_open(at)
    return out


def main() -> None:
    days = {
        "weekday 2026-11-25": datetime(2026, 11, 25, 10, 0),
        "holiday 2026-10-01": datetime(2026, 10, 1, 10, 0),
        "make-up 2026-02-14": datetime(2026, 2, 14, 10, 0),
    }
    for n in (100, 20_000):
        exprs = _expressions(n)
        for label, at in days.items():
            hours.open_mask(exprs[:300], at)  # parse every distinct expression once
            minutes = iter(range(1, 10_000))

            def cold(exprs=exprs, at=at, minutes=minutes):
                # A new minute each call: nothing cached for this moment yet.
                hours.open_mask(exprs, at + timedelta(minutes=next(minutes)))

            first = best_seconds(cold, 5)
            hours.open_mask(exprs, at)
            warm = best_seconds(lambda exprs=exprs, at=at: hours.open_mask(exprs, at), 5)
            prev = best_seconds(lambda exprs=exprs, at=at: _previous_open_mask(exprs, at), 5)
            base = best_seconds(
                lambda exprs=exprs, at=at: [hours.parse(e).is_open(at) for e in exprs], 3
            )
            print(
                f"open_mask n={n:>6} {label}: first call in a minute {first * 1e3:6.2f} ms, "
                f"same minute {warm * 1e3:6.2f} ms | previous open_mask {prev * 1e3:6.2f} ms "
                f"({prev / first:4.1f}x / {prev / warm:4.1f}x) | per-station is_open "
                f"{base * 1e3:7.2f} ms ({base / first:5.1f}x / {base / warm:5.1f}x)"
            )
    one = hours.parse(SAMPLE[4])
    at = days["holiday 2026-10-01"]
    samples = []
    for _ in range(200):
        t = time.perf_counter()
        one.describe_zh(at)
        samples.append(time.perf_counter() - t)
    print(f"describe_zh on a holiday: p50 {statistics.median(samples) * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
