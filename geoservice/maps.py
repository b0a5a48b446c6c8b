"""Folium maps of the district: boundary, water bodies, stations and sites.

Every map takes its words and its frame from the store's district profile
(:func:`geoservice.district.current`): the boundary's and the water bodies' layer names,
the initial centre, the fitted bounds.

Every asset is served by the app (:func:`geoservice.assets.use_local_assets`); with
``tiles=None`` the map makes no network request at all.

Data on pages
-------------
Every string from the data (names, addresses, hours, phones, amenities) reaches a page
through the helpers of this module, which escape it for every context folium writes it
to: HTML text, quoted attributes, the JavaScript template literals of tooltips and
popups, and Leaflet's ``innerHTML`` of layer names and GeoJSON tooltips.

* :class:`Html` is markup that is already safe. Combining it with anything else escapes
  the other part with :func:`geoservice.escape.html` (``Html("<b>{}</b>").format(name)``),
  so HTML is built from trusted literals and escaped data only.
* :func:`text` / :func:`name` turn a data value into display HTML: cut to
  `TEXT_DISPLAY_MAX` / `NAME_DISPLAY_MAX` characters ending in ``…`` (the API keeps the
  full value), escaped, and wrapped in ``<bdi>`` so that right-to-left overrides and other
  bidi controls in the data cannot reorder the text around it.
* :func:`tooltip`, :func:`popup`, :func:`layer_name`, :func:`label_layer`,
  :func:`add_notice` and :func:`render` take `Html` as markup and treat anything else as
  data (escaped, cut, isolated): passing a raw name by accident shows it as text.

Raw data must never reach a folium element, not even as a GeoJSON property: branca renders
each element's script and then renders the result again *as a Jinja template* (and
``folium.Element(text)`` is a template too), so ``{{ … }}`` in a name would be evaluated
on the server. `escape.html` encodes ``{`` and ``}``; `label_layer` embeds only escaped
labels; page HTML is added with `_RawHtml`, which is not a template.

``tests/test_security.py`` renders every page of the app with hostile names and fails
on any that reaches the page unescaped.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import folium
import folium.plugins
import geopandas as gpd
import markupsafe

from geoservice import assets, escape
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.model import SITE_KINDS, SITE_SERVICE_MINUTES, STATION_KINDS, Station
from geoservice.network.places import SCHEMATIC_LABEL
from geoservice.store import Store

if TYPE_CHECKING:
    from geoservice.responses import StationRecord

#: Initial zoom of a map (it is then fitted to the district's bounds, and starts at their
#: centre: :attr:`geoservice.district.District.center`).
ZOOM = 10

#: Longest name a page shows, in characters. The store can hold any length (QGIS writes
#: it directly; the import refuses more than 200), so a longer name is cut to this many
#: characters, the last being "…". The API always returns the full value.
NAME_DISPLAY_MAX = 60
#: Longest other data text a page shows (address, hours, status, phone, amenities), cut
#: the same way.
TEXT_DISPLAY_MAX = 160
#: Marks a value cut for display.
ELLIPSIS = "…"

#: Marker style per station kind: (Font Awesome icon, awesome-markers colour).
STATION_STYLE: dict[str, tuple[str, str]] = {
    "warm_station": ("mug-hot", "red"),
    "worker_home": ("house", "blue"),
    "public_worker_home": ("house-user", "green"),
    "caravan_base": ("truck", "purple"),
}
SITE_COLORS: dict[str, str] = {
    "reservoir_site": "#0e7c86",
    "village": "#2e7d32",
    "community": "#6d4c41",
}
#: The district boundary and the water bodies as every map draws them (the pages' maps and
#: the published coverage site's) under the profile's names (``密云区界``, ``密云水库（近似）``):
#: Leaflet path styles.
BOUNDARY_STYLE = {"color": "#b22222", "weight": 2, "fill": False}
WATER_STYLE = {"color": "#1f78b4", "weight": 1, "fillColor": "#a6cee3", "fillOpacity": 0.6}

#: Named basemaps: URL template and attribution (trusted HTML: it is configuration).
TILES = {
    "osm": (
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
    ),
}


class Html(markupsafe.Markup):
    """Markup that is safe on a page, in folium's template literals included.

    A `markupsafe.Markup` whose escaping is :func:`geoservice.escape.html`: whatever is
    combined with it and is not `Html` (or another ``__html__`` object) is escaped on the
    way in, so ``Html("<b>{}</b>").format(value)``, ``Html("<br>").join(values)`` and
    ``Html("…") + value`` never let data become markup. Wrap only literals written in the
    code (``Html("<br>")``) or the output of an autoescaping template.
    """

    __slots__ = ()

    @classmethod
    def escape(cls, s: object) -> Html:
        """Escape ``s`` for HTML text, attributes and JS template literals (None → "")."""
        if hasattr(s, "__html__"):
            return cls(s.__html__())
        return cls(escape.html(s))


class _RawHtml(folium.Element):
    """`Html` put into the page as it is (``folium.Element(text)`` would parse it as a
    Jinja template)."""

    def __init__(self, html: Html) -> None:
        super().__init__()
        self._name = "RawHtml"
        self._html = str(html)

    def render(self, **kwargs) -> str:
        """The HTML, unchanged."""
        return self._html


SAMPLE_NOTICE = Html(
    "示例数据：驿站与保护点位置为演示用样例，并非总工会正式名录。"
    "<br><small>Sample data: stations and reservoir sites are illustrative, not the union's "
    "official list.</small>"
)


def clip(value: object, limit: int = TEXT_DISPLAY_MAX) -> str:
    """A data value as display text of at most ``limit`` characters.

    Parameters
    ----------
    value
        Any value; None becomes ``""``.
    limit
        Most characters (code points) kept; a longer value keeps ``limit - 1`` and ends
        in `ELLIPSIS`. ``static/common.js`` cuts the same way (``clip``).

    Returns
    -------
    str
    """
    text_ = "" if value is None else str(value)
    if len(text_) <= limit:
        return text_
    return text_[: limit - 1] + ELLIPSIS


def text(value: object, limit: int = TEXT_DISPLAY_MAX) -> Html:
    """Display HTML of a data value: cut (`clip`), escaped, bidi-isolated in ``<bdi>``.

    Parameters
    ----------
    value
        Any value; None becomes an empty ``<bdi>``.
    limit
        Most characters shown.

    Returns
    -------
    Html
        E.g. ``<bdi>&lt;b&gt;西路</bdi>`` for ``"<b>西路"``.
    """
    return Html("<bdi>{}</bdi>").format(clip(value, limit))


def name(value: object) -> Html:
    """Display HTML of a station, site or town name (`text` cut at `NAME_DISPLAY_MAX`)."""
    return text(value, NAME_DISPLAY_MAX)


def _markup(content: object, limit: int) -> Html:
    """`content` as it is if it is markup, else as data (`text`)."""
    if hasattr(content, "__html__"):
        return Html(content)
    return text(content, limit)


def tooltip(content: object, **kwargs) -> folium.Tooltip:
    """A folium tooltip of `Html`, or of a data value shown as a name (see `name`).

    folium writes the text into a JavaScript template literal and Leaflet shows it as
    HTML; `Html` is safe in both.
    """
    return folium.Tooltip(str(_markup(content, NAME_DISPLAY_MAX)), **kwargs)


def popup(content: object, *, max_width: int = 320) -> folium.Popup:
    """A folium popup of `Html`, or of a data value shown as text (see `text`)."""
    return folium.Popup(str(_markup(content, TEXT_DISPLAY_MAX)), max_width=max_width)


def layer_name(label: object, count: int | None = None) -> str:
    """A layer's name for folium's layer control, e.g. ``暖心驿站（92）``.

    Leaflet writes layer names into the control with ``innerHTML``, so the label (data,
    unless it is `Html`) is escaped and isolated like any other text.
    """
    shown = _markup(label, NAME_DISPLAY_MAX)
    return str(shown if count is None else Html("{}（{}）").format(shown, int(count)))


def label_layer(
    frame: gpd.GeoDataFrame, column: str, *, limit: int = NAME_DISPLAY_MAX, **kwargs
) -> folium.GeoJson:
    """A GeoJSON layer of ``frame``'s geometries with a tooltip showing ``column``.

    folium's ``GeoJsonTooltip`` puts property values into ``innerHTML`` as they are, so
    the layer carries only one property, ``label``: the display HTML (`text`) of the
    column, never the raw value.

    Parameters
    ----------
    frame
        Features to draw.
    column
        The column shown on hover (a name, usually).
    limit
        Most characters shown.
    **kwargs
        Passed to :class:`folium.GeoJson` (``name`` as for `layer_name`, ``style_function``,
        ``marker``, …).

    Returns
    -------
    folium.GeoJson
    """
    layer = gpd.GeoDataFrame(
        {"label": [str(text(v, limit)) for v in frame[column]]},
        geometry=frame.geometry.values,
        crs=frame.crs,
    )
    if "name" in kwargs:
        kwargs["name"] = layer_name(kwargs["name"])
    return folium.GeoJson(
        layer, tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False), **kwargs
    )


def tel_href(phone: object) -> str | None:
    """A ``tel:`` URL for the first phone number in a stored phone text, or None.

    Only ``+`` and digits reach the URL (``010-6904 1234转8001`` → ``tel:01069041234``),
    so no stored value can become another kind of link. ``static/nearest.js`` applies the
    same rule (``telHref``).
    """
    match = _PHONE.search("" if phone is None else str(phone))
    if not match:
        return None
    digits = re.sub(r"[^0-9+]", "", match.group())
    return f"tel:{digits}" if len(digits.lstrip("+")) >= 3 else None


# A run of digits with the separators people type in phone numbers.
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]*")


def tile_layer(tiles: str | None) -> tuple[str, str] | None:
    """The basemap of a ``TILES`` setting: (URL template, attribution HTML), or None.

    Parameters
    ----------
    tiles
        ``None``/``""`` (no basemap), a name of `TILES` (``"osm"``), or
        ``"https://…/{z}/{x}/{y}.png|attribution"`` (the attribution is trusted HTML from
        the configuration; without it the URL is shown).
    """
    if not tiles:
        return None
    if tiles in TILES:
        return TILES[tiles]
    url, _, attr = tiles.partition("|")
    return url, attr or url


def tile_origin(tiles: str | None) -> str | None:
    """Where a ``TILES`` basemap loads its images from, as a CSP source expression.

    Parameters
    ----------
    tiles
        As for `tile_layer`.

    Returns
    -------
    str or None
        ``scheme://host[:port]``, with ``*.`` for a templated subdomain
        (``https://{s}.tile.example.org/…`` → ``https://*.tile.example.org``); None when
        there is no basemap or it is not an absolute http(s) URL (a relative URL is the
        app's own origin).
    """
    layer = tile_layer(tiles)
    if layer is None:
        return None
    parts = urllib.parse.urlsplit(layer[0].strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    host, _, port = parts.netloc.rpartition("@")[2].partition(":")
    labels = host.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label or "}" in label]
    if templated:
        labels = ["*", *labels[templated[-1] + 1 :]]
    if labels == ["*"] or not all(re.fullmatch(r"[A-Za-z0-9-]+|\*", x) for x in labels):
        return None
    origin = f"{parts.scheme.lower()}://{'.'.join(labels).lower()}"
    return f"{origin}:{port}" if port.isdigit() else origin


def base_map(
    store: Store, *, tiles: str | None = None, asset_url: str = assets.VENDOR_URL_DEFAULT
) -> folium.Map:
    """A map of the district with its boundary and water bodies, fitted to the boundary.

    Parameters
    ----------
    tiles : str, optional
        ``None`` (no basemap, fully offline), ``"osm"``, or a URL template
        ``https://…/{z}/{x}/{y}.png|attribution`` (see `tile_layer`).
    """
    assets.use_local_assets(asset_url)
    district = _district.current(store)
    # folium only gives max_zoom to tile layers; marker clusters need the map's maxZoom
    # even when there are no tiles.
    m = folium.Map(
        location=district.center, zoom_start=ZOOM, tiles=None, control_scale=True, maxZoom=19
    )
    basemap = tile_layer(tiles)
    if basemap:
        url, attr = basemap
        folium.TileLayer(url, attr=attr, name="底图 Basemap", max_zoom=19).add_to(m)
    label_layer(
        store.read("boundary"),
        "name",
        name=district.boundary_label,
        style_function=lambda _f: BOUNDARY_STYLE,
    ).add_to(m)
    water = store.read(_district.WATER_LAYER)
    for i, body in enumerate(district.waters):
        label_layer(
            water.iloc[[i]], "name", name=body.label, style_function=lambda _f: WATER_STYLE
        ).add_to(m)
    fit_to(m, district)
    return m


def figure(m: folium.Map) -> folium.Figure:
    """The page a map is drawn in: ``figure(m).html`` is its ``<body>``."""
    root = m.get_root()
    # A folium.Map puts itself in a Figure when it is made.
    assert isinstance(root, folium.Figure)
    return root


def fit_to(m: folium.Map, district: _district.District) -> None:
    """Fit the map's view to the district's bounds."""
    west, south, east, north = district.bounds
    m.fit_bounds([[south, west], [north, east]])


def dot(
    fill_color: str,
    *,
    radius: float,
    weight: float = 1.5,
    fill_opacity: float = 0.9,
    **kwargs,
) -> folium.CircleMarker:
    """A filled circle with a white rim: a station or site where icon markers would be
    too heavy (light GeoJSON layers, many points).

    Parameters
    ----------
    fill_color : str
        The fill.
    radius : float
        Radius in pixels.
    weight : float, default 1.5
        Width of the white rim in pixels.
    fill_opacity : float, default 0.9
        Opacity of the fill.
    **kwargs
        Passed to :class:`folium.CircleMarker` (``location``, ``tooltip``, ``popup``);
        without a location the marker is the ``marker`` of a :class:`folium.GeoJson`.

    Returns
    -------
    folium.CircleMarker
    """
    return folium.CircleMarker(
        radius=radius,
        color="#ffffff",
        weight=weight,
        fill=True,
        fill_color=fill_color,
        fill_opacity=fill_opacity,
        **kwargs,
    )


def report_box(station_id: object, open_reports: int) -> Html:
    """A station's workers' reports on a map: "有 N 条待核实反馈" when there are open
    ones, and the "反馈问题" button that ``static/reports.js`` turns into the two-tap report
    (the same markup as its ``box()`` builds for the cards of ``/nearest``)."""
    count = (
        Html('<p class="report-count">有 {} 条待核实反馈</p>').format(int(open_reports))
        if open_reports > 0
        else Html("")
    )
    return Html(
        '<div class="report-box" data-station-id="{}">{}'
        '<button type="button" class="report-open" aria-expanded="false">反馈问题</button></div>'
    ).format(station_id, count)


def station_popup(rec: StationRecord, open_reports: int | None = None) -> Html:
    """Popup HTML of one station record (:meth:`Station.record`; every value escaped),
    with its workers' reports (`report_box`) when ``open_reports`` is given."""
    badge = (
        Html('<span style="color:#1a7f37;font-weight:bold">开放中</span>')
        if rec["open_now"]
        else Html('<span style="color:#b42318;font-weight:bold">已关闭</span>')
    )
    phone = rec.get("phone") or ""
    href = tel_href(phone)
    if href:
        phone_row = Html('电话：<a href="{}">{}</a>').format(href, text(phone))
    else:
        phone_row = Html("电话：{}").format(text(phone or "—"))
    rows = [
        Html('<b class="popup-name">{}</b>').format(name(rec["name"])),
        Html("{} · {}").format(text(rec["kind_label"]), badge),
        Html("开放时间：{}（{}）").format(text(rec["hours_zh"]), text(rec["status"])),
        Html("服务设施：{}").format(text("、".join(rec["amenity_labels"]) or "—")),
        Html("地址：{}").format(text(rec.get("address") or "—")),
        phone_row,
    ]
    if rec.get("source") == "sample":
        rows.append(Html('<i style="color:#888">示例数据 sample</i>'))
    box = report_box(rec["id"], open_reports) if open_reports is not None else Html("")
    return Html('<div class="station-popup">{}{}</div>').format(Html("<br>").join(rows), box)


def overview_map(
    store: Store,
    *,
    at: dt.datetime | None = None,
    tiles: str | None = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
    sites: gpd.GeoDataFrame | None = None,
    reports: Mapping[str, int] | None = None,
) -> folium.Map:
    """The home page map: district, water, stations by kind, sites, layer control, and
    the major roads from ``roads_url`` when given (see :class:`RoadsBasemap`).

    ``sites`` is the sites layer with derived positions
    (:func:`geoservice.network.places.site_positions`); default: the store's own coordinates.
    ``reports`` (station id → open workers' reports), when given, puts each station's
    reports and the button to report a problem in its popup (`report_box`).
    """
    at = _hours.as_local(at)
    m = base_map(store, tiles=tiles, asset_url=asset_url)
    if roads_url:
        RoadsBasemap(roads_url).add_to(m)
    stations = store.stations()
    # One cluster for all stations (so kinds do not hide each other's clusters), with a
    # toggleable sub-layer per kind.
    cluster = folium.plugins.MarkerCluster(
        name="驿站聚合", control=False, disableClusteringAtZoom=15
    ).add_to(m)
    drawn = []  # the station kinds drawn: the legend lists these and nothing else
    for kind, label in STATION_KINDS.items():
        rows = stations.loc[stations["kind"] == kind]
        if rows.empty:
            continue
        drawn.append(kind)
        icon, color = STATION_STYLE[kind]
        group = folium.plugins.FeatureGroupSubGroup(cluster, name=layer_name(label, len(rows)))
        group.add_to(m)
        for st in Station.from_frame(rows):
            rec = st.record(at)
            if rec["lon"] is None or rec["lat"] is None:
                continue
            folium.Marker(
                (rec["lat"], rec["lon"]),
                icon=folium.Icon(icon=icon, prefix="fa", color=color),
                tooltip=tooltip(rec["name"]),
                popup=popup(
                    station_popup(rec, None if reports is None else reports.get(rec["id"], 0)),
                    max_width=320,
                ),
            ).add_to(group)
    shown_sites = _add_sites(m, store.sites() if sites is None else sites)
    towns = store.read("towns")
    if len(towns):  # a district may have no towns: no empty layer for them
        _add_towns(m, towns)
    folium.LayerControl(collapsed=True).add_to(m)
    folium.plugins.Fullscreen(title="全屏", title_cancel="退出全屏").add_to(m)
    if (stations["source"] == "sample").any():
        add_notice(m, SAMPLE_NOTICE, summary="示例数据")
    add_legend(m, drawn, shown_sites)
    # For static/reports.js, which lays a popup out again when its report panel opens.
    _ExposeMap().add_to(m)
    return m


def add_legend(m: folium.Map, stations: Sequence[str], sites: Sequence[str]) -> None:
    """A legend (bottom right) of the icons of the station kinds ``stations`` and the
    colours of the site kinds ``sites``: the layers the map draws, nothing else.

    A ``<details>`` box, open; folded to its summary on phones (the page's stylesheet and
    script: ``static/home.css``, ``static/home.js``).
    """
    items = [
        Html('<i class="fa fa-{}" style="color:{};width:18px"></i>{}').format(
            icon, _LEGEND_COLORS[color], STATION_KINDS[kind]
        )
        for kind in stations
        for icon, color in [STATION_STYLE[kind]]
    ] + [
        Html(
            '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
            'background:{};margin:0 6px 0 3px"></span>{}'
        ).format(SITE_COLORS[kind], SITE_KINDS[kind])
        for kind in sites
    ]
    if not items:
        return
    box = Html(
        '<details class="geoservice-legend geoservice-fold" open><summary>图例</summary>'
        "<div>{}</div></details>"
    ).format(Html("<br>").join(items))
    figure(m).html.add_child(_RawHtml(box))


# awesome-markers colour names → the hex the marker images use.
_LEGEND_COLORS = {"red": "#d63e2a", "blue": "#38aadd", "green": "#72b026", "purple": "#d252b9"}


def _minutes(value: object, kind: str) -> int:
    """A stored service time in minutes; an unreadable one (edited in QGIS) is the default."""
    try:
        minutes = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        return SITE_SERVICE_MINUTES.get(kind, 30)
    return round(minutes)


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame) -> list[str]:
    """Sites with coordinates as small circles (stations stay the map's foreground);
    returns the kinds drawn and shown at first (a kind with only schematic positions
    starts hidden)."""
    located = sites.loc[sites.geometry.notna() & ~sites.geometry.is_empty]
    shown = []
    for kind, label in SITE_KINDS.items():
        rows = located.loc[located["kind"] == kind]
        if rows.empty:
            continue
        color = SITE_COLORS[kind]
        schematic = rows["coord_source"].eq("schematic")
        # Positions derived from a schematic network are only indicative: their layers
        # start hidden and say so.
        title = Html("{}（{}，{}）").format(label, len(rows), SCHEMATIC_LABEL)
        group = folium.FeatureGroup(
            name=layer_name(title) if schematic.any() else layer_name(label, len(rows)),
            show=not schematic.any(),
        ).add_to(m)
        if not schematic.any():
            shown.append(kind)
        for rec in rows.to_dict("records"):
            sample = Html("<br><i>示例数据 sample</i>") if rec["source"] == "sample" else ""
            if rec["coord_source"] == "schematic":
                sample += Html("<br><i>{}：路网为示意，位置非实测</i>").format(SCHEMATIC_LABEL)
            dot(
                color,
                radius=6,
                location=(rec["geometry"].y, rec["geometry"].x),
                tooltip=tooltip(rec["name"]),
                popup=popup(
                    Html('<b class="popup-name">{}</b><br>{} · 服务约 {} 分钟{}').format(
                        name(rec["name"]), label, _minutes(rec["service_minutes"], kind), sample
                    ),
                    max_width=260,
                ),
            ).add_to(group)
    return shown


def _add_towns(m: folium.Map, towns: gpd.GeoDataFrame) -> None:
    seats = towns.loc[towns.geometry.notna() & ~towns.geometry.is_empty]
    group = folium.FeatureGroup(
        name=layer_name(Html("乡镇驻地（{}/{}）").format(len(seats), len(towns))), show=False
    )
    for rec in seats.to_dict("records"):
        folium.CircleMarker(
            (rec["geometry"].y, rec["geometry"].x),
            radius=4,
            color="#444",
            fill=True,
            tooltip=tooltip(rec["name"]),
        ).add_to(group)
    group.add_to(m)


def add_notice(m: folium.Map, content: object, *, summary: str) -> None:
    """Pin a notice box to the top left of the map (`Html`; anything else is shown as text).

    A ``<details>`` box, open, headed by ``summary`` (text); folded to it on phones (see
    `add_legend`).
    """
    box = Html(
        '<details class="geoservice-notice geoservice-fold" open><summary>{}</summary>'
        "<div>{}</div></details>"
    ).format(summary, _markup(content, TEXT_DISPLAY_MAX))
    figure(m).html.add_child(_RawHtml(box))


def render(m: folium.Map, *, title: str, header: object = "", icon: str = "") -> str:
    """Render a map to a complete zh-Hans HTML page.

    Parameters
    ----------
    m
        The map.
    title
        The page title (text).
    header
        `Html` put at the start of the ``<body>`` (anything else is shown as text).
    icon
        Favicon URL.

    Returns
    -------
    str
        The page. Its ``<script>`` tags carry no nonce: the web layer adds the response's
        own when it sends the page (:class:`geoservice.web.security.NoncedPage`).
    """
    if header:
        figure(m).html.add_child(_RawHtml(_markup(header, TEXT_DISPLAY_MAX)))
    page = m.get_root().render()
    page = page.replace("<html>", '<html lang="zh-Hans">', 1)
    head = Html("<head>\n<title>{}</title>").format(title)
    if icon:
        head += Html('\n<link rel="icon" href="{}" type="image/svg+xml">').format(icon)
    return page.replace("<head>", str(head), 1)


class _ExposeMap(folium.MacroElement):
    """Publish the Leaflet map as ``window.geoserviceMap`` for the page's own script.

    folium names the map object ``map_<hash>`` in its inline ``<script>``, which runs after
    the ``<body>``. As a child of the map, this element's script is rendered after the
    map's (and after every layer added before it), so the map exists when it runs. The
    ``geoservice:map-ready`` event also serves page scripts that are not ``defer``-red.
    """

    _template = folium.template.Template(
        """
        {% macro script(this, kwargs) %}
        window.geoserviceMap = {{ this._parent.get_name() }};
        document.dispatchEvent(new CustomEvent("geoservice:map-ready",
            {detail: {map: {{ this._parent.get_name() }}}}));
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "ExposeMap"


class RoadsBasemap(folium.MacroElement):
    """Draw the routing network's major roads (GeoJSON from ``url``) under everything else.

    This is the basemap that works offline: the road data comes from the service itself.
    Loaded after the page, in its own low pane, not clickable; if the request fails the
    map simply has no roads. A schematic network is labelled as such on the map, unless
    the page says so itself (``label_schematic=False``).
    """

    _template = folium.template.Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) {
            var style = {
                motorway: ["#e07b39", 3], trunk: ["#e3a33b", 3], primary: ["#d9b44a", 2.5],
                secondary: ["#a9a9a9", 2], tertiary: ["#bdbdbd", 1.5]
            };
            map.createPane("roads");
            map.getPane("roads").style.zIndex = 350;
            map.getPane("roads").style.pointerEvents = "none";
            fetch({{ this.url|tojson }}, {headers: {Accept: "application/json"}})
                .then(function (r) { return r.ok ? r.json() : null; })
                .then(function (data) {
                    if (!data) return;
                    if (data.schematic && {{ this.label_schematic|tojson }}) {
                        // Roads drawn from the generated network must say so on the map.
                        var note = L.control({position: "bottomleft"});
                        note.onAdd = function () {
                            var div = L.DomUtil.create("div", "geoservice-schematic-note");
                            div.style.cssText = "background:rgba(255,255,255,.9);padding:2px 6px;"
                                + "border-radius:4px;font-size:12px;color:#8a5a00";
                            div.textContent = "道路为示意路网，非真实道路 · schematic road network";
                            return div;
                        };
                        note.addTo(map);
                    }
                    L.geoJSON(data, {
                        pane: "roads",
                        interactive: false,
                        style: function (f) {
                            var key = String(f.properties.highway || "").replace("_link", "");
                            var s = style[key] || style.tertiary;
                            return {color: s[0], weight: s[1], opacity: 0.8, className: "road"};
                        }
                    }).addTo(map);
                })
                .catch(function () {});
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, *, label_schematic: bool = True) -> None:
        super().__init__()
        self._name = "RoadsBasemap"
        self.url = url
        self.label_schematic = label_schematic


def nearest_map(
    store: Store,
    *,
    tiles: str | None = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
) -> folium.Map:
    """The map of the ``/nearest`` page: district, water and the warm stations.

    Stations are one light GeoJSON layer of small circles, not awesome markers: the page
    draws routes and numbered result markers on top, and a phone should not have to lay
    out a hundred icon markers first. Only ``warm_station`` records are drawn because
    those are what ``/api/nearest`` searches by default.

    Parameters
    ----------
    store : Store
        Source of the district profile, boundary, water and stations.
    tiles : str, optional
        Basemap, as for :func:`base_map` (``None``: none, fully offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see :class:`RoadsBasemap`).

    Returns
    -------
    folium.Map
        The map; its Leaflet object is ``window.geoserviceMap`` once its script has run.
    """
    stations = store.stations()
    return _page_map(
        store,
        tiles=tiles,
        asset_url=asset_url,
        roads_url=roads_url,
        # The page shows its own schematic-network banner; on a phone's small map a
        # second label would cover results.
        label_schematic=False,
        stations=stations.loc[stations["kind"] == "warm_station"],
        stations_name="暖心驿站",
        marker=dot(_LEGEND_COLORS[STATION_STYLE["warm_station"][1]], radius=5, fill_opacity=0.85),
    )


def caravan_map(
    store: Store,
    *,
    tiles: str | None = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
) -> folium.Map:
    """The map of the ``/caravan`` page: district, water and the roads basemap.

    The stops to choose from, the depot and the planned routes are drawn by the page's
    own script (``static/caravan.js``), which toggles them as the user picks stops, so
    the map itself carries no data layer.

    Parameters
    ----------
    store : Store
        Source of the district profile, boundary and water.
    tiles : str, optional
        Basemap, as for :func:`base_map` (``None``: none, fully offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see :class:`RoadsBasemap`); a schematic
        network is labelled on the map.

    Returns
    -------
    folium.Map
        The map; its Leaflet object is ``window.geoserviceMap`` once its script has run.
    """
    return _page_map(store, tiles=tiles, asset_url=asset_url, roads_url=roads_url)


def coverage_map(
    store: Store,
    *,
    tiles: str | None = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
) -> folium.Map:
    """The map of the ``/coverage`` page: district, water, major roads and every station.

    Every station is a small grey circle: ``static/coverage.js`` draws the stations a view
    counts over them in colour (with the coverage layers from ``/api/coverage``), so a
    station closed at the chosen time, or of a kind not counted, stays visible in grey.

    Parameters
    ----------
    store : Store
        Source of the district profile, boundary, water and stations.
    tiles : str, optional
        Basemap, as for :func:`base_map` (``None``: none, fully offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see :class:`RoadsBasemap`).

    Returns
    -------
    folium.Map
        The map; its Leaflet object is ``window.geoserviceMap`` once its script has run.
    """
    stations = store.stations()
    return _page_map(
        store,
        tiles=tiles,
        asset_url=asset_url,
        roads_url=roads_url,
        # The page lists the network's notices (schematic included) itself.
        label_schematic=False,
        stations=stations.loc[stations.geometry.notna() & ~stations.geometry.is_empty],
        stations_name="全部站点",
        marker=dot("#9e9e9e", radius=4, weight=1),
    )


def _page_map(
    store: Store,
    *,
    tiles: str | None,
    asset_url: str,
    roads_url: str | None,
    label_schematic: bool = True,
    stations: gpd.GeoDataFrame | None = None,
    stations_name: str = "",
    marker: folium.CircleMarker | None = None,
) -> folium.Map:
    """The map of a page with its own script: `base_map`, the roads basemap when
    ``roads_url`` is given, ``stations`` as one light layer of ``marker`` (when any), and
    the map published as ``window.geoserviceMap`` (after every layer: see `_ExposeMap`)."""
    m = base_map(store, tiles=tiles, asset_url=asset_url)
    if roads_url:
        RoadsBasemap(roads_url, label_schematic=label_schematic).add_to(m)
    if stations is not None and not stations.empty:
        label_layer(stations, "name", name=stations_name, marker=marker).add_to(m)
    _ExposeMap().add_to(m)
    return m
