"""Duplicate detection on import: the same file twice, the same name within 50 m, the same
coordinates, site codes; ``--allow-duplicates``; upsert and replace."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest

from geoservice.errors import ValidationError
from geoservice.store import catalog
from geoservice.store import validate as gvalidate
from geoservice.store.tables import Table

HEADER = ["名称", "经度", "纬度", "开放时间"]
# Metres per degree near Miyun (40.4° N).
M_LON = 111_320 * np.cos(np.radians(40.4))
M_LAT = 110_950


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _near(lon, lat, east_m=0.0, north_m=0.0):
    return f"{lon + east_m / M_LON:.7f}", f"{lat + north_m / M_LAT:.7f}"


@pytest.fixture
def first(store):
    return store.stations().iloc[0]


def test_importing_the_same_file_twice_is_refused(store, runner, tmp_path):
    rows = [["新站甲", "116.8500", "40.3800", "24/7"], ["新站乙", "116.8600", "40.3900", "24/7"]]
    path = _csv(tmp_path / "new.csv", rows)
    report = catalog.import_file(store, "stations", path)
    assert report.added == ["WS093", "WS094"]
    before = _digest(store.path)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", path)
    assert _digest(store.path) == before
    errors = {(e.row, e.column): e.message for e in info.value.errors}
    assert set(errors) == {(2, "名称"), (3, "名称")}
    assert errors[(2, "名称")].startswith(
        "与已有站点 WS093「新站甲」同名，相距 0.0 米，疑似重复导入"
    )
    assert "same name as existing station WS093 '新站甲', 0.0 m away" in errors[(2, "名称")]
    assert "--allow-duplicates" in errors[(2, "名称")]
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 1
    assert "第 3 行，列「名称」：与已有站点 WS094「新站乙」同名" in r.output
    assert len(store.stations()) == 106


def test_same_name_within_50_m_is_a_duplicate_beyond_it_is_not(store, tmp_path, first):
    name = first["name"]
    close = _near(first["lon"], first["lat"], east_m=30)
    far = _near(first["lon"], first["lat"], east_m=80)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", _csv(tmp_path / "a.csv", [[name, *close, "24/7"]]))
    (error,) = info.value.errors
    assert f"与已有站点 {first['id']}「{name}」同名，相距 30 米" in error.message
    # Written as people type it: full-width letters, spaces, other case: still the same name.
    spaced = " ".join(name) if name.isascii() else name[:2] + " " + name[2:]
    with pytest.raises(ValidationError):
        catalog.import_file(store, "stations", _csv(tmp_path / "b.csv", [[spaced, *close, "24/7"]]))
    report = catalog.import_file(
        store, "stations", _csv(tmp_path / "c.csv", [[name, *far, "24/7"]])
    )
    assert len(report.added) == 1


def test_same_coordinates_whatever_the_name(store, tmp_path, first):
    here = (f"{first['lon']:.7f}", f"{first['lat']:.7f}")
    with pytest.raises(ValidationError) as info:
        catalog.import_file(
            store, "stations", _csv(tmp_path / "a.csv", [["别的名字", *here, "24/7"]])
        )
    (error,) = info.value.errors
    assert error.column == "经度"
    assert f"与已有站点 {first['id']}「{first['name']}」坐标相同" in error.message
    assert "at the same coordinates as existing station" in error.message
    # Two metres away with another name is another place.
    two_m = _near(first["lon"], first["lat"], north_m=2)
    catalog.import_file(store, "stations", _csv(tmp_path / "b.csv", [["别的名字", *two_m, "24/7"]]))


def test_rows_of_one_file_are_checked_against_each_other(store, tmp_path):
    a = ("116.9000000", "40.4000000")
    rows = [
        ["河边驿站", *a, "24/7"],  # 2
        ["河边驿站", *_near(116.9, 40.4, east_m=10), "24/7"],  # 3: same name, 10 m
        ["山脚驿站", *_near(116.9, 40.4, east_m=400), "24/7"],  # 4
        ["另一个名字", *_near(116.9, 40.4, east_m=400), "24/7"],  # 5: same point as 4
        ["山脚驿站", *_near(116.9, 40.4, east_m=900), "24/7"],  # 6: same name, 500 m: fine
    ]
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", _csv(tmp_path / "f.csv", rows))
    errors = {(e.row, e.column): e.message for e in info.value.errors}
    assert set(errors) == {(2, "名称"), (3, "名称"), (4, "经度"), (5, "经度")}
    assert "与本文件第 3 行同名，相距 10 米" in errors[(2, "名称")]
    assert "与本文件第 2 行同名，相距 10 米" in errors[(3, "名称")]
    assert "与本文件第 4 行坐标相同" in errors[(5, "经度")]
    assert "row 4 of this file" in errors[(5, "经度")]


def test_allow_duplicates_imports_them_and_reports_them(store, runner, tmp_path, first):
    here = (f"{first['lon']:.7f}", f"{first['lat']:.7f}")
    path = _csv(tmp_path / "a.csv", [[first["name"], *here, "24/7"]])
    report = catalog.import_file(
        store, "stations", path, catalog.ImportOptions(allow_duplicates=True)
    )
    assert len(report.added) == 1
    assert len(report.duplicates) == 1
    assert "疑似重复 1 行" in report.summary()
    path = _csv(tmp_path / "b.csv", [[first["name"], *here, "Mo-Fr 08:00-18:00"]])
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 1
    r = runner.invoke(args=["stations", "import", str(path), "--allow-duplicates"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"{path}: 1 行有效")
    assert len(store.stations()) == 106


def test_upsert_by_id_is_not_a_duplicate_of_itself(store, tmp_path):
    # The store's own export, upserted: every row updates its own station.
    path = tmp_path / "all.csv"
    catalog.export_file(store, "stations", path)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert len(report.unchanged) == 104  # counted apart from updated rows now
    assert not report.added
    # A new row next to a station that the same file moves is a duplicate of the moved one.
    rows = [
        ["WS001", "搬家的站", "116.9500000", "40.5000000", "24/7"],
        ["", "搬家的站", *_near(116.95, 40.5, east_m=5), "24/7"],
    ]
    path = _csv(tmp_path / "u.csv", rows, header=["编号", *HEADER])
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    (error,) = info.value.errors
    assert error.row == 3
    assert "与本文件第 2 行（WS001）同名，相距 5.0 米" in error.message


def test_replace_checks_within_the_file_only(store, tmp_path, first):
    here = (f"{first['lon']:.7f}", f"{first['lat']:.7f}")
    path = _csv(tmp_path / "r.csv", [[first["name"], *here, "24/7"]])
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="replace"))
    assert len(report.removed) == 104
    twice = _csv(tmp_path / "t.csv", [[first["name"], *here, "24/7"]] * 2)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", twice, catalog.ImportOptions(mode="replace"))
    assert {e.row for e in info.value.errors} == {2, 3}


def test_sites_reservoir_duplicates_and_codes(store, runner, tmp_path):
    sites = store.sites()
    rs = sites.query("kind == 'reservoir_site'").iloc[0]
    village = sites.query("kind == 'village'").iloc[0]
    header = ["名称", "类型", "经度", "纬度", "区划代码"]
    near_rs = _near(rs["lon"], rs["lat"], east_m=20)
    path = _csv(tmp_path / "rs.csv", [[rs["name"], "保护点", *near_rs, ""]], header=header)
    with pytest.raises(ValidationError, match="problem") as info:
        catalog.import_file(store, "sites", path)
    assert f"与已有点位 {rs['id']}「{rs['name']}」同名" in info.value.errors[0].message
    # A village with a taken NBS code: refused, even with --allow-duplicates.
    rows = [["新村", "村", "", "", village["code"]]]
    header.append("坐标来源")
    path = _csv(tmp_path / "v.csv", [[*rows[0], "missing"]], header=header)
    before = _digest(store.path)
    r = runner.invoke(args=["sites", "import", str(path), "--allow-duplicates"])
    assert r.exit_code == 1
    assert f"区划代码 {village['code']} 已属于{village['id']}「{village['name']}」" in r.output
    assert _digest(store.path) == before
    # Two rows of one file with one code.
    rows = [["新村甲", "村", "", "", "110118999001", "missing"]] * 2
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "sites", _csv(tmp_path / "w.csv", rows, header=header))
    assert "与本文件第 2 行重复" in info.value.errors[0].message
    # Updating a village by id with its own code is fine.
    path = _csv(
        tmp_path / "u.csv",
        [[village["id"], village["name"], "村", "116.95", "40.33", village["code"]]],
        header=["编号", "名称", "类型", "经度", "纬度", "区划代码"],
    )
    catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="upsert"))


def test_twenty_thousand_rows_against_twenty_thousand_stations():
    # The check itself, at the row limit: vectorised, so this is quick (timed in
    # bench/bench_limits.py).
    rng = np.random.default_rng(7)
    n = 20_000

    def frame(lon, lat, names, prefix):
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {
                "id": [f"{prefix}{i}" for i in range(n)],
                "name": names,
                "kind": "warm_station",
                "lon": lon,
                "lat": lat,
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        )

    lon = rng.uniform(116.7, 117.3, n)
    lat = rng.uniform(40.2, 40.8, n)
    others = frame(lon, lat, [f"站{i}" for i in range(n)], "OLD")
    # Every tenth row repeats an existing station 10 m away; the rest are new places.
    new_lon = rng.uniform(116.7, 117.3, n)
    new_lat = rng.uniform(40.2, 40.8, n)
    names = [f"新站{i}" for i in range(n)]
    for i in range(0, n, 10):
        new_lon[i], new_lat[i] = lon[i] + 10 / M_LON, lat[i]
        names[i] = f"站{i}"
    incoming = frame(new_lon, new_lat, names, "NEW")
    table = Table(incoming[["name"]], {"name": "名称"}, list(range(2, n + 2)))
    places, codes = gvalidate.duplicates(
        "stations",
        incoming,
        table,
        adds=np.ones(n, dtype=bool),
        others=others,
        metric_crs="EPSG:32650",  # Miyun's UTM zone (50N)
    )
    assert not codes
    flagged = {e.row - 2 for e in places if "同名" in e.message}
    assert set(range(0, n, 10)) <= flagged
    assert len(flagged) < n // 10 + 20  # random points rarely fall within 1 m
