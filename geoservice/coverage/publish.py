"""Publish coverage as a self-contained static site (``flask coverage publish``).

The folder holds:

``index.html``
    A Folium map (zh-Hans): coverage areas by threshold, cross-coverage shading,
    catchments, uncovered roads, suggested sites, stations, a per-town table, a legend and
    the notices. Every script, style and font is copied into ``vendor/`` and referenced
    by a relative URL: the page opens from ``file://`` without internet.
``*.geojson``
    The layers (WGS84): ``areas``, ``cross``, ``catchments``, ``uncovered``, ``stations``,
    ``suggested_sites``. Geometry is simplified by `FILE_TOLERANCE_M` (0.5 m, about one
    screen pixel at the map's closest zoom, half the 1 m by which road lines are simplified
    before they are buffered) and coordinates are rounded to 6 decimals (≈ 0.1 m); the
    pieces of a gap or catchment are merged into lines where they meet.
``coverage_by_town.csv`` / ``.xlsx``
    The figures per town (Chinese headers; text cells neutralised for spreadsheets); not
    written for a district without towns.
``charts/*.png``
    A chart per town and one for the district (matplotlib, Noto Sans CJK).

Names, codes and the map's frame come from the district profile
(:func:`geoservice.district.current`); a network that lies outside the district is framed
instead of the district, and the notices say so (路网不在本区范围内).
``coverage.json``
    Every figure, as the API gives it.

Publishing is deterministic: the same data give the same bytes except the one line of
``index.html`` that says when it was published (element ids, PNG metadata and the
spreadsheet's timestamps are fixed). The site is written into a temporary folder beside
the target and swapped in only when complete, so a failed publish leaves the old site.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import re
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from unittest import mock

import branca.element
import folium
import folium.plugins
import numpy as np

from geoservice import assets, escape, maps
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.coverage import MODE_LABELS, Coverage, CoverageEngine, CoverageQuery, siting
from geoservice.errors import PublishError
from geoservice.i18n import DEFAULT_LANG, N_, translator
from geoservice.model import STATION_KINDS
from geoservice.network import Network

__all__ = ["find_cjk_font", "publish"]

#: Colours of the coverage areas, smallest threshold first.
AREA_COLORS = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43")
CROSS_COLOR = "#3f007d"
UNCOVERED_COLOR = "#d7301f"
SITE_COLOR = "#08519c"
#: The fonts matplotlib may use for Chinese labels, best first.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
)
#: Font files to look for when matplotlib's cached font list predates the font.
CJK_FILES = ("NotoSansCJK-Regular", "NotoSansCJKsc-Regular", "NotoSerifCJK-Regular",
             "wqy-zenhei")  # fmt: skip
#: Simplification (m) of the published GeoJSON layers: see the module docstring.
FILE_TOLERANCE_M = 0.5
#: The map's own copies of the layers are lighter: simplified by 3 m (sub-pixel up to
#: zoom 15), coordinates to 5 decimals (≈ 1 m).
MAP_TOLERANCE_M = 3.0
MAP_DECIMALS = 5
#: The district boundary and the water bodies on the map likewise (degrees, ≈ 3 m).
_MAP_TOLERANCE_DEG = MAP_TOLERANCE_M / 111_000
_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_FIXED_W3CDTF = "2000-01-01T00:00:00Z"
_LOCK = threading.Lock()

TOWN_HEADERS = {
    "code": N_("乡镇代码"),
    "name": N_("乡镇（街道，近似）"),
    "road_km": N_("居民生产道路（公里）"),
    "all_road_km": N_("全路网道路（公里）"),
    "villages": N_("已定位村庄（社区）数"),
    "villages_schematic": N_("其中示意位置"),
    "acftu_share": N_("1公里内道路占比（全总标准）"),
}


def find_cjk_font() -> str:
    """Path of a font with Chinese glyphs, found through matplotlib's font manager.

    Raises
    ------
    PublishError
        No CJK font is installed (``bash .ci/setup`` installs Debian's ``fonts-noto-cjk``).
    """
    from matplotlib import font_manager

    def weight(f) -> int:
        w = f.weight if isinstance(f.weight, int) else 400
        return abs(w - 400) + (0 if f.style == "normal" else 1000)

    for family in CJK_FONTS:
        found = [f for f in font_manager.fontManager.ttflist if f.name == family]
        if found:
            return min(found, key=lambda f: (weight(f), f.fname)).fname
    # A font installed after matplotlib cached its font list: look on disk.
    files = sorted(font_manager.findSystemFonts())
    for stem in CJK_FILES:
        for path in files:
            if Path(path).name.lower().startswith(stem.lower()):
                font_manager.fontManager.addfont(path)
                return path
    msg = (
        "未找到中文字体，无法绘制图表；请安装 fonts-noto-cjk（bash .ci/setup）/ "
        "no CJK font found for the charts: install Debian's fonts-noto-cjk (bash .ci/setup)"
    )
    raise PublishError(msg)


# -- the whole site ---------------------------------------------------------------------------


def publish(
    engine: CoverageEngine,
    out: Path,
    args: Mapping[str, object] | None = None,
    *,
    allow_sample: bool = False,
    now: dt.datetime | None = None,
    lang: str = DEFAULT_LANG,
) -> str:
    """Compute coverage and suggested sites for ``args`` and write the static site.

    Parameters
    ----------
    engine : CoverageEngine
    out : Path
        The site folder; replaced as a whole (a ``README.md`` in it is kept).
    args : mapping
        Coverage parameters (``mode``, ``minutes``, ``kind``, ``amenity``, ``open_at``) and
        ``n``, the number of suggested sites (0 for none).
    allow_sample : bool
        Needed when the stations are sample data or the network is schematic.
    now : datetime, optional
        The publication time printed on the map (default: now).
    lang : str, default zh-Hans
        The language of the map page and the per-town tables (:data:`geoservice.i18n.LANGS`).

    Returns
    -------
    str
        A short report of what was written.

    Raises
    ------
    ParameterError
        Bad parameters.
    PublishError
        Sample data or a schematic network without ``allow_sample``; no CJK font.
    """
    args = dict(args or {})
    raw_n = args.pop("n", None)
    query = CoverageQuery.parse(args)
    n = (
        0
        if str(raw_n).strip() == "0"
        else siting.SitingQuery.parse({**args, "minutes": query.minutes[-1], "n": raw_n}).n
    )
    font = find_cjk_font()
    cov = engine.compute(query)
    problems = []
    if cov.network["schematic"]:
        problems.append("路网为示意路网 / the road network is schematic")
    if cov.sample:
        problems.append("驿站为示例数据 / the stations are sample data")
    if problems and not allow_sample:
        msg = (
            "；".join(problems)
            + "。确需发布请加 --allow-sample（地图将标明）/ add --allow-sample to publish "
            "anyway (the map then says so)"
        )
        raise PublishError(msg)
    suggested = None
    if n:
        sq = siting.SitingQuery(
            coverage=CoverageQuery(**{**query.__dict__, "minutes": query.minutes[-1:]}), n=n
        )
        suggested = siting.suggest(engine, sq)
    now = _hours.as_local(now)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        files = _write_site(tmp, cov, suggested, font, now, engine, lang)
        readme = out / "README.md"
        if readme.is_file():
            shutil.copy2(readme, tmp / "README.md")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return (
        f"已发布 / published {len(files)} files to {out} "
        f"({len(cov.stations)} 个站点 stations, {len(cov.towns)} 个乡镇 towns"
        + (f", {len(suggested.sites)} 个建议站址 suggested sites" if suggested else "")
        + ")"
    )


def _swap(tmp: Path, out: Path) -> None:
    """Put the finished folder in place of the old one (each step a rename)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_site(
    folder: Path,
    cov: Coverage,
    suggested: siting.Siting | None,
    font: str,
    now: dt.datetime,
    engine: CoverageEngine,
    lang: str,
) -> list[str]:
    files: list[str] = []
    layers = cov.layers(tolerance_m=FILE_TOLERANCE_M)
    sites_fc = (
        suggested.to_geojson() if suggested else {"type": "FeatureCollection", "features": []}
    )
    sites_fc = {"type": "FeatureCollection", "features": sites_fc["features"]}
    for name, fc in [*layers.items(), ("suggested_sites", sites_fc)]:
        _write_text(folder / f"{name}.geojson", _json(fc))
        files.append(f"{name}.geojson")
    figures = cov.to_dict()
    if suggested is not None:
        # Solver timings would make two publications of the same data differ.
        answer = suggested.to_dict()
        figures["suggested"] = {
            **answer,
            "solver": _timeless(answer["solver"]),
            "greedy": _timeless(answer["greedy"]),
        }
    _write_text(folder / "coverage.json", _json(figures))
    files.append("coverage.json")
    district = _district.current(engine.store)
    if cov.towns:  # a district without towns has no per-town table
        header, rows = town_table(cov, district, lang)
        _write_csv(folder / "coverage_by_town.csv", header, rows)
        _write_xlsx(folder / "coverage_by_town.xlsx", header, rows)
        files += ["coverage_by_town.csv", "coverage_by_town.xlsx"]
    (folder / "charts").mkdir()
    charts = _charts(folder / "charts", cov, font, district)
    files += [f"charts/{c}" for c in charts]
    vendor = folder / "vendor"
    shutil.copytree(assets.vendor_dir(), vendor, ignore=shutil.ignore_patterns("fetch.sh", "*.sh"))
    files.append("vendor/")
    roads = engine.networks[cov.query.mode].major_roads()
    light = cov.layers(tolerance_m=MAP_TOLERANCE_M, decimals=MAP_DECIMALS)
    page = _map_html(cov, light, sites_fc, roads, charts, now, engine, lang)
    _write_text(folder / "index.html", page)
    files.append("index.html")
    return files


def _timeless(info: Mapping[str, object]) -> dict[str, object]:
    """``info`` without its timings."""
    return {k: v for k, v in info.items() if "seconds" not in k}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


# -- tables ---------------------------------------------------------------------------------


#: The per-town table's columns of each threshold (``{m}``: its minutes).
THRESHOLD_HEADERS = (
    N_("{m}分钟覆盖道路（公里）"),
    N_("{m}分钟道路覆盖率"),
    N_("{m}分钟覆盖面积（平方公里）"),
    N_("{m}分钟双站覆盖道路（公里）"),
    N_("{m}分钟全路网覆盖率"),
    N_("{m}分钟村庄覆盖率"),
)


def town_table(
    cov: Coverage, district: _district.District, lang: str = DEFAULT_LANG
) -> tuple[list[str], list[list[object]]]:
    """Header (in ``lang``) and rows of the per-town figures, the district last."""
    _ = translator(lang)
    minutes = cov.query.to_dict()["minutes"]
    header = [_(TOWN_HEADERS[k]) for k in ("code", "name", "road_km", "all_road_km")]
    for m in minutes:
        header += [_(h).format(m=m) for h in THRESHOLD_HEADERS]
    header += [_(TOWN_HEADERS[k]) for k in ("villages", "villages_schematic", "acftu_share")]
    rows = []
    whole = {"code": district.code, "name": district.whole_label, **cov.district}
    for t in [*cov.towns, whole]:
        row: list[object] = [t["code"], t["name"], t["road_km"], t["all_road_km"]]
        for th in t["thresholds"]:
            row += [
                th["covered_km"],
                th["covered_share"],
                th["area_km2"],
                th["cross_km"],
                th["all_roads"]["covered_share"],
                th["villages_share"],
            ]
        row += [t["villages"], t["villages_schematic"], t["acftu_share"]]
        rows.append(row)
    return header, rows


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else escape.spreadsheet_cell(v) for v in row])


def _write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """An XLSX file whose bytes depend only on its content (fixed zip and core times)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "乡镇覆盖"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([escape.spreadsheet_cell(v) for v in row])
    for i, h in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = max(10, min(30, len(h) * 2))
    fixed = dt.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", _FIXED_W3CDTF.encode(), data)
            fixed_info = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed_info.compress_type = zipfile.ZIP_DEFLATED
            fixed_info.external_attr = 0o600 << 16
            dst.writestr(fixed_info, data)


# -- charts ---------------------------------------------------------------------------------


def _charts(folder: Path, cov: Coverage, font: str, district: _district.District) -> list[str]:
    """One PNG per town and one for the district: shares by threshold.

    Drawing text with the CJK font is what costs, and only the bars, the dashed line, the
    title and one note change from town to town: the figure is drawn once without them,
    and each chart is that background with those artists drawn over it, then the axes
    frame and the legend, as a full drawing stacks them.
    """
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    prop = font_manager.FontProperties(fname=font)
    minutes = cov.query.to_dict()["minutes"]
    entries = [("district", district.whole_label, cov.district, False)] + [
        (t["code"] or "unassigned", t["name"], t, True)
        for t in cov.towns
        if t["all_road_km"] > 0 or t["villages"] > 0
    ]
    series = (
        ("居民生产道路覆盖率", "covered_share", "#1a9850"),
        ("双站覆盖", "cross_share", CROSS_COLOR),
        ("村庄（社区）覆盖率", "villages_share", "#fdae61"),
    )
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(minutes))
    width = 0.26
    bars = [
        ax.bar(x + (i - 1) * width, np.zeros(len(x)), width, label=name, color=color)
        for i, (name, _, color) in enumerate(series)
    ]
    ax.set_xticks(x, [f"{m} 分钟" for m in minutes], fontproperties=prop)
    ax.set_ylim(0, 100)
    ax.set_ylabel("百分比 %", fontproperties=prop)
    title = ax.set_title(district.whole_label, fontproperties=prop)
    line = ax.axhline(0, color="#555", ls="--", lw=1)
    legend = ax.legend(prop=prop, fontsize=8, loc="upper left")
    note = ax.text(
        0.99, 0.97, " ", transform=ax.transAxes, ha="right", va="top",
        fontproperties=prop, fontsize=8,
    )  # fmt: skip
    fig.tight_layout()
    # The background: bars at zero; no line, title, note, axes frame or legend.
    on_top = [line, *ax.spines.values(), note, title, legend]
    title.set_text("")
    for artist in on_top:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in on_top:
        artist.set_visible(True)
    names = []
    for key, label, fig_data, approximate in entries:
        for bar, (_, field, _) in zip(bars, series, strict=True):
            for rect, th in zip(bar.patches, fig_data["thresholds"], strict=True):
                rect.set_height(0.0 if th[field] is None else 100 * th[field])
        title.set_text(
            f"{label}{'（近似）' if approximate else ''} · {MODE_LABELS[cov.query.mode]}覆盖"
        )
        share = fig_data["acftu_share"]
        y = 0 if share is None else 100 * share
        line.set_ydata([y, y])
        note.set_text(f"1 公里内道路：{'—' if share is None else f'{100 * share:.1f}%'}（虚线）")
        canvas.restore_region(background)
        for artist in [*(r for b in bars for r in b.patches), *on_top]:
            ax.draw_artist(artist)
        name = f"{_safe(key)}.png"
        # PIL writes no date or software: the bytes depend on the figures only.
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(folder / name, format="png")
        names.append(name)
    return names


def _safe(key: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", key)


# -- the map --------------------------------------------------------------------------------


@contextlib.contextmanager
def _fixed_ids() -> Iterator[None]:
    """Number folium/branca element ids in creation order instead of random ids."""
    counter = itertools.count()

    def numbered(_self: branca.element.Element) -> str:
        return f"{next(counter):08x}"

    with _LOCK, mock.patch.object(branca.element.Element, "_generate_id", numbered):
        yield


def _escaped(fc: dict, keep: tuple[str, ...] = ("color",)) -> dict:
    """Copy of a FeatureCollection whose text properties are HTML-escaped (folium puts
    tooltip values into innerHTML and template literals)."""
    feats = []
    for f in fc["features"]:
        props = {
            k: (v if k in keep or not isinstance(v, str) else escape.html(v))
            for k, v in f["properties"].items()
        }
        feats.append({**f, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _light(gdf) -> dict:
    """A GeoJSON FeatureCollection of the geometry of a (WGS84) layer for the map:
    simplified by `_MAP_TOLERANCE_DEG`, coordinates on a 1e-5° grid."""
    import shapely

    geoms = shapely.simplify(np.asarray(gdf.geometry.values), _MAP_TOLERANCE_DEG)
    geoms = shapely.set_precision(geoms, 10.0**-MAP_DECIMALS)
    feats = [
        {"type": "Feature", "geometry": json.loads(text), "properties": {}}
        for text in shapely.to_geojson(geoms[~shapely.is_empty(geoms)]).tolist()
    ]
    return {"type": "FeatureCollection", "features": feats}


def _map_html(cov, layers, sites_fc, roads, charts, now, engine, lang) -> str:
    _ = translator(lang)
    with _fixed_ids():
        try:
            assets.use_local_assets("vendor")
            m = _build_map(cov, layers, sites_fc, roads, charts, engine, lang)
            page = m.get_root().render()
        finally:
            assets.use_local_assets()
    page = page.replace("<html>", f'<html lang="{escape.html(lang)}">', 1)
    name = _district.current(engine.store).name
    title = _("{district}暖心驿站覆盖地图 · {mode}").format(
        district=name, mode=_(MODE_LABELS[cov.query.mode])
    )
    page = page.replace("<head>", f"<head>\n<title>{escape.html(title)}</title>", 1)
    stamp = now.strftime("%Y-%m-%d %H:%M")
    published = escape.html(_("发布时间 / published: {stamp}").format(stamp=stamp))
    # The one line that changes from one publication to the next.
    line = f'<div id="published" class="published">{published}</div>\n'
    return page.replace("</body>", line + "</body>", 1)


def _frame(district: _district.District, net: Network) -> _district.District:
    """What the map frames: the district, or the network when it lies outside the district
    (the district's frame would be empty)."""
    if not net.meta.get("outside_district") or not net.n_nodes:
        return district
    west, south = (float(v) for v in net.node_xy.min(axis=0))
    east, north = (float(v) for v in net.node_xy.max(axis=0))
    return dataclasses.replace(district, bounds=(west, south, east, north))


def _build_map(cov: Coverage, layers, sites_fc, roads, charts, engine, lang: str) -> folium.Map:
    _ = translator(lang)
    store = engine.store
    district = _district.current(store)
    frame = _frame(district, engine.networks[cov.query.mode])
    m = folium.Map(location=frame.center, zoom_start=maps.ZOOM, tiles=None, control_scale=True)
    maps.fit_to(m, frame)
    folium.GeoJson(
        _light(store.read("boundary")),
        name=district.boundary_label,
        style_function=lambda _f: maps.BOUNDARY_STYLE,
        interactive=False,
    ).add_to(m)
    water = store.read(_district.WATER_LAYER)
    for i, body in enumerate(district.waters):
        folium.GeoJson(
            _light(water.iloc[[i]]),
            name=body.label,
            style_function=lambda _f: maps.WATER_STYLE,
            interactive=False,
        ).add_to(m)
    folium.GeoJson(
        roads,
        name=_("主要道路") + (_("（示意路网）") if cov.network["schematic"] else ""),
        style_function=lambda _f: {"color": "#9e9e9e", "weight": 1.5, "opacity": 0.8},
        interactive=False,
    ).add_to(m)
    minutes = cov.query.to_dict()["minutes"]
    mode_label = _(MODE_LABELS[cov.query.mode])
    areas = _escaped(layers["areas"])
    for feat in areas["features"]:  # largest threshold first
        k = minutes.index(feat["properties"]["minutes"])
        color = AREA_COLORS[k % len(AREA_COLORS)]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": [feat]},
            name=_("{m} 分钟{mode}覆盖").format(m=feat["properties"]["minutes"], mode=mode_label),
            style_function=lambda _f, c=color: {
                "color": c,
                "weight": 0.5,
                "fillColor": c,
                "fillOpacity": 0.45,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "area_km2"], aliases=["", _("面积 km²")]
            ),
        ).add_to(m)
    cross = _escaped(layers["cross"])
    if cross["features"]:
        folium.GeoJson(
            cross,
            name=_("双站覆盖（≥2 个站点）"),
            style_function=lambda _f: {
                "color": CROSS_COLOR,
                "weight": 0.5,
                "fillColor": CROSS_COLOR,
                "fillOpacity": 0.25,
                "dashArray": "4 4",
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(m)
    catch = _escaped(layers["catchments"])
    if catch["features"]:
        folium.GeoJson(
            catch,
            name=_("服务范围（最近站点）"),
            show=False,
            style_function=lambda f: {
                "color": f["properties"]["color"],
                "weight": 2,
                "opacity": 0.9,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["name", "road_km"], aliases=[_("站点"), _("道路 km")]
            ),
        ).add_to(m)
    gaps = _escaped(layers["uncovered"])
    if gaps["features"]:
        folium.GeoJson(
            gaps,
            name=_("未覆盖道路（超过 {m} 分钟）").format(m=minutes[-1]),
            style_function=lambda _f: {"color": UNCOVERED_COLOR, "weight": 1.5, "opacity": 0.7},
            tooltip=_tooltip(
                cov,
                {"rank": _("空白区"), "town": _("乡镇（近似）"), "road": _("道路")}
                | {"length_km": _("长度 km"), "nearest_station_min": _("最近站点（分钟）")},
            ),
        ).add_to(m)
    stations = _escaped(layers["stations"])
    if stations["features"]:
        folium.GeoJson(
            stations,
            name=_("驿站（{n}）").format(n=len(stations["features"])),
            marker=maps.dot("#d63e2a", radius=5),
            tooltip=folium.GeoJsonTooltip(
                fields=["name", "kind_label", "opening_hours"],
                aliases=["", _("类型"), _("开放时间")],
            ),
        ).add_to(m)
    sites = _escaped(sites_fc)
    if sites["features"]:
        folium.GeoJson(
            sites,
            name=_("建议新站址（{n}）").format(n=len(sites["features"])),
            marker=maps.dot(SITE_COLOR, radius=8, weight=2, fill_opacity=0.95),
            tooltip=_tooltip(
                cov,
                {"rank": _("建议站址"), "town": _("乡镇（近似）")}
                | {"added_road_km": _("新增覆盖道路 km"), "added_villages": _("新增覆盖村庄")},
            ),
        ).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    root = m.get_root()
    assert isinstance(root, branca.element.Figure)  # a folium.Map puts itself in a Figure
    html = root.html
    html.add_child(folium.Element(_notices_html(cov, district, lang)))
    html.add_child(folium.Element(_legend_html(cov, bool(sites["features"]), _)))
    html.add_child(folium.Element(_table_html(cov, charts, _)))
    html.add_child(folium.Element(_PHONE_LAYOUT))
    return m


#: On a phone the boxes keep clear of the layer button (top right) and of each other, and
#: the notes start folded to their summary: the map comes first. After the boxes, so that
#: the script finds them.
_PHONE_LAYOUT = """<style>
@media (max-width: 640px) {
  .coverage-notices { max-width: calc(100vw - 118px) !important; }
  .coverage-legend { max-width: 50vw; }
  .coverage-towns { max-width: calc(50vw - 30px); }
}
</style>
<script>
if (window.matchMedia && window.matchMedia("(max-width: 640px)").matches) {
  document.querySelectorAll(".coverage-notices details").forEach(function (d) {
    d.open = false;
  });
}
</script>"""


def _tooltip(cov: Coverage, fields: dict[str, str]) -> folium.GeoJsonTooltip:
    """A tooltip of ``fields`` (property → label), without the town in a district that
    has none."""
    shown = {k: v for k, v in fields.items() if k != "town" or cov.towns}
    return folium.GeoJsonTooltip(fields=list(shown), aliases=list(shown.values()))


def _box(style: str, body: str, cls: str) -> str:
    return (
        f'<div class="{cls}" style="position:fixed;z-index:1000;background:rgba(255,255,255,.95);'
        f"border-radius:6px;padding:6px 10px;box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:12px;"
        f'line-height:1.5;{style}">{body}</div>'
    )


def _notices_html(cov: Coverage, district: _district.District, lang: str) -> str:
    _ = translator(lang)
    pairs = ((n["en"], n["zh"]) if lang == "en" else (n["zh"], n["en"]) for n in cov.notices)
    lines = [
        f"{escape.html(first)}<br><small style='color:#666'>{escape.html(second)}</small>"
        for first, second in pairs
    ]
    q = cov.query
    kinds = _("、").join(_(STATION_KINDS.get(k, k)) for k in q.kinds)
    title = _("{district}暖心驿站覆盖（{mode}）").format(
        district=district.name, mode=_(MODE_LABELS[q.mode])
    )
    counted = _("{n} 个站点（{kinds}）").format(n=len(cov.stations), kinds=kinds)
    if q.at:
        counted += _("，{at} 开放").format(at=q.at.strftime("%Y-%m-%d %H:%M"))
    head = f"<b>{escape.html(title)}</b><br>{escape.html(counted)}"
    notes = escape.html(_("说明 / notes"))
    return _box(
        "top:10px;left:54px;max-width:380px;background:rgba(255,248,225,.96);"
        "border:1px solid #e0b252",
        f"{head}<details open><summary style='cursor:pointer'>{notes}</summary>"
        + "<br>".join(lines)
        + "</details>",
        "coverage-notices",
    )


def _legend_html(cov: Coverage, has_sites: bool, _: Callable[[str], str]) -> str:
    minutes = cov.query.to_dict()["minutes"]
    swatch = '<span style="display:inline-block;width:14px;height:10px;margin-right:6px;{}"></span>'
    h = escape.html
    items = [
        swatch.format(f"background:{AREA_COLORS[k % len(AREA_COLORS)]};opacity:.8")
        + h(_("{m} 分钟内可达").format(m=m))
        for k, m in enumerate(minutes)
    ]
    items.append(
        swatch.format(f"border:1px dashed {CROSS_COLOR};background:rgba(63,0,125,.25)")
        + h(_("可达 2 个及以上站点"))
    )
    items.append(
        swatch.format(f"border-top:3px solid {UNCOVERED_COLOR};height:3px")
        + h(_("未覆盖道路（空白区）"))
    )
    items.append(swatch.format("background:#d63e2a;border-radius:50%;width:10px") + h(_("驿站")))
    if has_sites:
        items.append(
            swatch.format(f"background:{SITE_COLOR};border-radius:50%;width:12px")
            + h(_("建议新站址"))
        )
    items.append(h(_("道路缓冲 {m} 米绘制覆盖范围").format(m=f"{cov.query.buffer_m:g}")))
    return _box("bottom:28px;right:10px;", "<br>".join(items), "coverage-legend")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _table_html(cov: Coverage, charts: list[str], _: Callable[[str], str]) -> str:
    h = escape.html
    minutes = cov.query.to_dict()["minutes"]
    per = _("{m}分钟")
    head = "".join(f"<th>{h(per.format(m=m))}</th>" for m in minutes)
    rows = []
    entries = [*cov.towns, {"code": "", "name": N_("全区"), **cov.district}]
    chart_of = {c.removesuffix(".png"): c for c in charts}
    for t in entries:
        key = _safe(t["code"] or "unassigned") if t["name"] != "全区" else "district"
        shares = "".join(f"<td>{_pct(th['covered_share'])}</td>" for th in t["thresholds"])
        acftu = _pct(t["acftu_share"])
        chart = chart_of.get(key)
        name = escape.html(_(t["name"]) if key == "district" else t["name"])
        if chart:
            name = f'<a href="charts/{escape.html(chart)}" target="_blank">{name}</a>'
        rows.append(
            f"<tr><td>{name}</td><td>{t['road_km']:.1f}</td>{shares}<td>{acftu}</td>"
            f"<td>{t['villages']}</td></tr>"
        )
    # A district without towns has the district's row only, and no per-town files.
    summary, first, files = (_("各乡镇覆盖率（近似）"), _("乡镇"), (
        '；<a href="coverage_by_town.csv">CSV</a> · <a href="coverage_by_town.xlsx">XLSX</a>'
    )) if cov.towns else (_("全区覆盖率"), _("范围"), "")  # fmt: skip
    road_km, near, villages = _("道路km"), _("1公里内"), _("村庄")
    roads_note = _("道路：居民生产道路（不含高速公路及居民点外的小路）")
    table = (
        f'<details><summary style="cursor:pointer;font-weight:bold">{h(summary)}</summary>'
        '<table style="border-collapse:collapse;font-size:11px" class="coverage-table">'
        f"<tr><th>{h(first)}</th><th>{h(road_km)}</th>{head}<th>{h(near)}</th>"
        f"<th>{h(villages)}</th></tr>" + "".join(rows) + f"</table><small>{h(roads_note)}{files}"
        "</small></details>"
    )
    return _box("bottom:48px;left:10px;max-height:60vh;overflow:auto;", table, "coverage-towns")
