"""Tour plan files parsed back (GPX, CSV, XLSX, GeoJSON), the printable HTML schedule, and the
``flask tours`` commands."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import gpxpy
import openpyxl
import pytest
from conftest import stations_frame
from test_tour import KINDS, POINTS, QUICK

from geoservice import escape, network
from geoservice.network import osm
from geoservice.store import GpkgStore
from geoservice.tours import export as tour_export
from geoservice.tours import planner as tour
from geoservice.tours.request import TourRequest
from geoservice.web import DEFAULT_GPKG, STORE_KEY, get_tour_store

HOSTILE = '=HYPERLINK("http://x","点我")<script>alert(1)</script>'


def _frame():
    names = list(POINTS)
    frame = stations_frame(
        list(POINTS.values()),
        kinds=[KINDS.get(n, "warm_station") for n in names],
        names=[HOSTILE if n == "S2" else f"站{n}" for n in names],
    )
    frame["id"] = names
    return frame


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved plan over two dated days with a lunch each and one unserved stop."""
    from conftest import SMALL_OSM

    store = GpkgStore(tmp_path_factory.mktemp("export") / "live.gpkg", seed=DEFAULT_GPKG)
    store.update("stations", lambda g: (_frame(), None))
    drive = network.build(osm.read_graph(SMALL_OSM), "drive", source="gulou_small.osm")
    body = {
        "stops": ["warm_station", "worker_home"],
        "days": 3,
        "service_minutes": 100,
        "start_date": "2026-03-06",
        "time_windows": {"S1": "14:00-17:00"},
    }
    request = tour.resolve(TourRequest.parse(body), store)
    result = tour.plan(request, drive, budget=QUICK)
    return {"id": "20260301-090000-abcdef", "created": "2026-03-01T09:00:00+08:00",
            "request": request.normalized, "result": result}  # fmt: skip


def test_plan_has_what_the_files_need(saved):
    result = saved["result"]
    assert len(result["days"]) >= 2
    assert result["unserved"]
    assert all(d["lunch"] for d in result["days"])


def test_gpx_parses_back(saved):
    result = saved["result"]
    gpx = gpxpy.parse(tour_export.to_gpx(saved))
    assert len(gpx.tracks) == len(result["days"])
    for track, day in zip(gpx.tracks, result["days"], strict=True):
        points = track.segments[0].points
        line = day["route"]["geometry"]["coordinates"]
        assert len(points) == len(line)
        assert points[0].longitude == pytest.approx(line[0][0])
        assert points[0].latitude == pytest.approx(line[0][1])
        assert day["date"] in track.name
    stops = [s for d in result["days"] for s in d["stops"]]
    assert len(gpx.waypoints) == len(stops) + 1  # and the base
    by_id = {w.comment: w for w in gpx.waypoints if w.comment}
    for day in result["days"]:
        for s in day["stops"]:
            w = by_id[s["id"]]
            assert (w.longitude, w.latitude) == pytest.approx((s["lon"], s["lat"]))
            assert w.time.isoformat().startswith(f"{day['date']}T{s['arrival']}")
            assert s["start"] in w.description
            assert s["end"] in w.description
    assert any(HOSTILE in (w.name or "") for w in gpx.waypoints)  # escaped, read back intact


def test_csv_parses_back_with_formula_cells_neutralised(saved):
    data = tour_export.to_csv(saved)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == tour_export.COLUMNS
    body = rows[1:]
    result = saved["result"]
    served = [r for r in body if r[4] == "服务"]
    assert len(served) == sum(len(d["stops"]) for d in result["days"])
    assert len([r for r in body if r[4] == "午餐"]) == len(result["days"])
    assert len([r for r in body if r[4] == "出发"]) == len(result["days"])
    hostile = next(r for r in served if r[6] == "S2")
    assert hostile[5] == "'" + HOSTILE
    assert escape.unspreadsheet_cell(hostile[5]) == HOSTILE
    first = result["days"][0]["stops"][0]
    row = next(r for r in served if r[6] == first["id"])
    assert row[0] == result["days"][0]["date"]
    assert row[9:12] == [
        first["arrival"],
        first["start"],
        first["end"],
    ]
    assert row[21].startswith("https://uri.amap.com/")
    assert row[22].startswith("https://api.map.baidu.com/")


def test_schedule_rows_fill_every_column(saved):
    rows = tour_export.schedule_rows(saved)
    assert {len(r) for r in rows} == {len(tour_export.COLUMNS)}
    totals = [r for r in rows if r[4] == "当日合计"]
    days = saved["result"]["days"]
    assert [r[14:16] for r in totals] == [
        [d["totals"]["drive_min"], d["totals"]["distance_km"]] for d in days
    ]


def test_xlsx_parses_back_as_text(saved):
    wb = openpyxl.load_workbook(io.BytesIO(tour_export.to_xlsx(saved)))
    ws = wb["日程"]
    rows = list(ws.iter_rows(values_only=True))
    assert tuple(rows[0]) == tour_export.COLUMNS
    assert rows[1:]
    assert len(rows) - 1 == len(tour_export.schedule_rows(saved))
    cell = next(c for row in ws.iter_rows(min_row=2) for c in row if c.value == "'" + HOSTILE)
    assert cell.data_type == "s"  # a text cell, never a formula
    un = list(wb["未安排"].iter_rows(values_only=True))
    assert len(un) - 1 == len(saved["result"]["unserved"])
    assert {r[0] for r in un[1:]} == {u["id"] for u in saved["result"]["unserved"]}


def test_geojson(saved):
    fc = json.loads(tour_export.export(saved, "geojson"))
    roles = [f["properties"]["role"] for f in fc["features"]]
    result = saved["result"]
    assert roles.count("route") == len(result["days"])
    assert roles.count("stop") == sum(len(d["stops"]) for d in result["days"])
    assert roles.count("depot") == 1
    route = next(f for f in fc["features"] if f["properties"]["role"] == "route")
    assert route["geometry"]["type"] == "LineString"
    assert len(route["geometry"]["coordinates"]) > 2


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_printable_offline_and_escaped(saved):
    page = tour_export.to_html(saved)
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "iframe" not in parser.tags
    assert not [a for a, _ in parser.attrs if a.lower().startswith("on")]
    assert "<script>alert" not in page
    assert escape.html(HOSTILE) in page
    days = saved["result"]["days"]
    assert parser.tags.count("svg") == len(days)
    assert page.count('class="day"') == len(days)
    assert "break-after: page" in page
    assert 'lang="zh-Hans"' in page
    assert page.count("高德导航") >= sum(len(d["stops"]) for d in days)
    # Offline: nothing is loaded from anywhere (no src, no stylesheet link, no url()).
    assert not [a for a, _ in parser.attrs if a.lower() == "src"]
    assert "link" not in parser.tags
    assert "url(" not in page
    assert "@import" not in page
    for d in days:
        assert d["date"] in page


def test_write_by_extension(tmp_path, saved):
    for ext in tour_export.FORMATS:
        path = tour_export.write(saved, tmp_path / f"plan{ext}")
        assert path.stat().st_size > 100
    assert json.loads((tmp_path / "plan.json").read_text())["id"] == saved["id"]
    with pytest.raises(ValueError, match="unsupported"):
        tour_export.write(saved, tmp_path / "plan.docx")
    assert not list(tmp_path.glob(".*tmp"))


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def tour_app(app, tmp_path):
    app.extensions[STORE_KEY].update("stations", lambda g: (_frame(), None))
    app.config["TOURS_DIR"] = str(tmp_path / "tours")
    return app


def test_cli_plan_list_show(tour_app, tmp_path):
    runner = tour_app.test_cli_runner()
    out = tmp_path / "计划.gpx"
    r = runner.invoke(
        args=[
            "tours",
            "plan",
            "--stops",
            "S1,S3",
            "--stops",
            "S4",
            "--days",
            "2",
            "--service",
            "45",
            "--start-date",
            "2026-03-06",
            "--window",
            "S3=14:00-16:00",
            "--out",
            str(out),
        ]
    )
    assert r.exit_code == 0, r.output
    assert "搜索路线" in r.output
    assert "第 1 天 2026-03-06" in r.output
    gpx = gpxpy.parse(out.read_text("utf-8"))
    assert len(gpx.waypoints) == 4
    plan_id = re.search(r"方案 / plan (\S+)", r.output).group(1)
    r = runner.invoke(args=["tours", "list"])
    assert r.exit_code == 0
    assert plan_id in r.output
    csv_out = tmp_path / "plan.csv"
    r = runner.invoke(args=["tours", "show", plan_id, "--out", str(csv_out)])
    assert r.exit_code == 0
    assert "14:" in r.output
    assert csv_out.read_bytes().decode("utf-8-sig").startswith("日期,")


def test_cli_stops_and_optional_selectors_add_up(tour_app):
    runner = tour_app.test_cli_runner()
    r = runner.invoke(
        args=["tours", "plan", "--stops", "S1", "--stops", "S2", "--optional", "warm_station=4",
              "--optional", "worker_home", "--days", "2"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    plan_id = re.search(r"方案 / plan (\S+)", r.output).group(1)
    with tour_app.app_context():
        saved = get_tour_store().get(plan_id)
    assert saved["request"]["stops"] == ["S1", "S2"]
    assert saved["request"]["optional"] == {"warm_station": 4, "worker_home": 3}
    # Optional worker homes that cannot be reached are left out, not refused.
    assert {"U1", "M1", "F1"} <= {u["id"] for u in saved["result"]["unserved"]}
    r = runner.invoke(args=["tours", "plan", "--stops", "S1", "--optional", "caravan_base=2"])
    assert r.exit_code != 0  # the only base is the depot
    assert "caravan_base" in r.output
    assert "matches no stop" in r.output


def test_cli_errors(tour_app, tmp_path):
    runner = tour_app.test_cli_runner()
    r = runner.invoke(args=["tours", "plan", "--stops", "S1,NOPE"])
    assert r.exit_code != 0
    assert "NOPE" in r.output
    assert "unknown" in r.output
    r = runner.invoke(args=["tours", "plan", "--stops", "S1", "--days", "0"])
    assert r.exit_code != 0
    assert "days" in r.output
    r = runner.invoke(args=["tours", "plan", "--stops", "S1", "--out", str(tmp_path / "x.doc")])
    assert r.exit_code != 0
    assert "--out" in r.output
    r = runner.invoke(args=["tours", "plan", "--stops", "U1"])
    assert r.exit_code != 0
    assert "U1" in r.output
    r = runner.invoke(
        args=["tours", "plan", "--stops", "S1", "--service", "10", "--service-for", "S1=20"]
    )
    assert r.exit_code == 2  # a usage error, before any planning
    assert "use --service or --service-for" in r.output
    r = runner.invoke(args=["tours", "plan", "--stops", "S1", "--window", "S1"])
    assert r.exit_code == 2
    assert "--window takes ID=VALUE" in r.output
    r = runner.invoke(args=["tours", "show", "20990101-000000-000000"])
    assert r.exit_code != 0
    r = runner.invoke(args=["tours", "list"])
    assert r.exit_code == 0
    assert "no saved plans" in r.output
