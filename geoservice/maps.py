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
labels; page HTML is added with ``RawHtml`` (:mod:`~geoservice.map_elements`), which is not a
template.

``tests/test_security.py`` renders every page of the app with hostile names and fails
on any that reaches the page unescaped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import markupsafe

from geoservice import assets, escape
from geoservice import crs as _crs
from geoservice import district as _district
from geoservice import hours as _hours
from geoservice.errors import BasemapError
from geoservice.i18n import DEFAULT_LANG, LANGS, N_, translator
from geoservice.model import SITE_KINDS, SITE_SERVICE_MINUTES, STATION_KINDS, Station
from geoservice.network.places import SCHEMATIC_LABEL
from geoservice.store import Store

if TYPE_CHECKING:  # folium is imported where a map is drawn, not at start
    import folium

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

#: The offline basemap: the routing network's major roads (map_elements.RoadsBasemap), drawn
#: from the service itself: no tile request to any server.
ROADS = "roads"
#: Most basemaps one ``TILES`` setting may offer.
BASEMAPS_MAX = 8
#: Marks a custom tile URL as GCJ-02 (Amap, Tencent and most Chinese tile servers).
GCJ02_PREFIX = "gcj02:"


@dataclasses.dataclass(frozen=True)
class TileSource:
    """One tile layer: URL template, attribution (trusted HTML), ``{s}`` values."""

    url: str
    attribution: str
    subdomains: str = "abc"


@dataclasses.dataclass(frozen=True)
class Basemap:
    """One basemap a page offers (see `basemaps`).

    Attributes
    ----------
    key
        ``"roads"``, ``"osm"``, ``"amap"``, ``"tianditu"`` or ``"tiles<N>"`` (a URL, the
        N-th choice).
    label
        Its name in the layer control (text).
    tiles
        Its tile layers, drawn one over the other; none for `ROADS`.
    gcj02
        Whether the tiles are in GCJ-02: overlays are then shifted for display.
    """

    key: str
    label: str
    tiles: tuple[TileSource, ...] = ()
    gcj02: bool = False


#: What a map's ``tiles`` may be: a ``TILES`` setting or its parsed basemaps.
TilesSetting = str | Sequence[str] | Sequence[Basemap] | None


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
    import folium

    return folium.Tooltip(str(_markup(content, NAME_DISPLAY_MAX)), **kwargs)


def popup(content: object, *, max_width: int = 320) -> folium.Popup:
    """A folium popup of `Html`, or of a data value shown as text (see `text`)."""
    import folium

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
    import folium

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


def basemaps(tiles: TilesSetting, tianditu_key: str | None = None) -> tuple[Basemap, ...]:
    """The basemaps a ``TILES`` setting offers, the one shown first first.

    Parameters
    ----------
    tiles
        One choice or several: a list, or a comma-separated string (``"roads,amap"``).
        A choice is ``"roads"`` or ``""`` (`ROADS`: the offline major roads, no tile
        request), ``"osm"``, ``"amap"`` (高德, GCJ-02), ``"tianditu"`` (天地图 vector map and
        labels, CGCS2000 ≈ WGS84: needs ``tianditu_key``), or a tile URL template
        ``"https://…/{z}/{x}/{y}.png|attribution"`` (an http(s) URL or a path on this
        site; the attribution is trusted HTML from the configuration), which
        `GCJ02_PREFIX` marks as GCJ-02. ``None`` is `ROADS`. Already parsed basemaps are
        returned as they are. In a string, a comma followed by the start of a choice
        starts the next one (an attribution's own commas stay in it, unless what follows
        reads as a choice: then give a list).
    tianditu_key
        The 天地图 key (``TIANDITU_KEY``).

    Returns
    -------
    tuple of Basemap

    Raises
    ------
    BasemapError
        A choice that is none of these, repeated, more than `BASEMAPS_MAX` of them, or
        ``"tianditu"`` without a usable key.
    """
    if isinstance(tiles, tuple) and tiles and all(isinstance(b, Basemap) for b in tiles):
        return tiles
    entries = _entries(tiles)
    if len(entries) > BASEMAPS_MAX:
        msg = f"TILES offers {len(entries)} basemaps; at most {BASEMAPS_MAX} / 底图选项过多"
        raise BasemapError(msg)
    choices = tuple(_basemap(entry, i, tianditu_key) for i, entry in enumerate(entries))
    keys = [choice.key for choice in choices]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        msg = f"TILES offers {', '.join(repeated)} more than once / 底图选项重复"
        raise BasemapError(msg)
    return choices


def _entries(tiles: object) -> list[str]:
    """The choices of a ``TILES`` value, stripped."""
    if tiles is None:
        return [ROADS]
    if isinstance(tiles, str):
        parts = _CHOICE_SPLIT.split(tiles.strip())
    elif isinstance(tiles, (list, tuple)) and tiles:
        parts = list(tiles)
    else:
        msg = f"TILES must be a string or a non-empty list of strings, not {tiles!r}"
        raise BasemapError(msg)
    if not all(isinstance(part, str) for part in parts):
        msg = f"TILES must be a string or a non-empty list of strings, not {tiles!r}"
        raise BasemapError(msg)
    return [part.strip() for part in parts]


# A comma that starts a new choice (an attribution may hold commas of its own).
_CHOICE_SPLIT = re.compile(
    r"\s*,\s*(?=(?:roads|osm|amap|tianditu)?\s*(?:,|$)|gcj02:|https?://|/)", re.IGNORECASE
)


def _basemap(entry: str, index: int, tianditu_key: str | None) -> Basemap:
    """The basemap of one ``TILES`` choice (see `basemaps`)."""
    name_ = entry.lower()
    if name_ in ("", ROADS):
        return Basemap(ROADS, "道路（离线）Roads")
    if name_ == "osm":
        return Basemap("osm", "OpenStreetMap", (TileSource(*TILES["osm"]),))
    if name_ == "amap":
        return Basemap("amap", "高德地图 Amap", (_AMAP,), gcj02=True)
    if name_ == "tianditu":
        return Basemap("tianditu", "天地图 Tianditu", _tianditu(tianditu_key))
    gcj02 = name_.startswith(GCJ02_PREFIX)
    url, _, attr = entry[len(GCJ02_PREFIX) if gcj02 else 0 :].partition("|")
    url = url.strip()
    problem = _url_problem(url)
    if problem:
        msg = (
            f"TILES choice {entry[:200]!r} is not roads, osm, amap, tianditu or a tile URL: "
            f"{problem} / 无法识别的底图设置"
        )
        raise BasemapError(msg)
    host = urllib.parse.urlsplit(url).netloc or "本站 this site"
    return Basemap(
        f"tiles{index + 1}",
        f"底图 {index + 1}（{host}）",
        (TileSource(url, attr.strip() or escape.html(url)),),
        gcj02=gcj02,
    )


def _url_problem(url: str) -> str:
    """Why ``url`` cannot be a tile URL template ("" when it can)."""
    if len(url) > _URL_MAX:
        return f"longer than {_URL_MAX} characters"
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        return "a tile URL needs {z}, {x} and {y}"
    if url.startswith("/") and not url.startswith("//"):
        return ""
    if _origin(url) is None:
        return "only http(s) URLs with a host name, or a path on this site"
    return ""


_URL_MAX = 2000


def _tianditu(key: str | None) -> tuple[TileSource, ...]:
    """天地图's vector map and its labels (Web Mercator, ``_w``) with ``key``."""
    if not key or not re.fullmatch(r"[A-Za-z0-9]{8,64}", key):
        msg = (
            "TILES offers tianditu but TIANDITU_KEY is missing or not a key (letters and "
            "digits): get one at https://console.tianditu.gov.cn / 天地图底图需要设置 "
            "TIANDITU_KEY（在天地图控制台申请的密钥）"
        )
        raise BasemapError(msg)
    return tuple(
        TileSource(
            _TIANDITU_URL.replace("{layer}", layer).replace("{key}", key),
            '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>',
            "01234567",
        )
        for layer in ("vec", "cva")
    )


_TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk={key}"
)
_AMAP = TileSource(
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}",
    '&copy; <a href="https://www.amap.com/">高德地图</a>',
    "1234",
)


def tile_layer(tiles: TilesSetting) -> tuple[str, str] | None:
    """One plain basemap for a map without a choice: (URL template, attribution HTML).

    The first offered basemap with tiles that need no shift (not GCJ-02), its first tile
    source with ``{s}`` filled in; None when there is none (the roads basemap only).

    Parameters
    ----------
    tiles
        As for `basemaps`.
    """
    for choice in basemaps(tiles):
        if choice.tiles and not choice.gcj02:
            source = choice.tiles[0]
            return source.url.replace("{s}", source.subdomains[:1]), source.attribution
    return None


def tile_origins(tiles: TilesSetting) -> tuple[str, ...]:
    """Where the basemaps of a ``TILES`` setting load images from, as CSP source
    expressions (see `tile_origin`), each once; none for the roads basemap."""
    origins = (_origin(s.url) for choice in basemaps(tiles) for s in choice.tiles)
    return tuple(dict.fromkeys(o for o in origins if o))


def tile_origin(tiles: str | None) -> str | None:
    """Where one ``TILES`` choice (a name of `TILES` or a URL template) loads its images
    from, as a CSP source expression.

    Parameters
    ----------
    tiles
        ``None``/``""`` (no tiles), a name of `TILES` (``"osm"``), or
        ``"[gcj02:]https://…/{z}/{x}/{y}.png|attribution"``.

    Returns
    -------
    str or None
        ``scheme://host[:port]``, with ``*.`` for a templated subdomain
        (``https://{s}.tile.example.org/…`` → ``https://*.tile.example.org``); None when
        there are no tiles or the URL is not an absolute http(s) URL (a relative URL is the
        app's own origin).
    """
    if not tiles:
        return None
    if tiles in TILES:
        return _origin(TILES[tiles][0])
    if tiles.lower().startswith(GCJ02_PREFIX):
        tiles = tiles[len(GCJ02_PREFIX) :]
    return _origin(tiles.partition("|")[0])


def _origin(url: str) -> str | None:
    """The CSP source expression of a tile URL template (see `tile_origin`)."""
    parts = urllib.parse.urlsplit(url.strip())
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


def shifts_to_gcj02(district: _district.District) -> bool:
    """Whether the district's maps shift their overlays onto GCJ-02 tiles: only in China
    (the district's centre inside :func:`geoservice.crs.in_china`'s box)."""
    lat, lon = district.center
    return bool(_crs.in_china(lon, lat))


def _add_basemaps(m: folium.Map, choices: tuple[Basemap, ...]) -> None:
    """The basemap choices as the base layers of the map's layer control (the first one
    shown); nothing for the roads basemap alone (the page draws the roads itself).

    A GCJ-02 tile layer carries the Leaflet option ``gcj02``: ``static/crs.js`` then
    projects every overlay, and every click, through GCJ-02 while it is shown.
    """
    import folium

    if len(choices) == 1 and not choices[0].tiles:
        return
    for i, choice in enumerate(choices):
        label = layer_name(choice.label)
        if len(choice.tiles) == 1:
            _tiles(choice.tiles[0], choice.gcj02, name=label, show=i == 0).add_to(m)
            continue
        group = folium.FeatureGroup(name=label, overlay=False, show=i == 0).add_to(m)
        for source in choice.tiles:
            _tiles(source, choice.gcj02, control=False).add_to(group)


def _tiles(source: TileSource, gcj02: bool, **kwargs) -> folium.TileLayer:
    import folium

    if gcj02:
        kwargs["gcj02"] = True
    return folium.TileLayer(
        source.url,
        attr=source.attribution,
        max_zoom=19,
        subdomains=source.subdomains,
        overlay=False,
        **kwargs,
    )


def base_map(
    store: Store,
    *,
    tiles: TilesSetting = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
) -> folium.Map:
    """A map of the district with its boundary and water bodies, fitted to the boundary.

    Parameters
    ----------
    tiles : optional
        The basemaps offered, as for `basemaps` (``None``: the roads basemap only, fully
        offline); several are the base layers of a layer control, the first shown.
    """
    import folium

    assets.use_local_assets(asset_url)
    district = _district.current(store)
    # folium only gives max_zoom to tile layers; marker clusters need the map's maxZoom
    # even when there are no tiles. gcj02Shift tells static/crs.js whether GCJ-02 tiles
    # shift this district's overlays (not outside China).
    m = folium.Map(
        location=district.center,
        zoom_start=ZOOM,
        tiles=None,
        control_scale=True,
        maxZoom=19,
        gcj02Shift=shifts_to_gcj02(district),
    )
    _add_basemaps(m, basemaps(tiles))
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
    import folium

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
    import folium

    return folium.CircleMarker(
        radius=radius,
        color="#ffffff",
        weight=weight,
        fill=True,
        fill_color=fill_color,
        fill_opacity=fill_opacity,
        **kwargs,
    )


def report_box(station_id: object, open_reports: int, *, lang: str = DEFAULT_LANG) -> Html:
    """A station's workers' reports on a map: "有 N 条待核实反馈" when there are open
    ones, and the "反馈问题" button that ``static/reports.js`` turns into the two-tap report
    (the same markup as its ``box()`` builds for the cards of ``/nearest``), in ``lang``."""
    _ = translator(lang)
    count = (
        Html('<p class="report-count">{}</p>').format(
            _("有 {n} 条待核实反馈").format(n=int(open_reports))
        )
        if open_reports > 0
        else Html("")
    )
    return Html(
        '<div class="report-box" data-station-id="{}">{}'
        '<button type="button" class="report-open" aria-expanded="false">{}</button></div>'
    ).format(station_id, count, _("反馈问题"))


def station_popup(
    rec: StationRecord, open_reports: int | None = None, *, lang: str = DEFAULT_LANG
) -> Html:
    """Popup HTML of one station record (:meth:`Station.record`; every value escaped),
    with its workers' reports (`report_box`) when ``open_reports`` is given, in ``lang``
    (English shows the hours as stored, in OpenStreetMap's form)."""
    _ = translator(lang)
    badge = (
        Html('<span style="color:#1a7f37;font-weight:bold">{}</span>').format(_("开放中"))
        if rec["open_now"]
        else Html('<span style="color:#b42318;font-weight:bold">{}</span>').format(_("已关闭"))
    )
    phone = rec.get("phone") or ""
    href = tel_href(phone)
    if href:
        phone_row = Html('{}<a href="{}">{}</a>').format(_("电话："), href, text(phone))
    else:
        phone_row = Html("{}{}").format(_("电话："), text(phone or "—"))
    if lang == DEFAULT_LANG:
        hours = Html("开放时间：{}（{}）").format(text(rec["hours_zh"]), text(rec["status"]))
    else:
        hours = Html("{}{}").format(_("开放时间："), text(rec.get("opening_hours") or "—"))
    amenities = _("、").join(_(a) for a in rec["amenity_labels"])
    rows = [
        Html('<b class="popup-name">{}</b>').format(name(rec["name"])),
        Html("{} · {}").format(text(_(rec["kind_label"])), badge),
        hours,
        Html("{}{}").format(_("服务设施："), text(amenities or "—")),
        Html("{}{}").format(_("地址："), text(rec.get("address") or "—")),
        phone_row,
    ]
    if rec.get("source") == "sample":
        rows.append(Html('<i style="color:#888">{}</i>').format(_("示例数据 sample")))
    box = report_box(rec["id"], open_reports, lang=lang) if open_reports is not None else Html("")
    return Html('<div class="station-popup">{}{}</div>').format(Html("<br>").join(rows), box)


def overview_map(
    store: Store,
    *,
    at: dt.datetime | None = None,
    tiles: TilesSetting = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
    sites: gpd.GeoDataFrame | None = None,
    reports: Mapping[str, int] | None = None,
    lang: str = DEFAULT_LANG,
) -> folium.Map:
    """The home page map: district, water, stations by kind, sites, layer control, and
    the major roads from ``roads_url`` when given (see map_elements.RoadsBasemap).

    ``sites`` is the sites layer with derived positions
    (:func:`geoservice.network.places.site_positions`); default: the store's own coordinates.
    ``reports`` (station id → open workers' reports), when given, puts each station's
    reports and the button to report a problem in its popup (`report_box`). ``lang``: the
    language of the layers, popups, legend and notices.
    """
    import folium
    import folium.plugins

    from geoservice import map_elements as elements

    _ = translator(lang)
    at = _hours.as_local(at)
    m = base_map(store, tiles=tiles, asset_url=asset_url)
    if roads_url:
        elements.RoadsBasemap(roads_url).add_to(m)
    stations = store.stations()
    # One cluster for all stations (so kinds do not hide each other's clusters), with a
    # toggleable sub-layer per kind.
    cluster = folium.plugins.MarkerCluster(
        name=_("驿站聚合"), control=False, disableClusteringAtZoom=15
    ).add_to(m)
    drawn = []  # the station kinds drawn: the legend lists these and nothing else
    for kind, label in STATION_KINDS.items():
        rows = stations.loc[stations["kind"] == kind]
        if rows.empty:
            continue
        drawn.append(kind)
        icon, color = STATION_STYLE[kind]
        group = folium.plugins.FeatureGroupSubGroup(cluster, name=layer_name(_(label), len(rows)))
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
                    station_popup(
                        rec, None if reports is None else reports.get(rec["id"], 0), lang=lang
                    ),
                    max_width=320,
                ),
            ).add_to(group)
    shown_sites = _add_sites(m, store.sites() if sites is None else sites, lang=lang)
    towns = store.read("towns")
    if len(towns):  # a district may have no towns: no empty layer for them
        _add_towns(m, towns, lang=lang)
    folium.LayerControl(collapsed=True).add_to(m)
    folium.plugins.Fullscreen(title=_("全屏"), title_cancel=_("退出全屏")).add_to(m)
    if (stations["source"] == "sample").any():
        add_notice(m, SAMPLE_NOTICE, summary=_("示例数据"))
    add_legend(m, drawn, shown_sites, lang=lang)
    # For static/reports.js, which lays a popup out again when its report panel opens.
    elements.ExposeMap().add_to(m)
    return m


def add_legend(
    m: folium.Map, stations: Sequence[str], sites: Sequence[str], *, lang: str = DEFAULT_LANG
) -> None:
    """A legend (bottom right) of the icons of the station kinds ``stations`` and the
    colours of the site kinds ``sites``: the layers the map draws, nothing else (in
    ``lang``).

    A ``<details>`` box, open; folded to its summary on phones (the page's stylesheet and
    script: ``static/home.css``, ``static/home.js``).
    """
    from geoservice import map_elements as elements

    _ = translator(lang)
    items = [
        Html('<i class="fa fa-{}" style="color:{};width:18px"></i>{}').format(
            icon, _LEGEND_COLORS[color], _(STATION_KINDS[kind])
        )
        for kind in stations
        for icon, color in [STATION_STYLE[kind]]
    ] + [
        Html(
            '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
            'background:{};margin:0 6px 0 3px"></span>{}'
        ).format(SITE_COLORS[kind], _(SITE_KINDS[kind]))
        for kind in sites
    ]
    if not items:
        return
    box = Html(
        '<details class="geoservice-legend geoservice-fold" open><summary>{}</summary>'
        "<div>{}</div></details>"
    ).format(_("图例"), Html("<br>").join(items))
    figure(m).html.add_child(elements.RawHtml(box))


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


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame, *, lang: str) -> list[str]:
    """Sites with coordinates as small circles (stations stay the map's foreground);
    returns the kinds drawn and shown at first (a kind with only schematic positions
    starts hidden)."""
    import folium

    _ = translator(lang)
    located = sites.loc[sites.geometry.notna() & ~sites.geometry.is_empty]
    shown = []
    schematic_label = _(SCHEMATIC_LABEL)
    for kind, zh_label in SITE_KINDS.items():
        label = _(zh_label)
        rows = located.loc[located["kind"] == kind]
        if rows.empty:
            continue
        color = SITE_COLORS[kind]
        schematic = rows["coord_source"].eq("schematic")
        # Positions derived from a schematic network are only indicative: their layers
        # start hidden and say so.
        title = Html(_("{label}（{n}，{schematic}）")).format(
            label=label, n=len(rows), schematic=schematic_label
        )
        group = folium.FeatureGroup(
            name=layer_name(title) if schematic.any() else layer_name(label, len(rows)),
            show=not schematic.any(),
        ).add_to(m)
        if not schematic.any():
            shown.append(kind)
        for rec in rows.to_dict("records"):
            sample = (
                Html("<br><i>{}</i>").format(_("示例数据 sample"))
                if rec["source"] == "sample"
                else ""
            )
            if rec["coord_source"] == "schematic":
                sample += Html("<br><i>{}</i>").format(
                    _("{schematic}：路网为示意，位置非实测").format(schematic=schematic_label)
                )
            dot(
                color,
                radius=6,
                location=(rec["geometry"].y, rec["geometry"].x),
                tooltip=tooltip(rec["name"]),
                popup=popup(
                    Html('<b class="popup-name">{}</b><br>{} · {}{}').format(
                        name(rec["name"]),
                        label,
                        _("服务约 {n} 分钟").format(n=_minutes(rec["service_minutes"], kind)),
                        sample,
                    ),
                    max_width=260,
                ),
            ).add_to(group)
    return shown


def _add_towns(m: folium.Map, towns: gpd.GeoDataFrame, *, lang: str) -> None:
    import folium

    seats = towns.loc[towns.geometry.notna() & ~towns.geometry.is_empty]
    _ = translator(lang)
    title = _("乡镇驻地（{seats}/{towns}）").format(seats=len(seats), towns=len(towns))
    group = folium.FeatureGroup(name=layer_name(title), show=False)
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
    from geoservice import map_elements as elements

    box = Html(
        '<details class="geoservice-notice geoservice-fold" open><summary>{}</summary>'
        "<div>{}</div></details>"
    ).format(summary, _markup(content, TEXT_DISPLAY_MAX))
    figure(m).html.add_child(elements.RawHtml(box))


def render(
    m: folium.Map, *, title: str, header: object = "", icon: str = "", lang: str = DEFAULT_LANG
) -> str:
    """Render a map to a complete HTML page in ``lang`` (its ``<html lang>``).

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
    lang
        The page's language (:data:`geoservice.i18n.LANGS`).

    Returns
    -------
    str
        The page. Its ``<script>`` tags carry no nonce: the web layer adds the response's
        own when it sends the page (:class:`geoservice.web.security.NoncedPage`).
    """
    from geoservice import map_elements as elements

    if header:
        figure(m).html.add_child(elements.RawHtml(_markup(header, TEXT_DISPLAY_MAX)))
    page = m.get_root().render()
    page = page.replace("<html>", f'<html lang="{lang if lang in LANGS else DEFAULT_LANG}">', 1)
    head = Html("<head>\n<title>{}</title>").format(title)
    if icon:
        head += Html('\n<link rel="icon" href="{}" type="image/svg+xml">').format(icon)
    return page.replace("<head>", str(head), 1)


def nearest_map(
    store: Store,
    *,
    tiles: TilesSetting = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
    lang: str = DEFAULT_LANG,
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
        Basemaps, as for :func:`base_map` (``None``: the roads basemap, offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see map_elements.RoadsBasemap).
    lang : str, default zh-Hans
        The language of the layer names.

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
        stations_name=translator(lang)(STATION_KINDS["warm_station"]),
        marker=dot(_LEGEND_COLORS[STATION_STYLE["warm_station"][1]], radius=5, fill_opacity=0.85),
    )


def caravan_map(
    store: Store,
    *,
    tiles: TilesSetting = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
    lang: str = DEFAULT_LANG,
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
        Basemaps, as for :func:`base_map` (``None``: the roads basemap, offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see map_elements.RoadsBasemap); a schematic
        network is labelled on the map.
    lang : str, default zh-Hans
        Unused (the map has no named layer of its own); the pages pass it to every map.

    Returns
    -------
    folium.Map
        The map; its Leaflet object is ``window.geoserviceMap`` once its script has run.
    """

    del lang
    return _page_map(store, tiles=tiles, asset_url=asset_url, roads_url=roads_url)


def coverage_map(
    store: Store,
    *,
    tiles: TilesSetting = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
    lang: str = DEFAULT_LANG,
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
        Basemaps, as for :func:`base_map` (``None``: the roads basemap, offline).
    asset_url : str, default ``assets.VENDOR_URL_DEFAULT``
        URL of the vendored JS/CSS folder.
    roads_url : str, optional
        Where the major roads GeoJSON is served (see map_elements.RoadsBasemap).
    lang : str, default zh-Hans
        The language of the layer names.

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
        stations_name=translator(lang)(N_("全部站点")),
        marker=dot("#9e9e9e", radius=4, weight=1),
    )


def _page_map(
    store: Store,
    *,
    tiles: TilesSetting,
    asset_url: str,
    roads_url: str | None,
    label_schematic: bool = True,
    stations: gpd.GeoDataFrame | None = None,
    stations_name: str = "",
    marker: folium.CircleMarker | None = None,
) -> folium.Map:
    """The map of a page with its own script: `base_map`, the roads basemap when
    ``roads_url`` is given, ``stations`` as one light layer of ``marker`` (when any), a
    layer control when there are basemaps to choose from, and the map published as
    ``window.geoserviceMap`` (after every layer: see ``ExposeMap``)."""
    import folium

    from geoservice import map_elements as elements

    m = base_map(store, tiles=tiles, asset_url=asset_url)
    if roads_url:
        elements.RoadsBasemap(roads_url, label_schematic=label_schematic).add_to(m)
    if stations is not None and not stations.empty:
        label_layer(stations, "name", name=stations_name, marker=marker).add_to(m)
    if len(basemaps(tiles)) > 1:  # the basemaps to choose from
        folium.LayerControl(collapsed=True).add_to(m)
    elements.ExposeMap().add_to(m)
    return m
