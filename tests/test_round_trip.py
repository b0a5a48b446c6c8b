"""Round trips that cannot move anything: exports name their CRS in the headers, imports
read it (and refuse a --crs that contradicts it), Chinese exports write values staff read
and re-import unchanged, and an upsert that moves points needs confirming."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import numpy as np
import openpyxl
import pytest
from conftest import stations_frame

from geoservice import crs
from geoservice.errors import MovesNeedConfirmationError, ParameterError
from geoservice.store import catalog
from geoservice.store.tables import FileFormatError, read_table

# Metres per degree near Miyun (40.4° N).
M_LON = 111_320 * np.cos(np.radians(40.4))
M_LAT = 110_950


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _csv(path, header, rows):
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _sheet(path):
    """Header and rows of an exported CSV/XLSX as text/values."""
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    else:
        rows = [list(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def _assert_same_layer(before, after):
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    placed = before.geometry.notna().to_numpy()
    assert (after.geometry.notna().to_numpy() == placed).all()
    a, b = before.geometry[placed], after.geometry[placed]
    gap = crs.residual_m(a.x.to_numpy(), a.y.to_numpy(), b.x.to_numpy(), b.y.to_numpy())
    assert gap.max() < 0.01


# -- the round trip -------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_chinese_export_reimported_as_gcj02_is_refused_and_plain_upsert_changes_nothing(
    runner, store, tmp_path, ext
):
    path = tmp_path / f"驿站.{ext}"
    r = runner.invoke(args=["stations", "export", str(path), "--headers", "zh"])
    assert r.exit_code == 0, r.output
    head, _ = _sheet(path)
    assert "经度(WGS84)" in head
    assert "纬度(WGS84)" in head
    before, digest = store.stations(), _digest(store.path)
    # The way the union usually imports: the headers say WGS84, --crs says GCJ02.
    r = runner.invoke(args=["stations", "import", str(path), "--upsert", "--crs", "gcj02"])
    assert r.exit_code == 1
    assert (
        "文件表头注明坐标为 WGS84（列「'经度(WGS84)'」），与所选坐标系 GCJ02（--crs）不一致"
        in r.output
    )
    assert "the file's headers say its coordinates are WGS84" in r.output
    assert "nothing was imported" in r.output
    assert _digest(store.path) == digest
    # Without --crs the headers' CRS is used and nothing changes.
    r = runner.invoke(args=["stations", "import", str(path), "--upsert", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "将新增 0，更新 0，未变 104，删除 0" in r.output
    assert "坐标系 / coordinates: WGS84（表头注明 / named in the headers）" in r.output
    assert "移动" not in r.output
    r = runner.invoke(args=["stations", "import", str(path), "--upsert"])
    assert r.exit_code == 0, r.output
    assert "已新增 0，更新 0，未变 104，删除 0" in r.output
    _assert_same_layer(before, store.stations())


@pytest.mark.parametrize("headers", ["zh", "en"])
@pytest.mark.parametrize("source", ["gcj02", "bd09"])
@pytest.mark.parametrize("layer", ["stations", "sites"])
def test_export_in_another_crs_reimports_without_crs_unchanged(
    store, tmp_path, headers, source, layer
):
    before = store.read(layer)
    path = tmp_path / f"out.{'xlsx' if headers == 'zh' else 'csv'}"
    catalog.export_file(store, layer, path, headers=headers, crs=source)
    head, rows = _sheet(path)
    label = source.upper()
    lon_header = f"经度({label})" if headers == "zh" else f"lon({label})"
    assert lon_header in head
    # The coordinates are really in that CRS: the first located row converts back.
    i, j = (
        head.index(lon_header),
        head.index(lon_header.replace("经度", "纬度").replace("lon", "lat")),
    )
    row = next(r for r in rows if r[i] not in (None, ""))
    located = before.loc[before.geometry.notna()].iloc[0]
    x, y = crs.to_wgs84(float(row[i]), float(row[j]), source)
    assert crs.residual_m(x, y, located["lon"], located["lat"]) < 0.01
    report = catalog.import_file(store, layer, path, catalog.ImportOptions(mode="upsert"))
    assert report.source_crs == source
    assert report.crs_from_headers
    assert len(report.unchanged) == len(before)
    assert not report.updated
    assert not report.added
    assert not report.moved
    _assert_same_layer(before, store.read(layer))


def test_chinese_export_of_sites_round_trips(store, tmp_path):
    before = store.sites()
    path = tmp_path / "sites.xlsx"
    catalog.export_file(store, "sites", path, headers="zh")
    head, rows = _sheet(path)
    assert head[:5] == ["编号", "名称", "类型", "区划代码", "经度(WGS84)"]
    assert "所属镇街" in head
    kinds = {r[head.index("类型")] for r in rows}
    assert kinds == {"村", "社区", "水库保护点"}
    report = catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="upsert"))
    assert len(report.unchanged) == len(before)
    assert not report.moved
    _assert_same_layer(before, store.sites())


# -- headers ----------------------------------------------------------------------------------


def test_english_export_names_wgs84_and_geojson_refuses_another_crs(runner, store, tmp_path):
    path = tmp_path / "en.csv"
    catalog.export_file(store, "stations", path)
    head, _ = _sheet(path)
    assert head[:5] == ["id", "name", "kind", "lon(WGS84)", "lat(WGS84)"]
    assert "town_code" in head
    for ext in ("geojson", "gpkg"):
        with pytest.raises(ValueError, match="always WGS84"):
            catalog.export_file(store, "stations", tmp_path / f"x.{ext}", crs="gcj02")
        assert not (tmp_path / f"x.{ext}").exists()
    r = runner.invoke(args=["stations", "export", str(tmp_path / "x.geojson"), "--crs", "bd09"])
    assert r.exit_code == 1
    assert "GeoJSON 和 GeoPackage 文件的坐标一律为 WGS84" in r.output
    r = runner.invoke(args=["sites", "export", str(tmp_path / "s.csv"), "--crs", "BD09"])
    assert r.exit_code == 0, r.output
    assert _sheet(tmp_path / "s.csv")[0][4:6] == ["lon(BD09)", "lat(BD09)"]


@pytest.mark.parametrize(
    ("lon_header", "lat_header", "named"),
    [
        ("经度（GCJ02）", "纬度（GCJ02）", "gcj02"),  # full-width brackets
        ("lon (gcj-02)", "lat (GCJ-02)", "gcj02"),  # spaces, an alias
        ("经度(BD09)", "纬度", "bd09"),  # one of the two names it
        ("Longitude(WGS84)", "LAT(wgs84)", "wgs84"),
        ("经度", "纬度", None),
    ],
)
def test_import_reads_the_crs_named_in_the_headers(store, tmp_path, lon_header, lat_header, named):
    truth = (116.8610, 40.3850)
    x, y = crs.from_wgs84(*truth, named or "wgs84")
    path = _csv(
        tmp_path / "h.csv",
        ["名称", lon_header, lat_header, "开放时间"],
        [["表头坐标站", f"{x:.9f}", f"{y:.9f}", "24/7"]],
    )
    table = read_table(path)
    assert table.crs == named
    assert table.headers["lon"] == lon_header
    report = catalog.import_file(store, "stations", path)
    assert report.source_crs == (named or "wgs84")
    assert report.crs_from_headers == (named is not None)
    s = store.stations().set_index("name").loc["表头坐标站"]
    assert crs.residual_m(s["lon"], s["lat"], *truth) < 0.01


def test_a_crs_option_agreeing_with_the_headers_is_accepted_and_one_contradicting_is_refused(
    store, tmp_path
):
    x, y = crs.wgs84_to_gcj02(116.8610, 40.3850)
    path = _csv(
        tmp_path / "g.csv",
        ["名称", "经度(GCJ02)", "纬度(GCJ02)", "开放时间"],
        [["高德站", x, y, "24/7"]],
    )
    digest = _digest(store.path)
    for wrong in ("wgs84", "bd09"):
        with pytest.raises(ParameterError) as info:
            catalog.import_file(store, "stations", path, catalog.ImportOptions(source_crs=wrong))
        assert info.value.parameter == "crs"
        assert "GCJ02" in info.value.zh
        assert wrong.upper() in info.value.en
        assert _digest(store.path) == digest
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(source_crs="amap"))
    assert report.source_crs == "gcj02"
    assert report.added == ["WS093"]


def test_headers_naming_two_crss_or_an_unknown_one_are_refused(runner, store, tmp_path):
    two = _csv(
        tmp_path / "two.csv",
        ["名称", "经度(GCJ02)", "纬度(WGS84)", "开放时间"],
        [["甲", "116.86", "40.38", "24/7"]],
    )
    with pytest.raises(FileFormatError, match="name different coordinate systems"):
        read_table(two)
    digest = _digest(store.path)
    r = runner.invoke(args=["stations", "import", str(two)])
    assert r.exit_code == 1
    assert "经度列「'经度(GCJ02)'」和纬度列「'纬度(WGS84)'」注明的坐标系不同" in r.output
    r = runner.invoke(args=["stations", "import", str(two), "--crs", "gcj02"])
    assert r.exit_code == 1
    assert _digest(store.path) == digest
    unknown = _csv(
        tmp_path / "u.csv",
        ["名称", "经度(CGCS2000)", "纬度", "开放时间"],
        [["乙", "1", "2", "24/7"]],
    )
    with pytest.raises(FileFormatError, match="no known coordinate system"):
        read_table(unknown)


def test_crs_option_has_no_default():
    assert catalog.ImportOptions().source_crs is None


# -- Chinese values ---------------------------------------------------------------------------


def test_chinese_export_writes_labels_chinese_hours_and_town_names(store, tmp_path):
    path = tmp_path / "zh.csv"
    catalog.export_file(store, "stations", path, headers="zh")
    head, rows = _sheet(path)
    assert "乡镇代码" not in head
    first = dict(zip(head, rows[0], strict=True))
    assert first["类型"] == "暖心驿站"
    assert first["服务设施"] == "饮用水、热水、微波炉、手机充电、卫生间、休息座椅、纳凉"
    assert first["开放时间"] == "每天 06:00–11:30、13:30–21:00"
    assert first["所属镇街"] == "鼓楼街道"
    values = {c: {r[head.index(c)] for r in rows} for c in ("类型", "开放时间", "所属镇街")}
    assert values["类型"] == {"暖心驿站", "职工之家", "公共区域职工之家", "大篷车基地"}
    assert "周一至周五 08:30–17:30" in values["开放时间"]
    assert "24小时开放" in values["开放时间"]
    assert not [h for h in values["开放时间"] if "Mo" in h]
    assert not [t for t in values["所属镇街"] if t.isdigit()]


def test_hours_that_would_not_read_back_stay_in_osm_syntax(store, tmp_path):
    stations = store.stations().iloc[:6].copy()
    kept = [
        "Jan-Mar Mo-Fr 08:00-18:00",  # no Chinese form reads back
        'Mo-Fr 08:00-18:00 "午休"',  # the comment's brackets do not read back
        "Mo-Fr 08:00-12:00, Sa 10:00-12:00",  # reads back as two rules, another value
        "Mo-Su 00:00-24:00",  # reads back as 24/7
    ]
    converted = ["Mo-Fr 18:00-02:00", "Sa,Su,PH 09:00-12:00"]
    stations["opening_hours"] = kept + converted
    store.update("stations", lambda g: (stations, None))
    path = tmp_path / "h.xlsx"
    catalog.export_file(store, "stations", path, headers="zh")
    head, rows = _sheet(path)
    written = [r[head.index("开放时间")] for r in rows]
    assert written == [*kept, "周一至周五 18:00–次日02:00", "周六、周日及法定节假日 09:00–12:00"]
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert len(report.unchanged) == 6
    assert list(store.stations()["opening_hours"]) == kept + converted


def test_sheet_rows_keep_codes_and_keys_nothing_reads_back(store):
    towns = store.read("towns")
    records = [
        {
            "id": "X1",
            "kind": "future_kind",
            "amenities": ["hot_water", "sauna"],
            "opening_hours": "not hours",
            "town_code": "999999999",
        },
        {"id": "X2", "kind": "worker_home", "amenities": [], "opening_hours": "", "town_code": ""},
    ]
    rows = catalog.sheet_rows_zh(records, "stations", towns)
    assert rows[0] == {
        "id": "X1",
        "kind": "future_kind",
        "amenities": "热水、sauna",
        "opening_hours": "not hours",
        "town": "999999999",
    }
    assert rows[1] == {
        "id": "X2",
        "kind": "职工之家",
        "amenities": "",
        "opening_hours": "",
        "town": "",
    }


# -- moves ------------------------------------------------------------------------------------


def _moved_file(store, tmp_path, east_m, *, header=("编号", "名称", "经度", "纬度", "开放时间")):
    """WS001–WS003 as stored, shifted ``east_m`` metres east."""
    rows = [
        [
            s["id"],
            s["name"],
            f"{s['lon'] + east_m / M_LON:.7f}",
            f"{s['lat']:.7f}",
            s["opening_hours"],
        ]
        for _, s in store.stations().iloc[:3].iterrows()
    ]
    return _csv(tmp_path / f"moved{east_m}.csv", list(header), rows)


def test_an_upsert_moving_stations_needs_confirming(store, tmp_path):
    path = _moved_file(store, tmp_path, 300)
    digest = _digest(store.path)
    with pytest.raises(MovesNeedConfirmationError) as info:
        catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert _digest(store.path) == digest
    report = info.value.report
    assert {m.id for m in report.moved} == {"WS001", "WS002", "WS003"}
    assert all(abs(m.metres - 300) < 1 for m in report.moved)
    assert report.moved[0].name == store.stations().set_index("id").loc[report.moved[0].id, "name"]
    assert report.confirm_needed
    assert not report.written
    assert "3 个站点将移动超过 50 米" in str(info.value)
    # A dry run lists the moves and refuses nothing.
    dry = catalog.import_file(
        store, "stations", path, catalog.ImportOptions(mode="upsert", dry_run=True)
    )
    assert [m.id for m in dry.moved] == [m.id for m in report.moved]
    assert dry.confirm_needed
    assert "将移动超过 50 米 3 处 / 3 would move more than 50 m" in dry.summary()
    assert f"{report.moved[0].id}「{report.moved[0].name}」 300 米 / m" in dry.summary()
    assert _digest(store.path) == digest
    # Confirmed, it is applied.
    done = catalog.import_file(
        store, "stations", path, catalog.ImportOptions(mode="upsert", confirm_moves=True)
    )
    assert done.written
    assert not done.confirm_needed
    assert len(done.moved) == 3
    assert "已移动超过 50 米 3 处 / 3 moved more than 50 m" in done.summary()
    with open(path, encoding="utf-8-sig") as f:
        written = {r["编号"]: float(r["经度"]) for r in csv.DictReader(f)}
    stored = store.stations().set_index("id")["lon"]
    assert {sid: stored[sid] for sid in written} == written


def test_moves_within_50_m_and_first_positions_need_no_confirmation(store, tmp_path):
    path = _moved_file(store, tmp_path, 40)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert report.written
    assert not report.moved
    assert sorted(report.updated) == ["WS001", "WS002", "WS003"]
    # A village given its first coordinates is not moved.
    village = store.sites().query("kind == 'village'").iloc[0]
    path = _csv(
        tmp_path / "v.csv",
        ["编号", "名称", "类型", "经度", "纬度"],
        [[village["id"], village["name"], "村", "116.95", "40.33"]],
    )
    report = catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="upsert"))
    assert report.updated == [village["id"]]
    assert not report.moved


def test_a_located_site_moved_by_upsert_needs_confirming_and_replace_lists_moves(store, tmp_path):
    site = store.sites().query("kind == 'reservoir_site'").iloc[0]
    path = _csv(
        tmp_path / "rs.csv",
        ["编号", "名称", "类型", "经度", "纬度"],
        [
            [
                site["id"],
                site["name"],
                "水库保护点",
                f"{site['lon']:.7f}",
                f"{site['lat'] + 0.001:.7f}",
            ]
        ],
    )
    with pytest.raises(MovesNeedConfirmationError, match="1 个点位将移动超过 50 米"):
        catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="upsert"))
    # --replace makes the file the whole layer: the moves are listed, not asked about.
    report = catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="replace"))
    assert [m.id for m in report.moved] == [site["id"]]
    assert abs(report.moved[0].metres - 0.001 * M_LAT) < 2
    assert not report.confirm_needed


def test_cli_lists_the_moves_and_asks_for_confirm(runner, store, tmp_path):
    path = str(_moved_file(store, tmp_path, 531))
    digest = _digest(store.path)
    r = runner.invoke(args=["stations", "import", path, "--upsert", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "将移动超过 50 米 3 处" in r.output
    assert re.search(r"\n  WS001「鼓楼中国建设银行暖心驿站」 5[23]\d 米 / m\n", r.output)
    assert "确认无误请加 --confirm 重新运行" in r.output
    r = runner.invoke(args=["stations", "import", path, "--upsert"])
    assert r.exit_code == 1
    assert re.search(r"\n  WS001「鼓楼中国建设银行暖心驿站」 5[23]\d 米 / m\n", r.output)
    assert "3 个站点将移动超过 50 米，需确认后才能导入；未导入任何数据" in r.output
    assert "run the import again with --confirm" in r.output
    assert _digest(store.path) == digest
    r = runner.invoke(args=["stations", "import", path, "--upsert", "--confirm"])
    assert r.exit_code == 0, r.output
    assert "已移动超过 50 米 3 处" in r.output
    assert "--confirm 重新运行" not in r.output
    assert _digest(store.path) != digest
    r = runner.invoke(args=["stations", "import", "--help"])
    assert "--confirm" in r.output


def test_report_to_dict_is_json_ready(store, tmp_path):
    path = _moved_file(store, tmp_path, 200)
    with pytest.raises(MovesNeedConfirmationError) as info:
        catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    doc = json.loads(json.dumps(info.value.report.to_dict(), ensure_ascii=False))
    assert set(doc) >= {
        "added",
        "updated",
        "unchanged",
        "removed",
        "moved",
        "hours_warnings",
        "hours_converted",
        "duplicates",
        "ignored_columns",
        "dry_run",
    }
    assert sorted(doc["updated"]) == ["WS001", "WS002", "WS003"]
    assert doc["confirm_needed"] is True
    assert doc["written"] is False
    assert doc["move_limit_m"] == 50
    move = doc["moved"][0]
    assert set(move) == {"id", "name", "metres"}
    assert abs(move["metres"] - 200) < 1


def test_positions_finer_than_the_import_keeps_round_trip_unchanged(store, tmp_path):
    # Stored positions with 12 decimals (as QGIS writes them), chosen so that read back from
    # GCJ-02 they round to another 7th decimal than the stored ones: still unchanged, and
    # kept to the last bit.
    rng = np.random.default_rng(7)
    lon, lat = 116.80 + rng.random(20_000) * 0.1, 40.36 + rng.random(20_000) * 0.05
    x, y = crs.to_wgs84(*crs.from_wgs84(lon, lat, "gcj02"), "gcj02")
    edge = np.flatnonzero(
        (np.round(x, 7) != np.round(lon, 7)) | (np.round(y, 7) != np.round(lat, 7))
    )
    assert len(edge) >= 3
    points = [(round(lon[i], 12), round(lat[i], 12)) for i in edge[:3]]
    frame = stations_frame(points)
    store.update("stations", lambda g: (frame, None))
    before = store.stations()
    path = tmp_path / "fine.csv"
    catalog.export_file(store, "stations", path, crs="gcj02")
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert report.unchanged == ["T00", "T01", "T02"]
    after = store.stations()
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert after.geometry.equals(before.geometry)


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_chinese_values_are_spreadsheet_safe_too(store, tmp_path, ext):
    # A town named like a formula (as QGIS could store it) is written as text and read back.
    store.update("towns", lambda g: (g.assign(name=["=1+1镇", *g["name"][1:]]), None))
    code = store.read("towns")["code"].iloc[0]
    before = store.stations()
    assert (before["town_code"] == code).any()
    path = tmp_path / f"t.{ext}"
    catalog.export_file(store, "stations", path, headers="zh")
    if ext == "csv":
        head, rows = _sheet(path)
        assert "'=1+1镇" in {r[head.index("所属镇街")] for r in rows}
    else:
        ws = openpyxl.load_workbook(path).active
        column = [c.value for c in ws[1]].index("所属镇街") + 1
        cells = [ws.cell(r, column) for r in range(2, ws.max_row + 1)]
        formula = [c for c in cells if c.value == "=1+1镇"]
        assert formula
        assert all(c.data_type == "s" and c.quotePrefix for c in formula)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert len(report.unchanged) == len(before)
    assert store.stations().equals(before)
