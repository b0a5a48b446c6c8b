"""Foundation benchmark: coordinate conversion, import validation, API and page latency.

Run: ``.venv/bin/python bench/bench_foundation.py``. Every number is printed beside a
baseline measured in the same process, with the ratio:

- GCJ-02 → WGS84 for 100,000 points: vectorised iterative inverse vs. the same function
  called once per point (how a per-row import loop would do it).
- District check for 100,000 points: ``shapely.contains_xy`` on a prepared polygon vs.
  ``Polygon.contains(Point)`` per point.
- Import of a 5,000-row GCJ-02 CSV (read + validate + atomic commit) in rows/s.
- ``GET /api/stations`` and ``GET /`` through the Flask test client: p50/p99; the page's
  cold render (store changed) vs. cached render.
"""

from __future__ import annotations

import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from _common import best_seconds, percentile_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import crs
from geoservice.store import catalog
from geoservice.web import STORE_KEY, create_app


def main() -> None:
    rng = np.random.default_rng(1)
    n = 100_000
    lon = rng.uniform(116.70, 117.50, n)
    lat = rng.uniform(40.22, 40.80, n)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)

    vec = best_seconds(lambda: crs.gcj02_to_wgs84(glon, glat), 3)
    m = 5_000  # the scalar baseline on a subset, scaled
    loop = best_seconds(
        lambda: [
            crs.gcj02_to_wgs84(float(x), float(y)) for x, y in zip(glon[:m], glat[:m], strict=True)
        ]
    )
    loop *= n / m
    print(
        f"gcj02→wgs84 {n:,} pts: vectorised {vec * 1000:.1f} ms ({n / vec:,.0f} pts/s); "
        f"per-point baseline {loop * 1000:.0f} ms; ratio {loop / vec:.0f}×"
    )

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"STORE_PATH": f"{tmp}/live.gpkg", "TILES": ""})
        store = app.extensions[STORE_KEY]
        boundary = store.read("boundary").geometry.union_all()
        shapely.prepare(boundary)
        fast = best_seconds(lambda: shapely.contains_xy(boundary, lon, lat), 3)
        slow = best_seconds(
            lambda: [
                boundary.contains(shapely.Point(x, y))
                for x, y in zip(lon[:m], lat[:m], strict=True)
            ]
        )
        slow *= n / m
        print(
            f"in-district {n:,} pts: contains_xy {fast * 1000:.1f} ms; per-point baseline "
            f"{slow * 1000:.0f} ms; ratio {slow / fast:.0f}×"
        )

        rows = 5_000
        path = Path(tmp) / "big.csv"
        pick = rng.choice(
            np.flatnonzero(shapely.contains_xy(boundary, lon, lat)), rows, replace=False
        )
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["名称", "经度", "纬度", "开放时间", "服务设施"])
            for i, k in enumerate(pick):
                w.writerow(
                    [
                        f"驿站{i}",
                        f"{glon[k]:.7f}",
                        f"{glat[k]:.7f}",
                        "Mo-Fr 08:00-18:00",
                        "热水、充电",
                    ]
                )
        t = best_seconds(
            lambda: catalog.import_file(
                store, "stations", path, catalog.ImportOptions(source_crs="gcj02", mode="replace")
            )
        )
        print(
            f"import {rows:,}-row GCJ-02 CSV (read+validate+commit): "
            f"{t:.2f} s ({rows / t:,.0f} rows/s)"
        )
        store.update("stations", lambda g: (g.iloc[:0], None))
        catalog.import_file(
            store,
            "stations",
            Path(__file__).resolve().parent.parent / "data" / "miyun.gpkg",
            catalog.ImportOptions(mode="replace"),
        )

        client = app.test_client()
        samples = []
        for _ in range(50):
            t = time.perf_counter()
            assert client.get("/api/stations").status_code == 200
            samples.append(time.perf_counter() - t)
        print(
            f"GET /api/stations (104 stations): p50 {percentile_ms(samples, 50):.1f} ms, "
            f"p99 {percentile_ms(samples, 99):.1f} ms"
        )

        cold = []
        for i in range(5):
            store.update(
                "stations",
                lambda g, i=i: (g.assign(phone=g["phone"].where(g.index != 0, f"010-{i}")), None),
            )
            t = time.perf_counter()
            client.get("/")
            cold.append(time.perf_counter() - t)
        warm = []
        for _ in range(50):
            t = time.perf_counter()
            client.get("/")
            warm.append(time.perf_counter() - t)
        c50, w50 = statistics.median(cold) * 1000, statistics.median(warm) * 1000
        print(
            f"GET / page: cold render p50 {c50:.0f} ms; cached p50 {w50:.2f} ms; "
            f"ratio {c50 / w50:.0f}×"
        )


if __name__ == "__main__":
    main()
