"""Limits on imported files and on the routing engine's memory.

Every hostile file is refused with a message naming the file, row or column, and the store
is byte-for-byte unchanged; the engine refuses station rows over its memory budget while
the last good state keeps answering.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import zipfile

import pytest
from conftest import GRID_STATIONS, SMALL_OSM, make_app, stations_frame

from geoservice import nearest as gnearest
from geoservice.errors import BudgetError, FileFormatError, NetworkError, ValidationError
from geoservice.network import NetworkLibrary
from geoservice.store import catalog
from geoservice.store import tables as gio
from geoservice.web import ENGINE_KEY, create_app

HEADER = ["名称", "经度", "纬度", "开放时间"]
ROW = ["测试驿站", "116.84", "40.37", "24/7"]


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def unchanged(store):
    """Asserts, after the test, that the store file was not touched."""
    before = (_digest(store.path), store.revision())
    yield store
    assert (_digest(store.path), store.revision()) == before


def _csv(path, header, rows):
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


# -- crafted XLSX (written as XML: openpyxl would take minutes for a million rows) ------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
    'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
    'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
    'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
    '"xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="stations" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
    'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
    '"worksheets/sheet1.xml"/></Relationships>'
)


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def craft_xlsx(path, rows, *, dimension="A1:D1", extra: dict | None = None):
    """Write an XLSX whose sheet XML is streamed from ``rows`` (strings of <row> XML)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                'openxmlformats.org/spreadsheetml/2006/main">'
                f'<dimension ref="{dimension}"/><sheetData>'.encode()
            )
            head = "".join(_inline(f"{c}1", h) for c, h in zip("ABCD", HEADER, strict=True))
            f.write(f'<row r="1">{head}</row>'.encode())
            buffer = []
            for row in rows:
                buffer.append(row)
                if len(buffer) == 65536:
                    f.write("".join(buffer).encode())
                    buffer.clear()
            f.write("".join(buffer).encode())
            f.write(b"</sheetData></worksheet>")
    return path


def _station_row(r: int) -> str:
    return (
        f'<row r="{r}">{_inline(f"A{r}", f"站{r}")}<c r="B{r}"><v>116.84</v></c>'
        f'<c r="C{r}"><v>40.37</v></c>{_inline(f"D{r}", "24/7")}</row>'
    )


@pytest.fixture(scope="session")
def million_row_xlsx(tmp_path_factory):
    """1,048,576 sheet rows (Excel's maximum), compact enough to pass the unpacked-size
    limit, so that only the row limits can stop it. Written once per session (~3 s)."""
    path = tmp_path_factory.mktemp("big") / "million.xlsx"
    rows = (f'<row r="{r}"><c r="A{r}"><v>1</v></c></row>' for r in range(2, 1_048_577))
    return craft_xlsx(path, rows, dimension="A1:D1048576")


@pytest.fixture(scope="session")
def big_csv(tmp_path_factory):
    """200,000 station rows (5 MB: under the size limit, far over the row limit)."""
    path = tmp_path_factory.mktemp("big") / "200k.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\n")
        f.writelines(f"站{i},116.84,40.37,24/7\n" for i in range(200_000))
    return path


# -- file size, rows, columns -------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_before_reading(unchanged, runner, tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:  # sparse: costs no disk and no time
        f.truncate(gio.MAX_FILE_BYTES + 1)
    with pytest.raises(FileFormatError, match="20 MB") as info:
        catalog.import_file(unchanged, "stations", path)
    assert str(info.value).startswith("huge.csv：文件")
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 1
    assert "超过 20 MB 上限" in r.output
    assert "nothing was imported" in r.output


def test_a_200k_row_csv_is_refused_once_at_the_row_limit(unchanged, runner, big_csv):
    with pytest.raises(FileFormatError) as info:
        catalog.import_file(unchanged, "stations", big_csv)
    message = str(info.value)
    assert "超过 20,000 行上限" in message
    assert "more than 20,000 rows" in message
    r = runner.invoke(args=["stations", "import", str(big_csv)])
    assert r.exit_code == 1
    assert len(r.output.splitlines()) <= 3  # one message, not 200,000 lines


def test_exactly_the_row_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "MAX_ROWS", 50)
    ok = _csv(tmp_path / "ok.csv", HEADER, [ROW] * 50 + [["", "", "", ""]] * 5)
    assert len(gio.read_table(ok).frame) == 50
    over = _csv(tmp_path / "over.csv", HEADER, [ROW] * 51)
    with pytest.raises(FileFormatError, match="more than 50 rows"):
        gio.read_table(over)


def test_a_million_row_xlsx_is_refused_before_openpyxl_reads_it(unchanged, million_row_xlsx):
    # Its <row> tags are counted in the raw XML and counting stops at 40,002: refused in
    # milliseconds (bench/bench_limits.py), where reading it took 46 s and 1.7 GB.
    with pytest.raises(FileFormatError) as info:
        catalog.import_file(unchanged, "stations", million_row_xlsx)
    message = str(info.value)
    assert message.startswith("million.xlsx：工作簿超过 40,001 行（含空行）")
    assert "At most 20,000 rows per file" in message


def test_xlsx_rows_are_streamed_and_reading_stops_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "MAX_ROWS", 50)
    path = craft_xlsx(tmp_path / "60.xlsx", [_station_row(r) for r in range(2, 62)])
    with pytest.raises(FileFormatError, match="more than 50 rows"):
        gio.read_table(path)
    path = craft_xlsx(tmp_path / "50.xlsx", [_station_row(r) for r in range(2, 52)])
    assert len(gio.read_table(path).frame) == 50


def test_xlsx_zip_bomb_is_refused_before_it_is_inflated(unchanged, tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "MAX_XLSX_UNPACKED_BYTES", 2**20)
    filler = (f'<row r="{r}"></row>' for r in range(2, 100_000))  # ~2 MB unpacked
    bomb = craft_xlsx(tmp_path / "bomb.xlsx", filler)
    assert bomb.stat().st_size < 300_000
    with pytest.raises(FileFormatError, match="unpacks to 2 MB, over the 1 MB limit"):
        catalog.import_file(unchanged, "stations", bomb)
    # Shared strings and styles are loaded whole by openpyxl: their own, smaller limit.
    monkeypatch.setattr(gio, "MAX_XLSX_UNPACKED_BYTES", 2**30)
    monkeypatch.setattr(gio, "MAX_XLSX_LOADED_BYTES", 2**20)
    strings = "<sst>" + "<si><t>x</t></si>" * 70_000 + "</sst>"
    bomb = craft_xlsx(tmp_path / "sst.xlsx", [], extra={"xl/sharedStrings.xml": strings})
    with pytest.raises(FileFormatError, match="shared strings and styles unpack to 1 MB"):
        gio.read_table(bomb)


def test_xlsx_claiming_16384_columns_is_read_within_its_header(store, tmp_path):
    rows = [_station_row(2)]
    path = craft_xlsx(tmp_path / "wide.xlsx", rows, dimension="A1:XFD1048576")
    table = gio.read_table(path)
    assert list(table.frame.columns) == ["name", "lon", "lat", "opening_hours"]
    assert table.rows == [2]
    report = catalog.import_file(store, "stations", path)
    assert len(report.added) == 1


def test_xlsx_going_on_past_the_scan_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "MAX_SHEET_ROWS", 100)
    # Counted in the raw XML (any sheet of the workbook), blank rows included …
    blank = [f'<row r="{r}"/>' for r in range(3, 200)]
    with pytest.raises(FileFormatError, match="more than 100 rows"):
        gio.read_table(craft_xlsx(tmp_path / "blank.xlsx", [_station_row(2), *blank]))
    # … and in the sheet read, where a row far down implies the rows before it.
    rows = [_station_row(2), '<row r="5000"><c r="A5000"><v>1</v></c></row>']
    with pytest.raises(FileFormatError, match="more than 100 rows"):
        gio.read_table(craft_xlsx(tmp_path / "far.xlsx", rows))
    # Blank rows within the limit are skipped, and the row numbers stay the sheet's.
    table = gio.read_table(craft_xlsx(tmp_path / "gap.xlsx", [_station_row(2), _station_row(9)]))
    assert table.rows == [2, 9]


def test_damaged_xlsx_is_a_clear_error(tmp_path):
    path = craft_xlsx(tmp_path / "bad.xlsx", ["<row r='2'><c r='A2'><v>1</v></row>"])
    with pytest.raises(FileFormatError, match=r"damaged|not a readable"):
        gio.read_table(path)


def test_too_many_columns(tmp_path):
    header = [f"c{i}" for i in range(gio.MAX_COLUMNS + 1)]
    with pytest.raises(FileFormatError, match="more than 200 columns"):
        gio.read_table(_csv(tmp_path / "w.csv", header, [["x"] * len(header)]))
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None,
          "properties": {f"p{i}": 1 for i in range(gio.MAX_COLUMNS + 1)}}]}  # fmt: skip
    path = tmp_path / "w.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(FileFormatError, match="more than 200 distinct properties"):
        gio.read_table(path)


def test_geojson_limits_features_and_nesting(unchanged, tmp_path):
    feature = {"type": "Feature", "geometry": None, "properties": {}}
    path = tmp_path / "many.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature] * (gio.MAX_ROWS + 1)})
    )
    with pytest.raises(FileFormatError, match="more than 20,000 features"):
        catalog.import_file(unchanged, "stations", path)
    deep = tmp_path / "deep.geojson"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FileFormatError, match="nested too deeply"):
        catalog.import_file(unchanged, "stations", deep)


def test_gpkg_feature_limit(store, tmp_path, monkeypatch):
    path = tmp_path / "s.gpkg"
    catalog.export_file(store, "stations", path)
    monkeypatch.setattr(gio, "MAX_ROWS", 100)
    with pytest.raises(FileFormatError, match="more than 100 features"):
        gio.read_table(path)


# -- cells ------------------------------------------------------------------------------------


def test_long_and_control_character_cells_are_row_errors(unchanged, runner, tmp_path):
    rows = [
        ["名" * 200, "116.84", "40.37", "24/7", "址" * 500],  # 2: at the limits, fine
        ["名" * 201, "116.84", "40.37", "24/7", ""],  # 3
        ["乙", "116.84", "40.37", "24/7", "址" * 501],  # 4
        ["丙", "116.84", "40.37", "Mo-Fr 08:00-18:00;" * 40, ""],  # 5: 720 characters
        ["丁\x07", "116.84", "40.37", "24/7", ""],  # 6
        ["戊", "1" * 600, "40.37", "24/7", ""],  # 7
    ]
    path = _csv(tmp_path / "long.csv", [*HEADER, "地址"], rows)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "stations", path)
    errors = {(e.row, e.column): e.message for e in info.value.errors}
    assert set(errors) == {(3, "名称"), (4, "地址"), (5, "开放时间"), (6, "名称"), (7, "经度")}
    assert "too long (201 characters; at most 200)" in errors[(3, "名称")]
    assert "内容过长（501 个字符，上限 500）" in errors[(4, "地址")]
    assert "720 characters" in errors[(5, "开放时间")]  # not parsed, and not "empty"
    assert "U+0007" in errors[(6, "名称")]
    r = runner.invoke(args=["stations", "import", str(path)])
    assert "第 3 行，列「名称」：内容过长" in r.output


def test_a_10_mb_name_is_refused_with_a_short_message(unchanged, tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [116.84, 40.37]},
                "properties": {"name": "<b>" * 3_500_000, "opening_hours": "x" * 3_000_000},
            }
        ],
    }
    path = tmp_path / "big-name.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "stations", path)
    report = info.value.report()
    assert len(report) < 1000
    assert "第 1 个要素，列「name」：内容过长（10,500,000 个字符" in report
    # In a CSV the cell is over the csv module's field limit: still a clear error.
    csv_path = tmp_path / "big-name.csv"
    csv_path.write_text("名称,经度,纬度,开放时间\n" + "名" * 200_000 + ",116.84,40.37,24/7\n")
    with pytest.raises(FileFormatError, match="near line 2"):
        catalog.import_file(unchanged, "stations", csv_path)


def test_echoed_values_are_excerpts(unchanged, tmp_path):
    rows = [["甲", "116.84", "40.37", "24/7", "加油站" * 100, "bad id " * 10]]
    path = _csv(tmp_path / "e.csv", [*HEADER, "类型", "编号"], rows)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "stations", path)
    assert all(len(e.message) < 400 for e in info.value.errors)
    assert any("…" in e.message for e in info.value.errors)


def test_site_codes_keep_the_nbs_pattern(unchanged, tmp_path):
    rows = [["某村", "村", "1.10118E+11"], ["某社区", "社区", "110118001001"]]
    path = _csv(tmp_path / "c.csv", ["名称", "类型", "区划代码"], rows)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "sites", path)
    errors = {(e.row, e.column) for e in info.value.errors}
    assert (2, "区划代码") in errors
    assert (3, "区划代码") not in errors


def test_the_error_report_is_bounded(unchanged, runner, tmp_path):
    rows = [[f"站{i}", "东经", "北纬", "24/7"] for i in range(1000)]  # 2,000 errors
    path = _csv(tmp_path / "bad.csv", HEADER, rows)
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "stations", path)
    assert len(info.value.errors) == 2000
    r = runner.invoke(args=["stations", "import", str(path)])
    lines = r.output.splitlines()
    assert len(lines) <= gio.MAX_REPORTED_ERRORS + 3
    assert "另有 1800 处 / and 1800 more" in r.output
    assert lines[0].startswith("Error: 1000 行有 2000 处错误")


# -- the engine's memory budget ------------------------------------------------------------------


@pytest.fixture(scope="module")
def network_dir(tmp_path_factory):
    """One network folder for every app of this module: the 鼓楼 extract is built once."""
    return tmp_path_factory.mktemp("networks")


@pytest.fixture(scope="module")
def grid_nodes(network_dir):
    library = NetworkLibrary(network_dir, SMALL_OSM)
    return {mode: net.n_nodes for mode, net in library.load().items()}


@pytest.fixture(scope="module")
def grid_bytes(network_dir):
    """Bytes of the small networks with their snapping indexes (part of the budget)."""
    return sum(net.nbytes() for net in NetworkLibrary(network_dir, SMALL_OSM).load().values())


def _budget_app(tmp_path, network_dir, budget, source=SMALL_OSM):
    return make_app(
        tmp_path,
        stations=stations_frame(GRID_STATIONS),
        NETWORK_DIR=str(network_dir),
        NETWORK_DEFAULT=str(source),
        ENGINE_MEMORY_BUDGET=budget,
        RATELIMIT_ENABLED=False,
    )


NEAREST = "/api/nearest?lon=116.8312&lat=40.3690&mode=walk&k=20"


def test_parse_budget_and_labels_memory(tmp_path):
    assert gnearest.parse_budget("4GB") == 4 * 2**30
    assert gnearest.parse_budget("512 MiB") == 512 * 2**20
    assert gnearest.parse_budget(1000) == 1000
    for bad in ("lots", "-1", -1, float("nan"), True, None):
        with pytest.raises(ValueError, match="ENGINE_MEMORY_BUDGET"):
            gnearest.parse_budget(bad)
    nodes = {"walk": 1_500_000, "bike": 1_400_000, "drive": 1_100_000}
    # 16 bytes per label (time, station, next node), K labels per node and mode.
    need = gnearest.labels_memory(nodes, 4)
    assert need == 16 * 4 * 4_000_000
    # Filters kept per mode: one more is made (or repaired) beside them.
    assert gnearest.check_budget(nodes, 5 * need, 4) == 4
    assert gnearest.check_budget(nodes, 100 * need, 4) == gnearest.LABEL_MASKS
    # The networks and their snapping indexes count too.
    assert gnearest.check_budget(nodes, 5 * need, 4, network=2 * need) == 2
    with pytest.raises(BudgetError) as info:
        gnearest.check_budget(nodes, 2 * need - 1, 4)
    assert isinstance(info.value, NetworkError)  # the web layer answers 503
    assert str(info.value).startswith("路由数据需要约 488.3 MiB 内存，超过预算 488.3 MiB")
    assert "4,000,000 road nodes × 4 nearest stations each" in str(info.value)
    with pytest.raises(BudgetError, match=r"networks and snapping indexes 1\.0 GiB"):
        gnearest.check_budget(nodes, 3 * need, 4, network=2**30)
    for key, bad in (
        ("ENGINE_MEMORY_BUDGET", "a lot"),
        ("ROUTING_LABELS", 0),
        ("ROUTING_LABELS", "4"),
    ):
        with pytest.raises(ValueError, match=key):
            # Its store under tmp_path: never the checkout's instance/ (shared by the workers).
            create_app({"TESTING": True, "STORE_PATH": str(tmp_path / "live.gpkg"), key: bad})


def test_stations_take_no_routing_memory_and_filters_are_kept_within_the_budget(
    tmp_path, network_dir, grid_nodes, grid_bytes
):
    one = gnearest.labels_memory(grid_nodes, gnearest.K_LABELS)
    app = _budget_app(tmp_path, network_dir, budget=f"{grid_bytes + 3 * one}B")
    client, runner = app.test_client(), app.test_cli_runner()
    assert client.get(NEAREST).get_json()["stale"] is None
    # Another station costs no routing memory: the import goes through.
    path = _csv(tmp_path / "one.csv", HEADER, [["第六站", "116.8330", "40.3700", "24/7"]])
    r = runner.invoke(args=["stations", "import", str(path)])
    assert r.exit_code == 0, r.output
    body = client.get(NEAREST).get_json()
    assert body["stale"] is None
    assert "第六站" in {x["name"] for x in body["results"]}
    # Three station filters, two kept (the budget holds two filters' labels per mode).
    for query in ("", "&open=false", "&kind=worker_home&open=false"):
        assert client.get(NEAREST + query).status_code == 200
    engine = app.extensions[ENGINE_KEY].get()
    engine.settle()  # labels of a new filter are made in the background
    assert len(engine._routing["walk"]._cache) == 2
    # The first filter again: its labels are made again, and answer the same.
    again = client.get(NEAREST).get_json()["results"]
    assert [(x["id"], x["travel_time_s"], x["route"]) for x in again] == [
        (x["id"], x["travel_time_s"], x["route"]) for x in body["results"]
    ]
    r = runner.invoke(args=["network", "info"])
    assert "在预算内 / within budget" in r.output


def test_with_nothing_older_the_engine_answers_503(tmp_path, network_dir):
    app = _budget_app(tmp_path, network_dir, budget=1000)
    r = app.test_client().get(NEAREST)
    assert r.status_code == 503
    assert "超过预算" in r.get_json()["error"]
    r = app.test_cli_runner().invoke(args=["network", "warm"])
    assert r.exit_code == 1
    assert "路由数据未建立" in r.output


def test_a_network_over_budget_is_not_switched_to(tmp_path, network_dir, grid_nodes, grid_bytes):
    source = tmp_path / "net.osm"
    shutil.copyfile(SMALL_OSM, source)
    one = grid_bytes + 2 * gnearest.labels_memory(grid_nodes, gnearest.K_LABELS)
    app = _budget_app(tmp_path, network_dir, budget=one, source=source)
    provider = app.extensions[ENGINE_KEY]
    client = app.test_client()
    first = provider.get()
    assert client.get(NEAREST).get_json()["stale"] is None
    # The active network changes (as after `flask network import`) and the new engine
    # would be over the budget (here: the budget shrinks): the old engine keeps answering.
    provider.budget = one - 1
    os.utime(source, ns=(1, 1))
    assert provider.get() is first
    body = client.get(NEAREST).get_json()
    assert body["stale"]["causes"] == ["network"]
    assert body["stale"]["reason"].startswith("路网比路由数据新，仍按原路网作答：路由数据需要约")
    assert "answers use the previous network" in body["stale"]["reason"]
    assert body["stale"]["stations_served"] == len(GRID_STATIONS)
    assert provider.get() is first  # refused once, not rebuilt on every request
    r = app.test_cli_runner().invoke(args=["network", "warm"])
    assert "routing data is stale" in r.output
    # With the budget back, the provider switches to the new network.
    provider.budget = one
    assert provider.get() is not first
    assert client.get(NEAREST).get_json()["stale"] is None


def test_hostile_geojson_values_are_row_errors(unchanged, tmp_path):
    features = [
        {"type": "Feature", "geometry": None,
         "properties": {"name": {"a": "x" * 1000}, "lon": 10**400, "lat": True,
                        "opening_hours": ["24/7"] * 300}},
    ]  # fmt: skip
    path = tmp_path / "h.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(ValidationError) as info:
        catalog.import_file(unchanged, "stations", path)
    errors = {e.column: e.message for e in info.value.errors}
    assert "too long" in errors["name"]
    assert "not a finite number" in errors["lon"]
    assert "not a number" in errors["lat"]
    assert "too long" in errors["opening_hours"]
    huge = tmp_path / "int.geojson"
    huge.write_text('{"type": "FeatureCollection", "features": [' + "9" * 5000 + "]}")
    with pytest.raises(FileFormatError, match="invalid JSON"):
        catalog.import_file(unchanged, "stations", huge)
