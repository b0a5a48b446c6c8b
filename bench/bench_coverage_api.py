"""HTTP benchmark of ``GET /api/coverage`` and ``/api/coverage/suggest`` on the default
(schematic Miyun) network, through the Flask test client with the rate limiter on.

Run: ``.venv/bin/python bench/bench_coverage_api.py``.

For the view the ``/coverage`` page loads first in each mode (every offered threshold up to
the default one; cross-coverage, uncovered roads and counted stations beside the areas),
and for its catchments layer, prints:

- the first request (the engine's per-network tables built: once per network and mode);
- the baseline: the same answer computed again without the answer cache (coverage, layers,
  simplification, JSON, gzip), i.e. what every request would cost without it;
- a cached answer (gzip) and a revalidation (``If-None-Match`` → 304), with the ratio of
  the baseline to each;
- the transfer size, plain and gzip.

Then the same for a suggestion of 10 sites (walk, 15 min). Wall time; the machine's load
average is printed first (the machine is shared).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import service
from geoservice.web import create_app, get_coverage

VIEWS = {
    "walk": "mode=walk&minutes=5,10,15",
    "bike": "mode=bike&minutes=5,10",
    "drive": "mode=drive&minutes=5,10",
}
PAGE_LAYERS = "&kind=warm_station&layers=cross,uncovered,stations"
REPEAT = 20


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _timed(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _uncached(app, url: str, suggest: bool) -> float:
    """One answer computed as on a cache miss (engine warm), without the answer cache."""
    query = url.split("?", 1)[1]
    args: dict[str, list[str]] = {}
    for part in query.split("&"):
        key, _, value = part.partition("=")
        args.setdefault(key, []).append(value)
    with app.app_context():
        t0 = time.perf_counter()
        engine = get_coverage()
        if suggest:
            doc = service.coverage_suggest(engine, service.suggest_request(args))
        else:
            doc = service.coverage(engine, service.coverage_request(args))
        raw = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        gzip.compress(raw.encode(), 6, mtime=0)
        return time.perf_counter() - t0


def _measure(app, client, label: str, url: str, *, suggest: bool = False) -> None:
    gz = {"Accept-Encoding": "gzip"}
    t0 = time.perf_counter()
    first = client.get(url, headers=gz)
    first_s = time.perf_counter() - t0
    assert first.status_code == 200, first.get_json()
    plain = client.get(url)
    tag = first.headers["ETag"]
    base = statistics.median(_uncached(app, url, suggest) for _ in range(1 if suggest else 3))
    hit = _timed(lambda: client.get(url, headers=gz), REPEAT)
    rev = _timed(lambda: client.get(url, headers={**gz, "If-None-Match": tag}), REPEAT)
    print(
        f"{label:<22} first {_ms(first_s):>9} | baseline (no answer cache) {_ms(base):>9} | "
        f"cached {_ms(hit):>8} ({base / hit:,.0f}×) | 304 {_ms(rev):>8} ({base / rev:,.0f}×) | "
        f"size {len(plain.data) / 1e3:,.0f} kB, gzip {len(first.data) / 1e3:,.0f} kB"
    )


def main() -> None:
    print(f"load average: {load_average()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "STORE_PATH": str(Path(tmp) / "live.gpkg"),
                "NETWORK_DIR": str(Path(tmp) / "networks"),
                "TILES": "",
                "RATELIMIT_COVERAGE": "100000 per minute",
                "RATELIMIT_SUGGEST": "100000 per minute",
            }
        )
        client = app.test_client()
        t0 = time.perf_counter()
        with app.app_context():
            get_coverage()
        print(f"coverage engine created, networks loaded: {_ms(time.perf_counter() - t0)}\n")
        for mode, view in VIEWS.items():
            _measure(app, client, f"{mode} page view", f"/api/coverage?{view}{PAGE_LAYERS}")
            _measure(
                app,
                client,
                f"{mode} catchments",
                f"/api/coverage?{view}&kind=warm_station&layer=catchments&layers=none",
            )
        _measure(
            app,
            client,
            "suggest 10 (walk 15)",
            "/api/coverage/suggest?mode=walk&minutes=15&n=10&kind=warm_station",
            suggest=True,
        )
    print(f"\nload average: {load_average()}")


if __name__ == "__main__":
    main()
