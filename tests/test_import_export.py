"""Import and export: formats, Chinese/English headers, CRS conversion, all-or-nothing."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import openpyxl
import pytest
from conftest import stations_frame

from geoservice import crs
from geoservice.store import catalog
from geoservice.store.tables import FileFormatError, read_table
from geoservice.store.validate import ValidationError

# WGS84 truth points inside Miyun (urban core and a rural town).
TRUTH = [(116.8420, 40.3770), (116.8610, 40.3850), (117.1050, 40.3950)]
ZH_HEADER = ["站点名称", "类型", "地址", "经度", "纬度", "开放时间", "服务设施", "联系电话"]


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _zh_rows(points, crs_name="wgs84"):
    lon, lat = crs.from_wgs84(
        np.array([p[0] for p in points]), np.array([p[1] for p in points]), crs_name
    )
    return [
        [
            f"测试驿站{i}",
            "暖心驿站",
            f"测试路{i}号",
            f"{x:.8f}",
            f"{y:.8f}",
            "Mo-Fr 08:00-18:00",
            "热水、充电、微波炉",
            "010-0000000",
        ]
        for i, (x, y) in enumerate(zip(lon, lat, strict=True), start=1)
    ]


def _write_csv(path, header, rows, encoding="utf-8-sig"):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _write_xlsx(path, header, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _stored(store, names):
    s = store.stations().set_index("name")
    return s.loc[names]


@pytest.mark.parametrize("crs_name", ["wgs84", "gcj02", "bd09"])
def test_csv_with_chinese_headers_and_shifted_coordinates(store, tmp_path, crs_name):
    path = _write_csv(tmp_path / "s.csv", ZH_HEADER, _zh_rows(TRUTH, crs_name))
    report = catalog.import_file(
        store, "stations", path, catalog.ImportOptions(source_crs=crs_name)
    )
    assert len(report.added) == 3
    assert not report.updated
    got = _stored(store, ["测试驿站1", "测试驿站2", "测试驿站3"])
    err = crs.residual_m(got["lon"].to_numpy(), got["lat"].to_numpy(), *np.array(TRUTH).T)
    assert err.max() < 0.5
    row = got.iloc[0]
    assert row["kind"] == "warm_station"
    assert row["amenities"] == "hot_water;microwave;charging"  # vocabulary order
    assert row["source"] == "import"
    assert report.added == ["WS093", "WS094", "WS095"]


def test_gbk_csv_from_chinese_excel(store, tmp_path):
    path = _write_csv(tmp_path / "gbk.csv", ZH_HEADER, _zh_rows(TRUTH[:1]), encoding="gbk")
    catalog.import_file(store, "stations", path)
    assert "测试驿站1" in set(store.stations()["name"])


def test_xlsx_with_english_headers_and_baidu_coordinates(store, tmp_path):
    lon, lat = crs.wgs84_to_bd09(TRUTH[0][0], TRUTH[0][1])
    header = ["id", "name", "kind", "lon", "lat", "opening_hours", "amenities", "capacity"]
    rows = [["T1", "百度坐标驿站", "worker_home", lon, lat, "24/7", "toilet;wifi", 12]]
    path = _write_xlsx(tmp_path / "s.xlsx", header, rows)
    catalog.import_file(store, "stations", path, catalog.ImportOptions(source_crs="bd09"))
    s = store.stations().set_index("id").loc["T1"]
    assert crs.residual_m(s["lon"], s["lat"], *TRUTH[0]) < 0.5
    assert s["kind"] == "worker_home"
    assert s["capacity"] == 12


def test_geojson_and_gpkg_import(store, tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(TRUTH[1])},
                "properties": {
                    "name": "GeoJSON驿站",
                    "opening_hours": "24/7",
                    "amenities": ["hot_water", "wifi"],
                },
            }
        ],
    }
    gj = tmp_path / "s.geojson"
    gj.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    catalog.import_file(store, "stations", gj)
    s = store.stations().set_index("name").loc["GeoJSON驿站"]
    assert (s["lon"], s["lat"]) == TRUTH[1]
    assert s["amenities"] == "hot_water;wifi"
    # GeoPackage: export a subset and import it into an emptied layer.
    out = tmp_path / "sub.gpkg"
    catalog.export_file(store, "stations", out)
    store.update("stations", lambda g: (g.iloc[:0], None))
    report = catalog.import_file(store, "stations", out)
    assert len(report.added) == 105


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson", "gpkg"])
@pytest.mark.parametrize("layer", ["stations", "sites"])
def test_export_import_roundtrip_is_lossless(store, tmp_path, ext, layer):
    before = store.read(layer)
    path = tmp_path / f"out.{ext}"
    n = catalog.export_file(store, layer, path)
    assert n == len(before)
    report = catalog.import_file(store, layer, path, catalog.ImportOptions(mode="replace"))
    assert not report.removed
    assert len(report.unchanged) == n  # counted apart from updated rows now
    assert not report.updated
    after = store.read(layer)
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert after.geometry.equals(before.geometry)


def test_chinese_headers_export(store, tmp_path):
    path = tmp_path / "zh.csv"
    catalog.export_file(store, "stations", path, headers="zh")
    head = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert "名称" in head
    assert "经度" in head
    assert "开放时间" in head
    catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="replace"))
    assert len(store.stations()) == 104


BAD_ROWS = [
    # row 2: fine
    ["好驿站", "暖心驿站", "", "116.84", "40.37", "24/7", "热水", "", "A1"],
    ["缺经度", "暖心驿站", "", "", "40.37", "24/7", "", "", "A2"],  # 3
    ["非数字", "暖心驿站", "", "东经116", "40.37", "24/7", "", "", "A3"],  # 4
    ["NaN", "暖心驿站", "", "nan", "40.37", "24/7", "", "", "A4"],  # 5
    ["无穷", "暖心驿站", "", "116.84", "inf", "24/7", "", "", "A5"],  # 6
    ["超范围", "暖心驿站", "", "200", "40.37", "24/7", "", "", "A6"],  # 7
    ["填反", "暖心驿站", "", "40.37", "116.84", "24/7", "", "", "A7"],  # 8
    ["区外", "暖心驿站", "", "116.40", "39.90", "24/7", "", "", "A8"],  # 9
    ["怪类型", "加油站", "", "116.84", "40.37", "24/7", "", "", "A9"],  # 10
    ["怪设施", "暖心驿站", "", "116.84", "40.37", "24/7", "按摩椅", "", "A10"],  # 11
    ["坏时间", "暖心驿站", "", "116.84", "40.37", "Mo-Fx 08:00-18:00", "", "", "A11"],  # 12
    ["重复", "暖心驿站", "", "116.84", "40.37", "24/7", "", "", "A1"],  # 13
    ["", "暖心驿站", "", "116.84", "40.37", "24/7", "", "", "A13"],  # 14
]
BAD_HEADER = ["名称", "类型", "地址", "经度", "纬度", "开放时间", "服务设施", "联系电话", "编号"]


def test_one_bad_row_rejects_the_file_and_every_bad_row_is_reported(store, tmp_path):
    path = _write_csv(tmp_path / "bad.csv", BAD_HEADER, BAD_ROWS)
    before = _digest(store.path)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", path)
    assert _digest(store.path) == before
    errs = {(e.row, e.column): e.message for e in info.value.errors}
    assert "缺失" in errs[(3, "经度")]
    assert "not a number" in errs[(4, "经度")]
    assert "finite" in errs[(5, "经度")]
    assert "finite" in errs[(6, "纬度")]
    assert "out of range" in errs[(7, "经度")]
    assert "swapped" in errs[(8, "经度")]
    assert "outside the district" in errs[(9, "经度")]
    assert "unknown kind '加油站'" in errs[(10, "类型")]
    assert "unknown amenity '按摩椅'" in errs[(11, "服务设施")]
    assert "第 4 个字符" in errs[(12, "开放时间")]
    assert "duplicate id 'A1'" in errs[(13, "编号")]
    assert "row 2" in errs[(13, "编号")]
    assert "name is empty" in errs[(14, "名称")]
    assert 2 not in {e.row for e in info.value.errors}
    report = info.value.report()
    assert "第 9 行，列「经度」" in report


def test_allow_outside_accepts_points_outside_the_district(store, tmp_path):
    path = _write_csv(tmp_path / "out.csv", BAD_HEADER, [BAD_ROWS[7]])
    with pytest.raises(ValidationError):
        catalog.import_file(store, "stations", path)
    catalog.import_file(store, "stations", path, catalog.ImportOptions(allow_outside=True))
    assert "区外" in set(store.stations()["name"])


def test_dry_run_validates_without_writing(store, tmp_path):
    path = _write_csv(tmp_path / "s.csv", ZH_HEADER, _zh_rows(TRUTH))
    before = _digest(store.path)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(dry_run=True))
    assert report.dry_run
    assert len(report.added) == 3
    assert _digest(store.path) == before
    bad = _write_csv(tmp_path / "bad.csv", BAD_HEADER, BAD_ROWS)
    with pytest.raises(ValidationError):
        catalog.import_file(store, "stations", bad, catalog.ImportOptions(dry_run=True))


def test_append_upsert_replace(store, tmp_path):
    header = ["id", "name", "lon", "lat", "opening_hours"]
    path = _write_csv(
        tmp_path / "u.csv",
        header,
        [
            ["WS001", "新名字", "116.84", "40.37", "24/7"],
            ["NEW1", "新站", "116.85", "40.38", "24/7"],
        ],
    )
    with pytest.raises(ValidationError, match="problem") as info:
        catalog.import_file(store, "stations", path)
    assert "already exists" in info.value.errors[0].message
    assert len(store.stations()) == 104
    # WS001 moves about 1.8 km: an upsert applies that only when confirmed.
    options = catalog.ImportOptions(mode="upsert", confirm_moves=True)
    report = catalog.import_file(store, "stations", path, options)
    assert report.updated == ["WS001"]
    assert report.added == ["NEW1"]
    s = store.stations().set_index("id")
    assert s.loc["WS001", "name"] == "新名字"
    assert len(s) == 105
    assert list(store.stations()["id"][:2]) == ["WS001", "WS002"]  # order kept
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="replace"))
    assert len(report.removed) == 103
    assert set(store.stations()["id"]) == {"WS001", "NEW1"}


def test_missing_coordinate_column_and_unknown_columns(store, tmp_path):
    path = _write_csv(tmp_path / "x.csv", ["名称", "开放时间", "备注"], [["甲", "24/7", "x"]])
    with pytest.raises(ValidationError) as info:
        catalog.import_file(store, "stations", path)
    cols = {e.column for e in info.value.errors}
    assert {"lon", "lat"} <= cols


def test_file_format_errors(tmp_path):
    with pytest.raises(FileFormatError, match="unsupported"):
        read_table(tmp_path / "a.txt")
    with pytest.raises(FileFormatError, match="not found"):
        read_table(tmp_path / "missing.csv")
    broken = tmp_path / "b.geojson"
    broken.write_text("{not json")
    with pytest.raises(FileFormatError, match="invalid JSON at line 1"):
        read_table(broken)
    fake = tmp_path / "f.xlsx"
    fake.write_text("hello")
    with pytest.raises(FileFormatError, match="xlsx"):
        read_table(fake)
    dup = _write_csv(tmp_path / "d.csv", ["经度", "lon"], [["1", "2"]])
    with pytest.raises(FileFormatError, match="both mean 'lon'"):
        read_table(dup)


def test_sites_import_fills_village_coordinates_by_upsert(store, tmp_path):
    villages = store.sites().query("kind == 'village'")
    vid = villages["id"].iloc[0]
    assert villages.geometry.iloc[0] is None
    header = ["id", "name", "kind", "经度", "纬度"]
    path = _write_csv(
        tmp_path / "v.csv", header, [[vid, villages["name"].iloc[0], "村", "116.95", "40.33"]]
    )
    catalog.import_file(store, "sites", path, catalog.ImportOptions(mode="upsert"))
    s = store.sites().set_index("id").loc[vid]
    assert (s["lon"], s["lat"]) == (116.95, 40.33)
    assert s["coord_source"] == "import"
    assert s["service_minutes"] == 60


# -- spreadsheet-safe exports -----------------------------------------------------------------

#: Text that Excel, WPS or LibreOffice would run as a formula, and its relatives.
HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "=1+1",
    "=cmd|' /C calc'!A0",
    "+86 10 1234",
    "-",
    "@x",
    "'=x",
    "''=x",
    "'x",
    "\t=1+1",
    "\r=1+1",
    "#N/A",
    "_x000D_ literal",
    "普通名称",
]


def _hostile_store(store):
    """Stations whose text fields are hostile, written straight into the store (as QGIS
    could); every value is one an import also accepts."""
    n = len(HOSTILE)
    points = [(round(116.80 + 0.004 * i, 6), round(40.36 + 0.002 * i, 6)) for i in range(n)]
    frame = stations_frame(points, names=list(HOSTILE))
    frame["address"] = list(reversed(HOSTILE))
    frame["host_org"] = HOSTILE[1:] + HOSTILE[:1]
    frame["phone"] = ["+86 10 1234"] * n
    store.update("stations", lambda g: (frame, None))
    return store.stations()


def _formulas(path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    return [m for m in ("<f>", "<f ", 't="e"', 't="str"') if m in sheet]


@pytest.mark.parametrize("headers", ["zh", "en"])
@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_export_is_spreadsheet_safe_and_reimports_identically(store, tmp_path, ext, headers):
    before = _hostile_store(store)
    path = tmp_path / f"hostile.{ext}"
    catalog.export_file(store, "stations", path, headers=headers)
    if ext == "csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            cells = [c for row in list(csv.reader(f))[1:] for c in row]
        # No text cell starts with a formula trigger: each got its leading apostrophe.
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert "'=1+1" in cells
        assert "'+86 10 1234" in cells
        assert "''=x" in cells  # an apostrophe already there is protected too
        assert "'x" in cells  # …but only when it would be read back ambiguously
    else:
        assert _formulas(path) == []
        wb = openpyxl.load_workbook(path)
        ws = wb.active
        name_col = [c.value for c in ws[1]].index("名称" if headers == "zh" else "name") + 1
        cells = {ws.cell(r, name_col).value: ws.cell(r, name_col) for r in range(2, ws.max_row + 1)}
        assert cells["=1+1"].data_type == "s"
        assert cells["=1+1"].quotePrefix
        assert cells["#N/A"].data_type == "s"
    before_digest = _digest(store.path)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="replace"))
    assert len(report.unchanged) == len(HOSTILE)  # counted apart from updated rows now
    # Every row read back unchanged: nothing is written (the revision and caches stay).
    assert _digest(store.path) == before_digest
    after = store.stations()
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert list(after["name"]) == HOSTILE


def test_a_users_own_apostrophes_and_excel_escapes_are_read_as_meant(store, tmp_path):
    # A CSV typed by hand: "'=x" means the text "=x" (as the export writes it); a phone
    # kept as text with an apostrophe stays as typed and is refused as a phone.
    rows = [
        ["'=SUM(A1)", "116.84", "40.37", "24/7", ""],
        ["甲站", "116.85", "40.38", "24/7", "'+86 10 6904 1234"],
    ]
    path = _write_csv(tmp_path / "a.csv", ["名称", "经度", "纬度", "开放时间", "联系电话"], rows)
    catalog.import_file(store, "stations", path)
    s = store.stations().set_index("name")
    assert "=SUM(A1)" in s.index
    assert s.loc["甲站", "phone"] == "+86 10 6904 1234"
    # Excel writes a carriage return in a cell as _x000D_ (OOXML); it is read as one.
    xlsx = _write_xlsx(
        tmp_path / "b.xlsx",
        ["名称", "经度", "纬度", "开放时间", "地址"],
        [["乙站", 116.86, 40.39, "24/7", "一楼_x000D_\n东侧"]],
    )
    catalog.import_file(store, "stations", xlsx)
    assert store.stations().set_index("name").loc["乙站", "address"] == "一楼\r\n东侧"


# -- the report: unchanged rows, new ids, holiday warnings ------------------------------------


def test_unchanged_rows_are_counted_apart_from_updated_ones(runner, store, tmp_path):
    s = store.stations().set_index("id")
    header = ["编号", "名称", "经度", "纬度", "开放时间", "数据来源"]

    def row(sid, name=None):
        st = s.loc[sid]
        return [sid, name or st["name"], st["lon"], st["lat"], st["opening_hours"], st["source"]]

    # The file leaves out most columns: a record is unchanged only when it has none of them
    # either (else they would be emptied, an update).
    blank = {"address": "", "town_code": "", "amenities": "", "phone": "", "host_org": ""}
    store.update("stations", lambda g: (g.assign(**blank, capacity=None, verified_on=""), None))
    path = _write_csv(tmp_path / "u.csv", header, [row("WS001", "改名"), row("WS002")])
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(mode="upsert"))
    assert report.updated == ["WS001"]
    assert report.unchanged == ["WS002"]
    assert not report.added
    assert "已新增 0，更新 1，未变 1，删除 0" in report.summary()
    assert "updated 1, unchanged 1" in report.summary()
    r = runner.invoke(args=["stations", "import", str(path), "--upsert", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "将新增 0，更新 0，未变 2，删除 0" in r.output


def test_summary_lists_the_new_ids_assigned_and_given(store, tmp_path):
    rows = _zh_rows(TRUTH)
    header = [*ZH_HEADER, "编号"]
    path = _write_csv(
        tmp_path / "n.csv", header, [rows[0] + [""], rows[1] + ["MY1"], rows[2] + [""]]
    )
    report = catalog.import_file(store, "stations", path)
    assert report.added == ["WS093", "MY1", "WS094"]
    assert "新增编号 / new ids: WS093, MY1, WS094" in report.summary()


HOLIDAY_ROWS = [
    ["甲", "116.84", "40.37", "周一至周五 8:00-17:30"],  # 2: no holiday rule
    ["乙", "116.85", "40.37", "24/7"],  # 3: fine
    ["丙", "116.86", "40.37", "工作日 8:30-17:00"],  # 4: 工作日 adds PH off
    ["丁", "116.87", "40.37", "周一至周五 8:00-17:30；节假日休息"],  # 5: fine
    ["戊", "116.88", "40.37", "Mo-Fr 08:00-18:00; PH 09:00-12:00"],  # 6: fine
    ["己", "116.89", "40.37", 'Mo-Su 08:00-18:00 "PH"'],  # 7: a comment is no rule
]


def test_hours_without_a_holiday_rule_are_warned_about(runner, store, tmp_path):
    path = _write_csv(tmp_path / "h.csv", ["名称", "经度", "纬度", "营业时间"], HOLIDAY_ROWS)
    report = catalog.import_file(store, "stations", path, catalog.ImportOptions(dry_run=True))
    assert [(w.row, w.column, w.value) for w in report.hours_warnings] == [
        (2, "营业时间", "周一至周五 8:00-17:30"),
        (7, "营业时间", 'Mo-Su 08:00-18:00 "PH"'),
    ]
    assert report.to_dict()["hours_warnings"][0] == {
        "row": 2,
        "column": "营业时间",
        "value": "周一至周五 8:00-17:30",
    }
    summary = report.summary()
    assert "注意：2 处开放时间未写节假日安排，法定节假日（如国庆节）将按星期规则算作开放" in summary
    assert "\n  第 2 行「营业时间」：周一至周五 8:00-17:30\n" in summary
    # A warning only: the import goes on.
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "count as open on them" in r.output
    assert "第 7 行「营业时间」" in r.output
    assert len(store.stations()) == 104 + len(HOLIDAY_ROWS)
