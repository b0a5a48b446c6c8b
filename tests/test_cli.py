"""``flask --app app stations|sites import|export`` and friends."""

from __future__ import annotations

import csv

from geoservice import crs


def _csv(path, header, rows):
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return str(path)


def test_import_gcj02_then_export(runner, store, tmp_path):
    lon, lat = crs.wgs84_to_gcj02(116.85, 40.38)
    path = _csv(
        tmp_path / "a.csv",
        ["名称", "经度", "纬度", "开放时间"],
        [["高德坐标驿站", lon, lat, "24/7"]],
    )
    r = runner.invoke(args=["stations", "import", path, "--crs", "gcj02"])
    assert r.exit_code == 0, r.output
    assert "新增 1" in r.output
    assert "added 1" in r.output
    s = store.stations().set_index("name").loc["高德坐标驿站"]
    assert crs.residual_m(s["lon"], s["lat"], 116.85, 40.38) < 0.5
    out = tmp_path / "out.xlsx"
    r = runner.invoke(args=["stations", "export", str(out), "--headers", "zh"])
    assert r.exit_code == 0
    assert "105" in r.output
    assert out.exists()


def test_import_errors_name_row_and_column_and_exit_nonzero(runner, store, tmp_path):
    path = _csv(
        tmp_path / "b.csv",
        ["名称", "经度", "纬度", "开放时间"],
        [["好", "116.84", "40.37", "24/7"], ["坏", "abc", "40.37", "24/7"]],
    )
    r = runner.invoke(args=["stations", "import", path])
    assert r.exit_code == 1
    assert "第 3 行，列「经度」" in r.output
    assert "not a number" in r.output
    assert len(store.stations()) == 104


def test_dry_run_replace_upsert_flags(runner, store, tmp_path):
    path = _csv(
        tmp_path / "c.csv",
        ["id", "name", "lon", "lat", "opening_hours"],
        [["WS001", "改", "116.84", "40.37", "24/7"]],
    )
    r = runner.invoke(args=["stations", "import", path, "--upsert", "--dry-run"])
    assert r.exit_code == 0
    assert "[dry run]" in r.output
    assert "更新 1" in r.output
    assert store.stations().set_index("id").loc["WS001", "name"] != "改"
    r = runner.invoke(args=["stations", "import", path, "--replace"])
    assert r.exit_code == 0
    assert "删除 103" in r.output
    assert len(store.stations()) == 1


def test_unsupported_file_and_bad_crs(runner, tmp_path):
    txt = tmp_path / "x.txt"
    txt.write_text("hi")
    r = runner.invoke(args=["stations", "import", str(txt)])
    assert r.exit_code == 1
    assert "unsupported file type" in r.output
    r = runner.invoke(args=["sites", "import", str(txt), "--crs", "mars"])
    assert r.exit_code == 2
    assert "mars" in r.output


def test_sites_export_geojson_and_store_info(runner, tmp_path):
    out = tmp_path / "sites.geojson"
    r = runner.invoke(args=["sites", "export", str(out)])
    assert r.exit_code == 0
    assert "449" in r.output
    r = runner.invoke(args=["store", "info"])
    assert r.exit_code == 0
    assert "stations" in r.output
    assert "104" in r.output


def test_import_twice_is_refused_unless_duplicates_are_allowed(runner, store, tmp_path):
    path = _csv(
        tmp_path / "d.csv",
        ["名称", "经度", "纬度", "开放时间"],
        [["重复驿站", "116.8500", "40.3800", "24/7"]],
    )
    assert runner.invoke(args=["stations", "import", path]).exit_code == 0
    r = runner.invoke(args=["stations", "import", path])
    assert r.exit_code == 1
    assert "Error: 1 行有 1 处错误，未导入任何数据" in r.output
    assert "第 2 行，列「名称」：与已有站点 WS093「重复驿站」同名" in r.output
    assert len(store.stations()) == 105
    r = runner.invoke(args=["stations", "import", path, "--allow-duplicates"])
    assert r.exit_code == 0
    assert "按要求保留的疑似重复 1 行" in r.output
    assert len(store.stations()) == 106
    r = runner.invoke(args=["sites", "import", "--help"])
    assert "--allow-duplicates" in r.output
