"""Files of a tour plan: GPX for the drivers' phones, CSV/XLSX schedules, GeoJSON, and a
printable HTML schedule (one page per day, each with a small offline map).

The schedules (CSV, XLSX, HTML) are in zh-Hans, or in English when asked for (``lang``, one
of :data:`geoservice.i18n.LANGS`): headers, labels and sentences; names and towns are data
and stay as stored.

Every function takes a saved plan (``{"id", "created", "request", "result"}``) or a bare
plan result (:func:`geoservice.tours.planner.plan`). Strings from data reach each format escaped
for it: spreadsheet cells through :func:`geoservice.escape.spreadsheet_cell` (and XLSX text
cells typed as text, never formulas), HTML through :func:`geoservice.escape.html`, XML by
gpxpy; control characters are dropped from GPX text.

The files name the organisation that runs the caravan (``org``, the district profile's:
the GPX creator, the printable schedule's title), the shipped district's by default.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import gpxpy
import gpxpy.gpx

from geoservice import escape
from geoservice.district import MIYUN
from geoservice.i18n import DEFAULT_LANG, N_, translator
from geoservice.network.places import SCHEMATIC_LABEL

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

#: File extension → format.
FORMATS = {
    ".gpx": "gpx",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".geojson": "geojson",
    ".json": "json",
    ".html": "html",
}
#: Format → HTTP media type.
MEDIA_TYPES = {
    "gpx": "application/gpx+xml",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
#: Columns of the CSV/XLSX schedule.
COLUMNS = (
    N_("日期"),
    N_("星期"),
    N_("第几天"),
    N_("序号"),
    N_("事项"),
    N_("地点"),
    N_("编号"),
    N_("类型"),
    N_("乡镇"),
    N_("到达"),
    N_("开始"),
    N_("结束"),
    N_("等待（分钟）"),
    N_("服务（分钟）"),
    N_("车程（分钟）"),
    N_("里程（公里）"),
    N_("时间窗"),
    N_("必选/可选"),
    N_("位置"),
    N_("经度"),
    N_("纬度"),
    N_("高德导航"),
    N_("百度导航"),
)
SCHEMATIC_NOTE = N_(
    "路网为示意路网（由基础数据生成，并非实测道路），车程与里程仅供参考；"
    "标注“示意位置”的点位为推算位置。"
)
#: The ``what`` of a day's totals line (the printable schedule leaves it out).
TOTALS = N_("当日合计")
#: The organisation named in the files unless told otherwise.
DEFAULT_ORG = MIYUN["org"]
_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Colours of the days on maps, told apart with every common colour-vision deficiency
#: (Okabe & Ito's palette, and Tol's indigo and wine in place of its yellow and black,
#: which vanish on a light map or look like the base). Days beyond these repeat the
#: colours with a dash pattern (:func:`day_style`).
DAY_COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#332288",
    "#56B4E9",
    "#882255",
    "#E69F00",
)
#: Dash patterns (SVG ``stroke-dasharray``) of each further round of the colours.
DAY_DASHES = (None, "10 6", "2 6", "14 4 2 4")


def day_colour(day: int) -> str:
    """The colour of day ``day`` (1-based) on maps."""
    return DAY_COLOURS[(day - 1) % len(DAY_COLOURS)]


def day_style(day: int) -> dict:
    """Colour and dash pattern (None: solid) of day ``day``'s route (1-based): the page,
    the GeoJSON export and the printable schedule draw a day alike."""
    dash = DAY_DASHES[(day - 1) // len(DAY_COLOURS) % len(DAY_DASHES)]
    return {"colour": day_colour(day), "dash": dash}


def filenames(plan: dict, fmt: str) -> tuple[str, str]:
    """Download names of a saved plan's file: ASCII, and a Chinese one (UTF-8).

    Built from the plan's id, dates and day count only (never from data such as names),
    so both are safe in any file system and HTTP header.
    """
    ext = {v: k for k, v in FORMATS.items()}[fmt]
    result = _result(plan)
    plan_id = str(plan.get("id") or "unsaved")
    days = result.get("days", [])
    first = (days[0].get("date") if days else None) or str(plan.get("created") or "")[:10]
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", f"caravan-tour-{plan_id}{ext}")
    label = "巡回日程" if fmt in ("csv", "xlsx", "html") else "巡回路线"
    parts = ["大篷车" + label, first, f"{len(days)}天", plan_id]
    utf8_name = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", "_".join(p for p in parts if p) + ext)
    return ascii_name, utf8_name


def _result(plan: dict) -> dict:
    return plan["result"] if "result" in plan and "days" not in plan else plan


def _title(plan: dict, _: Callable[[str], str]) -> str:
    result = _result(plan)
    depot = result.get("depot", {}).get("name", "")
    days = result.get("days", [])
    when = _("{date} 起").format(date=days[0]["date"]) if days and days[0].get("date") else ""
    title = _("大篷车巡回计划 {when}（{depot} 出发，{n} 天）")
    return title.format(when=when, depot=depot, n=len(days)).replace("  ", " ")


def _optional_label(stop: dict, _: Callable[[str], str]) -> str:
    if not stop.get("optional"):
        return _("必选")
    return _("可选（优先级 {priority}）").format(priority=stop.get("priority"))


def _reason(unserved: dict, lang: str) -> str:
    """Why a stop is unserved: the planner's "中文 / English" as is, its English part in
    English."""
    zh_en = str(unserved.get("reason", ""))
    return zh_en.partition(" / ")[2] or zh_en if lang == "en" else zh_en


def _position_label(stop: dict, _: Callable[[str], str]) -> str:
    return _(SCHEMATIC_LABEL) if stop.get("coord_source") == "schematic" else _("坐标")


# -- the schedule as rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    """One line of a day's schedule: the cells of :data:`COLUMNS` after the day's own
    (date, weekday, day number), ``""`` for an empty cell, text not yet escaped."""

    seq: int | str
    what: str
    place: str
    id: str
    kind: str = ""
    town: str = ""
    arrive: str = ""
    start: str = ""
    end: str = ""
    wait: float | str = ""
    service: float | str = ""
    drive_min: float | str = ""
    distance_km: float | str = ""
    window: str = ""
    need: str = ""
    position: str = ""
    lon: float | str = ""
    lat: float | str = ""
    amap: str = ""
    baidu: str = ""

    def cells(self) -> list[object]:
        """The values in column order."""
        return [getattr(self, f.name) for f in fields(self)]


def schedule_rows(plan: dict, lang: str = DEFAULT_LANG) -> list[list[object]]:
    """The schedule as rows under :data:`COLUMNS` (departure, each stop, lunch, return and
    the day's totals for every day) in ``lang``, text not yet escaped."""
    _ = translator(lang)
    result = _result(plan)
    depot = result["depot"]
    rows: list[list[object]] = []
    for day in result["days"]:
        weekday = day.get("weekday") or ""
        head = [day.get("date") or "", _(weekday), day["day"]]
        rows.extend([*head, *r.cells()] for r in _day_rows(depot, day, _))
    return rows


def _day_rows(depot: dict, day: dict, _: Callable[[str], str]) -> list[ScheduleRow]:
    """A day's lines: lunch at the base before leaving, departure, each stop (and a lunch
    after it), return, lunch after returning, the day's totals (in the language of
    ``_``)."""
    lunch = day.get("lunch")
    legs = iter(day["legs"])  # one per drive, in the order of the lines
    rows = []
    if lunch and lunch["place"] == "start":
        rows.append(_lunch_row(lunch, _))
    rows.append(_departure_row(depot, day, _))
    for stop in day["stops"]:
        rows.append(_stop_row(stop, next(legs), _))
        if lunch and lunch.get("after_seq") == stop["seq"]:
            rows.append(_lunch_row(lunch, _, next(legs) if lunch["place"] == "depot" else None))
    rows.append(_return_row(depot, day, next(legs), _))
    if lunch and lunch["place"] == "end":
        rows.append(_lunch_row(lunch, _))
    rows.append(_totals_row(day, _))
    return rows


def _leg_cells(leg: dict | None) -> tuple[float | str, float | str]:
    """Drive minutes and kilometres of the leg that ends at a line (blank without one)."""
    if not leg:
        return "", ""
    return leg["drive_min"], round(leg["distance_m"] / 1000.0, 2)


def _nav_cells(nav: dict | None) -> tuple[str, str]:
    """The Amap and Baidu navigation links (blank without them)."""
    return (nav or {}).get("amap", ""), (nav or {}).get("baidu", "")


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _stop_row(stop: dict, leg: dict, _: Callable[[str], str]) -> ScheduleRow:
    drive, km = _leg_cells(leg)
    amap, baidu = _nav_cells(stop["navigation"])
    return ScheduleRow(
        seq=stop["seq"],
        what=_("服务"),
        place=stop["name"],
        id=stop["id"],
        kind=_(stop["kind_label"]),
        town=stop["town"],
        arrive=stop["arrival"],
        start=stop["start"],
        end=stop["end"],
        wait=stop["wait_min"],
        service=stop["service_min"],
        drive_min=drive,
        distance_km=km,
        window="-".join(stop["window"]) if stop.get("window") else "",
        need=_optional_label(stop, _),
        position=_position_label(stop, _),
        lon=_blank(stop["lon"]),
        lat=_blank(stop["lat"]),
        amap=amap,
        baidu=baidu,
    )


def _lunch_row(lunch: dict, _: Callable[[str], str], leg: dict | None = None) -> ScheduleRow:
    """The lunch break; ``leg`` is the trip back to the base for it."""
    drive, km = _leg_cells(leg)
    return ScheduleRow(
        seq="",
        what=_("午餐"),
        place=lunch["name"],
        id=lunch["id"],
        start=lunch["start"],
        end=lunch["end"],
        service=lunch["minutes"],
        drive_min=drive,
        distance_km=km,
    )


def _departure_row(depot: dict, day: dict, _: Callable[[str], str]) -> ScheduleRow:
    amap, baidu = _nav_cells(depot.get("navigation"))
    return ScheduleRow(
        seq="",
        what=_("出发"),
        place=depot["name"],
        id=depot["id"],
        kind=_(depot.get("kind_label", "")),
        town=depot.get("town", ""),
        end=day["depart"],
        lon=_blank(depot["lon"]),
        lat=_blank(depot["lat"]),
        amap=amap,
        baidu=baidu,
    )


def _return_row(depot: dict, day: dict, leg: dict, _: Callable[[str], str]) -> ScheduleRow:
    drive, km = _leg_cells(leg)
    return ScheduleRow(
        seq="",
        what=_("返回"),
        place=depot["name"],
        id=depot["id"],
        kind=_(depot.get("kind_label", "")),
        town=depot.get("town", ""),
        arrive=day["return"],
        drive_min=drive,
        distance_km=km,
    )


def _totals_row(day: dict, _: Callable[[str], str]) -> ScheduleRow:
    t = day["totals"]
    return ScheduleRow(
        seq="",
        what=_(TOTALS),
        place=_("{n} 个站点").format(n=t["stops"]),
        id="",
        start=day["depart"],
        end=day["finish"],
        wait=t["wait_min"],
        service=t["service_min"],
        drive_min=t["drive_min"],
        distance_km=t["distance_km"],
    )


# -- CSV / XLSX ---------------------------------------------------------------------------------


def to_csv(plan: dict, lang: str = DEFAULT_LANG) -> bytes:
    """The schedule as CSV in ``lang`` (UTF-8 with BOM so Excel reads Chinese headers)."""
    _ = translator(lang)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([_(c) for c in COLUMNS])
    for r in schedule_rows(plan, lang):
        writer.writerow([escape.spreadsheet_cell(v) for v in r])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(plan: dict, lang: str = DEFAULT_LANG) -> bytes:
    """The schedule as an XLSX workbook in ``lang``: a 日程 sheet, a 未安排 sheet and a 说明
    sheet. Text cells are written as text (``'=…'`` stays text, never a formula)."""
    import openpyxl  # here: the web processes that never write one start without it

    _ = translator(lang)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = _("日程")
    _sheet(ws, [_(c) for c in COLUMNS], schedule_rows(plan, lang))
    result = _result(plan)
    un = wb.create_sheet(_("未安排"))
    head = [_(c) for c in (N_("编号"), N_("名称"), N_("类型"), N_("乡镇"), N_("原因"))]
    body = [
        [
            u["id"],
            u["name"],
            _(u.get("kind_label", "")),
            u.get("town", ""),
            _reason(u, lang),
            _optional_label(u, _),
        ]
        for u in result.get("unserved", [])
    ]
    _sheet(un, [*head, _("必选/可选")], body)
    info = wb.create_sheet(_("说明"))
    notes = [[_title(plan, _)]]
    if result.get("schematic"):
        notes.append([_(SCHEMATIC_NOTE)])
    s = result.get("summary", {})
    line = _("共 {days} 天，{stops} 个站点，里程 {km} 公里，车程 {hours} 小时").format(
        days=s.get("days_used", 0),
        stops=s.get("stops_served", 0),
        km=s.get("distance_km", 0),
        hours=s.get("drive_hours", 0),
    )
    notes.append([line])
    _sheet(info, (_("说明"),), notes)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(ws: Worksheet, head: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ws.append(list(head))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c)
            if isinstance(value, str):
                cell.value = escape.spreadsheet_cell(value)
                cell.data_type = "s"  # text, never a formula
            else:
                cell.value = value
    for c in range(1, len(head) + 1):
        width = max(
            (
                len(str(ws.cell(row=r, column=c).value or ""))
                for r in range(1, min(ws.max_row, 200) + 1)
            ),
            default=4,
        )
        ws.column_dimensions[get_column_letter(c)].width = min(max(6, width * 1.6), 60)
    ws.freeze_panes = "A2"
    for row in ws.iter_rows(min_row=1, max_row=1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True)


# -- GPX ----------------------------------------------------------------------------------------


def _gpx_text(value: object) -> str:
    return _CONTROL.sub("", "" if value is None else str(value))


def _at(date: str | None, hhmm: str) -> dt.datetime | None:
    if not date or not hhmm:
        return None
    h, m = (int(x) for x in hhmm.split(":"))
    day = dt.date.fromisoformat(date) + dt.timedelta(days=h // 24)
    return dt.datetime.combine(day, dt.time(h % 24, m), tzinfo=_TZ)


def to_gpx(plan: dict, org: str = DEFAULT_ORG) -> str:
    """GPX 1.1 (WGS84): one track per day along the roads, one waypoint per stop (name,
    times in its description, and ``time`` = arrival when the plan has dates); ``org`` is
    named as its creator."""
    result = _result(plan)
    gpx = gpxpy.gpx.GPX()
    gpx.creator = _gpx_text(f"geoservice {org}")
    gpx.name = _gpx_text(_title(plan, translator()))
    if result.get("schematic"):
        gpx.description = _gpx_text(SCHEMATIC_NOTE)
    depot = result["depot"]
    gpx.waypoints.append(
        gpxpy.gpx.GPXWaypoint(
            latitude=depot["lat"],
            longitude=depot["lon"],
            name=_gpx_text(depot["name"]),
            description="出发/返回基地",
            symbol="Flag",
        )
    )
    for day in result["days"]:
        label = f"第{day['day']}天" + (f" {day['date']}" if day.get("date") else "")
        track = gpxpy.gpx.GPXTrack(name=_gpx_text(label))
        track.number = day["day"]
        segment = gpxpy.gpx.GPXTrackSegment()
        for lon, lat in day["route"]["geometry"]["coordinates"]:
            segment.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon))
        track.segments.append(segment)
        gpx.tracks.append(track)
        lunch = day.get("lunch")
        for stop in day["stops"]:
            desc = (
                f"{label} 第{stop['seq']}站：到达 {stop['arrival']}，"
                f"服务 {stop['start']}–{stop['end']}"
            )
            if lunch and lunch["place"] == "stop" and lunch.get("after_seq") == stop["seq"]:
                desc += f"，午餐 {lunch['start']}–{lunch['end']}"
            if stop.get("coord_source") == "schematic":
                desc += "（示意位置）"
            gpx.waypoints.append(
                gpxpy.gpx.GPXWaypoint(
                    latitude=stop["lat"],
                    longitude=stop["lon"],
                    name=_gpx_text(f"D{day['day']}-{stop['seq']:02d} {stop['name']}"),
                    description=_gpx_text(desc),
                    comment=_gpx_text(stop["id"]),
                    time=_at(day.get("date"), stop["arrival"]),
                    type=_gpx_text(stop["kind_label"]),
                )
            )
    return gpx.to_xml(version="1.1")


# -- GeoJSON ------------------------------------------------------------------------------------


def to_geojson(plan: dict) -> dict:
    """A FeatureCollection: each day's route (LineString), each stop (Point, with its day,
    sequence and times), the depot, and the unserved stops that have a position."""
    result = _result(plan)
    features = []
    depot = result["depot"]
    features.append(_point(depot, {"role": "depot", **_plain(depot)}))
    for day in result["days"]:
        route = dict(day["route"])
        route["properties"] = {
            "role": "route",
            "day": day["day"],
            "date": day.get("date"),
            **day_style(day["day"]),
            **day["totals"],
        }
        features.append(route)
        for stop in day["stops"]:
            features.append(
                _point(
                    stop,
                    {"role": "stop", "day": day["day"], "date": day.get("date"), **_plain(stop)},
                )
            )
    for u in result.get("unserved", []):
        features.append(_point(u, {"role": "unserved", **_plain(u)}))
    return {
        "type": "FeatureCollection",
        "schematic": bool(result.get("schematic")),
        "summary": result.get("summary", {}),
        "features": features,
    }


def _plain(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in ("lon", "lat")}


def _point(rec: dict, props: dict) -> dict:
    geom = None
    if rec.get("lon") is not None and rec.get("lat") is not None:
        geom = {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
    return {"type": "Feature", "geometry": geom, "properties": props}


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { font-size: 1.25em; border-bottom: 3px solid var(--c); padding-bottom: .2em; }
.note { background: #fff4ce; border: 1px solid #e0c060; padding: .4em .7em; }
.day { break-after: page; page-break-after: always; }
.day:last-of-type { break-after: auto; page-break-after: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { border: 1px solid #999; padding: .25em .4em; text-align: left; vertical-align: top; }
th { background: #eee; }
tr.lunch td { background: #f3f8ff; }
tr.depot td { background: #f6f6f6; }
svg.map { width: 100%; max-width: 720px; height: auto; border: 1px solid #ccc;
          background: #fcfcf8; display: block; margin: .5em 0; }
.totals { margin: .4em 0; }
.schematic { color: #a05a00; font-size: .85em; }
@media print { body { margin: 0; } a { color: inherit; } }
"""


def to_html(plan: dict, org: str = DEFAULT_ORG, lang: str = DEFAULT_LANG) -> str:
    """A printable schedule of ``org`` in ``lang``: a cover summary, then one page per day
    with its map (inline SVG drawn from the route's coordinates: offline, no script) and
    its table with navigation links. No scripts or event handlers; every data string
    escaped."""
    _ = translator(lang)
    result = _result(plan)
    h = escape.html
    s = result.get("summary", {})
    title = _title(plan, _)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{h(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(title)} · {h(org)}</title><style>{_CSS}</style></head><body>",
        f'<p class="org">{h(org)}</p>',
        f"<h1>{h(title)}</h1>",
    ]
    if result.get("schematic"):
        parts.append(f'<p class="note">{h(_(SCHEMATIC_NOTE))}</p>')
    for note in result.get("notices", []):
        parts.append(f'<p class="note">{h(note["en" if lang == "en" else "zh"])}</p>')
    summary = _(
        "共 {days} 天（可用 {available} 天），{stops} 个站点；里程 {km} 公里，"
        "车程 {drive} 小时，服务 {service} 小时。"
    ).format(
        days=s.get("days_used", 0),
        available=s.get("days_available", 0),
        stops=s.get("stops_served", 0),
        km=s.get("distance_km", 0),
        drive=s.get("drive_hours", 0),
        service=s.get("service_hours", 0),
    )
    if plan.get("id"):
        summary += " " + _("方案编号 {id}。").format(id=plan["id"])
    parts.append(f"<p>{h(summary)}</p>")
    unserved = result.get("unserved", [])
    if unserved:
        left = _("未安排 {n} 个站点（见末页）。").format(n=len(unserved))
        parts.append(f"<p>{h(left)}</p>")
    for day in result["days"]:
        parts.append(_html_day(result, day, _))
    if unserved:
        parts.append(_html_unserved(unserved, lang))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_unserved(unserved: list[dict], lang: str) -> str:
    _ = translator(lang)
    h = escape.html
    heads = (N_("编号"), N_("名称"), N_("类型"), N_("乡镇"), N_("原因"))
    title = _("未安排的站点")
    parts = [
        f'<section class="unserved"><h2 style="--c:#999">{h(title)}</h2><table>',
        "<tr>" + "".join(f"<th>{h(_(c))}</th>" for c in heads) + "</tr>",
    ]
    for u in unserved:
        parts.append(
            f"<tr><td>{h(u['id'])}</td><td>{h(u['name'])}</td>"
            f"<td>{h(_(u.get('kind_label', '')))}</td><td>{h(u.get('town', ''))}</td>"
            f"<td>{h(_reason(u, lang))}</td></tr>"
        )
    parts.append("</table></section>")
    return "\n".join(parts)


#: The printable schedule's columns.
_HTML_COLUMNS = (
    N_("序号"),
    N_("事项"),
    N_("地点"),
    N_("到达"),
    N_("开始"),
    N_("结束"),
    N_("车程（分钟）"),
    N_("里程（公里）"),
    N_("导航"),
)


def _html_day(result: dict, day: dict, _: Callable[[str], str]) -> str:
    h = escape.html
    colour = day_colour(day["day"])
    weekday = day.get("weekday") or ""
    when = " · ".join(x for x in (day.get("date"), _(weekday)) if x)
    t = day["totals"]
    heading = _("第 {n} 天").format(n=day["day"]) + (f" · {when}" if when else "")
    totals = _(
        "{depart} 出发，{back} 返回；{stops} 个站点，里程 {km} 公里，车程 {drive} 分钟，"
        "服务 {service} 分钟，等待 {wait} 分钟。"
    ).format(
        depart=day["depart"],
        back=day["return"],
        stops=t["stops"],
        km=t["distance_km"],
        drive=t["drive_min"],
        service=t["service_min"],
        wait=t["wait_min"],
    )
    out = [
        f'<section class="day" style="--c:{colour}">',
        f"<h2>{h(heading)}</h2>",
        f'<p class="totals">{h(totals)}</p>',
        _svg_map(result, day, colour, _),
        "<table><tr>" + "".join(f"<th>{h(_(c))}</th>" for c in _HTML_COLUMNS) + "</tr>",
    ]
    classes = {_("午餐"): "lunch", _("出发"): "depot", _("返回"): "depot"}
    amap, baidu = _("高德导航"), _("百度导航")
    for r in _day_rows(result["depot"], day, _):
        if r.what == _(TOTALS):
            continue
        cls = classes.get(r.what, "")
        place = h(r.place)
        if r.position == _(SCHEMATIC_LABEL):
            note = _("（{label}）").format(label=r.position)
            place += f' <span class="schematic">{h(note)}</span>'
        links = ""
        if r.amap:
            links = (
                f'<a href="{h(r.amap)}" rel="noopener noreferrer">{h(amap)}</a> '
                f'<a href="{h(r.baidu)}" rel="noopener noreferrer">{h(baidu)}</a>'
            )
        out.append(
            f'<tr class="{cls}"><td>{h(r.seq)}</td><td>{h(r.what)}</td><td>{place}</td>'
            f"<td>{h(r.arrive)}</td><td>{h(r.start)}</td><td>{h(r.end)}</td>"
            f"<td>{h(r.drive_min)}</td><td>{h(r.distance_km)}</td><td>{links}</td></tr>"
        )
    out.append("</table></section>")
    return "\n".join(out)


def _svg_map(
    result: dict,
    day: dict,
    colour: str,
    _: Callable[[str], str],
    width: int = 720,
    height: int = 420,
) -> str:
    """The day's route and numbered stops as an inline SVG (equirectangular, north up)."""
    h = escape.html
    line = day["route"]["geometry"]["coordinates"]
    depot = result["depot"]
    points = [(s["lon"], s["lat"]) for s in day["stops"]]
    xs = [p[0] for p in line] + [p[0] for p in points] + [depot["lon"]]
    ys = [p[1] for p in line] + [p[1] for p in points] + [depot["lat"]]
    lat0 = (min(ys) + max(ys)) / 2
    kx = math.cos(math.radians(lat0))
    w = max((max(xs) - min(xs)) * kx, 1e-4)
    hgt = max(max(ys) - min(ys), 1e-4)
    pad = 24
    scale = min((width - 2 * pad) / w, (height - 2 * pad) / hgt)
    x0 = pad + ((width - 2 * pad) - w * scale) / 2
    y0 = pad + ((height - 2 * pad) - hgt * scale) / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (x0 + (lon - min(xs)) * kx * scale, y0 + (max(ys) - lat) * scale)

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p) for p in line))
    label, north = _("第{n}天路线图").format(n=day["day"]), _("北 ↑")
    km_px = scale * kx / (111.32 * kx)  # pixels per km (east-west)
    bar_km = _nice(60 / max(km_px, 1e-9))
    bar_px = bar_km * km_px
    out = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{h(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3" '
        'stroke-linejoin="round" stroke-linecap="round" opacity="0.85"/>',
    ]
    dx, dy = xy(depot["lon"], depot["lat"])
    out.append(
        f'<rect x="{dx - 7:.1f}" y="{dy - 7:.1f}" width="14" height="14" fill="#222">'
        f"<title>{h(depot['name'])}</title></rect>"
    )
    for stop, (lon, lat) in zip(day["stops"], points, strict=True):
        x, y = xy(lon, lat)
        dash = ' stroke-dasharray="2 2"' if stop.get("coord_source") == "schematic" else ""
        out.append(
            f'<g><circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="#fff" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text x="{x:.1f}" y="{y + 4:.1f}" font-size="10" '
            f'text-anchor="middle" fill="#000">{h(stop["seq"])}</text>'
            f"<title>{h(stop['seq'])}. {h(stop['name'])} {h(stop['start'])}–{h(stop['end'])}"
            "</title></g>"
        )
    out.append(
        f'<g><line x1="{pad}" y1="{height - 10}" x2="{pad + bar_px:.1f}" y2="{height - 10}" '
        'stroke="#333" stroke-width="2"/>'
        f'<text x="{pad + bar_px + 4:.1f}" y="{height - 6}" font-size="10">{h(bar_km)} km</text>'
        f'<text x="{width - pad}" y="{pad}" font-size="12" text-anchor="end">'
        f"{h(north)}</text></g>"
    )
    out.append("</svg>")
    return "".join(out)


def _nice(x: float) -> float:
    """The largest of 1, 2, 5 × 10^k not above ``x``."""
    if x <= 0:
        return 1.0
    k = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10**k <= x:
            return float(m * 10**k) if k < 0 else int(m * 10**k)
    return float(10**k)


# -- files --------------------------------------------------------------------------------------


def export(plan: dict, fmt: str, org: str = DEFAULT_ORG, lang: str = DEFAULT_LANG) -> bytes:
    """The plan in ``fmt`` (a value of :data:`FORMATS`) as bytes, naming ``org``; the
    schedules (CSV, XLSX, HTML) in ``lang``."""
    if fmt == "gpx":
        return to_gpx(plan, org).encode("utf-8")
    if fmt == "csv":
        return to_csv(plan, lang)
    if fmt == "xlsx":
        return to_xlsx(plan, lang)
    if fmt == "geojson":
        return json.dumps(to_geojson(plan), ensure_ascii=False).encode("utf-8")
    if fmt == "json":
        return json.dumps(plan, ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "html":
        return to_html(plan, org, lang).encode("utf-8")
    msg = f"unknown format {fmt!r}; expected one of {', '.join(FORMATS.values())}"
    raise ValueError(msg)


def format_of(path: str | Path) -> str:
    """The format of a file name by its extension.

    Raises
    ------
    ValueError
        For an extension that is not one of :data:`FORMATS`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        msg = (
            f"不支持的文件类型 {suffix or '（无扩展名）'} / unsupported file type "
            f"{suffix or '(none)'!r}; use {', '.join(FORMATS)}"
        )
        raise ValueError(msg)
    return FORMATS[suffix]


def write(plan: dict, path: str | Path, org: str = DEFAULT_ORG) -> Path:
    """Write the plan to ``path`` in the format of its extension, atomically."""
    path = Path(path)
    data = export(plan, format_of(path), org)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
