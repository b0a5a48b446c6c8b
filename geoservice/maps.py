"""Folium maps of Miyun: boundary, reservoir, stations and sites.

Every asset is served by the app (:func:`geoservice.assets.use_local_assets`); with
``tiles=None`` the map makes no network request at all. Text from the data is escaped
before it reaches HTML.
"""

from __future__ import annotations

import datetime as dt

import folium
import folium.plugins
import geopandas as gpd

from geoservice import assets, escape
from geoservice import hours as _hours
from geoservice.model import SITE_KINDS, STATION_KINDS, Station
from geoservice.store import Store

#: Map centre (鼓楼/reservoir midpoint) and zoom that show the whole district.
CENTER = (40.50, 117.05)
ZOOM = 10

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

TILES = {
    "osm": (
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
    ),
}

SAMPLE_NOTICE = (
    "示例数据：驿站与保护点位置为演示用样例，并非总工会正式名录。"
    "<br><small>Sample data: stations and reservoir sites are illustrative, not the union's "
    "official list.</small>"
)


def _e(value: object) -> str:
    return escape.html(value)


def base_map(
    store: Store, *, tiles: str | None = None, asset_url: str = assets.VENDOR_URL_DEFAULT
) -> folium.Map:
    """A map of the district with boundary and reservoir, fitted to the boundary.

    Parameters
    ----------
    tiles : str, optional
        ``None`` (no basemap, fully offline), ``"osm"``, or a URL template
        ``https://…/{z}/{x}/{y}.png|attribution`` (attribution after a ``|``).
    """
    assets.use_local_assets(asset_url)
    # folium only gives max_zoom to tile layers; marker clusters need the map's maxZoom
    # even when there are no tiles.
    m = folium.Map(location=CENTER, zoom_start=ZOOM, tiles=None, control_scale=True, maxZoom=19)
    if tiles:
        url, attr = TILES.get(tiles, (tiles.split("|")[0], tiles.partition("|")[2] or tiles))
        folium.TileLayer(url, attr=attr, name="底图 Basemap", max_zoom=19).add_to(m)
    boundary = store.read("boundary")
    folium.GeoJson(
        boundary[["name", "geometry"]],
        name="密云区界",
        style_function=lambda _f: {"color": "#b22222", "weight": 2, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)
    reservoir = store.read("reservoir")
    folium.GeoJson(
        reservoir[["name", "geometry"]],
        name="密云水库（近似）",
        style_function=lambda _f: {
            "color": "#1f78b4",
            "weight": 1,
            "fillColor": "#a6cee3",
            "fillOpacity": 0.6,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)
    b = boundary.total_bounds
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def station_popup(rec: dict) -> str:
    """HTML popup for one station record (:meth:`Station.record`; every value escaped)."""
    badge = (
        '<span style="color:#1a7f37;font-weight:bold">开放中</span>'
        if rec["open_now"]
        else '<span style="color:#b42318;font-weight:bold">已关闭</span>'
    )
    phone = _e(rec.get("phone"))
    rows = [
        f"<b>{_e(rec['name'])}</b>",
        f"{_e(rec['kind_label'])} · {badge}",
        f"开放时间：{_e(rec['hours_zh'])}（{_e(rec['status'])}）",
        f"服务设施：{_e('、'.join(rec['amenity_labels']) or '—')}",
        f"地址：{_e(rec.get('address') or '—')}",
        f'电话：<a href="tel:{phone}">{phone}</a>' if phone else "电话：—",
    ]
    if rec.get("source") == "sample":
        rows.append('<i style="color:#888">示例数据 sample</i>')
    return '<div class="station-popup">' + "<br>".join(rows) + "</div>"


def overview_map(
    store: Store,
    *,
    at: dt.datetime | None = None,
    tiles: str | None = None,
    asset_url: str = assets.VENDOR_URL_DEFAULT,
    roads_url: str | None = None,
) -> folium.Map:
    """The home page map: district, reservoir, stations by kind, sites, layer control, and
    the major roads from ``roads_url`` when given (see :class:`RoadsBasemap`)."""
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
    for kind, label in STATION_KINDS.items():
        rows = stations.loc[stations["kind"] == kind]
        if rows.empty:
            continue
        icon, color = STATION_STYLE[kind]
        group = folium.plugins.FeatureGroupSubGroup(cluster, name=f"{label}（{len(rows)}）")
        group.add_to(m)
        for st in Station.from_frame(rows):
            rec = st.record(at)
            if rec["lon"] is None or rec["lat"] is None:
                continue
            folium.Marker(
                (rec["lat"], rec["lon"]),
                icon=folium.Icon(icon=icon, prefix="fa", color=color),
                tooltip=_e(rec["name"]),
                popup=folium.Popup(station_popup(rec), max_width=320),
            ).add_to(group)
    _add_sites(m, store.sites())
    _add_towns(m, store.read("towns"))
    folium.LayerControl(collapsed=True).add_to(m)
    folium.plugins.Fullscreen(title="全屏", title_cancel="退出全屏").add_to(m)
    if (stations["source"] == "sample").any():
        add_notice(m, SAMPLE_NOTICE)
    add_legend(m)
    return m


def add_legend(m: folium.Map) -> None:
    """A legend of the station icons and site colours (bottom right)."""
    items = [
        f'<i class="fa fa-{icon}" style="color:{_LEGEND_COLORS[color]};width:18px"></i>{label}'
        for kind, label in STATION_KINDS.items()
        for icon, color in [STATION_STYLE[kind]]
    ] + [
        f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
        f'background:{SITE_COLORS[kind]};margin:0 6px 0 3px"></span>{label}'
        for kind, label in SITE_KINDS.items()
    ]
    box = (
        '<div class="geoservice-legend" style="position:fixed;bottom:28px;right:10px;'
        "z-index:1000;background:rgba(255,255,255,.94);border-radius:6px;padding:6px 10px;"
        'box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:12px;line-height:1.7">'
        + "<br>".join(items)
        + "</div>"
    )
    m.get_root().html.add_child(folium.Element(box))


# awesome-markers colour names → the hex the marker images use.
_LEGEND_COLORS = {"red": "#d63e2a", "blue": "#38aadd", "green": "#72b026", "purple": "#d252b9"}


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame) -> None:
    """Sites with coordinates as small circles (stations stay the map's foreground)."""
    located = sites.loc[sites.geometry.notna()]
    for kind, label in SITE_KINDS.items():
        rows = located.loc[located["kind"] == kind]
        if rows.empty:
            continue
        color = SITE_COLORS[kind]
        group = folium.FeatureGroup(name=f"{label}（{len(rows)}）", show=True).add_to(m)
        for rec in rows.drop(columns="geometry").to_dict("records"):
            sample = "<br><i>示例数据 sample</i>" if rec["source"] == "sample" else ""
            folium.CircleMarker(
                (rec["lat"], rec["lon"]),
                radius=6,
                color="#ffffff",
                weight=1.5,
                fill=True,
                fill_color=color,
                fill_opacity=0.9,
                tooltip=_e(rec["name"]),
                popup=folium.Popup(
                    f"<b>{_e(rec['name'])}</b><br>{_e(label)} · 服务约 "
                    f"{int(rec['service_minutes'])} 分钟{sample}",
                    max_width=260,
                ),
            ).add_to(group)


def _add_towns(m: folium.Map, towns: gpd.GeoDataFrame) -> None:
    seats = towns.loc[towns.geometry.notna()]
    group = folium.FeatureGroup(name=f"乡镇驻地（{len(seats)}/{len(towns)}）", show=False)
    for rec in seats.to_dict("records"):
        folium.CircleMarker(
            (rec["geometry"].y, rec["geometry"].x),
            radius=4,
            color="#444",
            fill=True,
            tooltip=_e(rec["name"]),
        ).add_to(group)
    group.add_to(m)


def add_notice(m: folium.Map, html_text: str) -> None:
    """Pin a notice box (trusted HTML, not data) to the bottom-left of the map."""
    box = (
        '<div class="geoservice-notice" style="position:fixed;top:56px;left:54px;'
        "z-index:1000;max-width:360px;background:rgba(255,248,225,.95);border:1px solid #e0b252;"
        'border-radius:6px;padding:6px 10px;font-size:13px;line-height:1.4">'
        f"{html_text}</div>"
    )
    m.get_root().html.add_child(folium.Element(box))


def render(
    m: folium.Map, *, title: str = "密云区暖心驿站地图", header: str = "", icon: str = ""
) -> str:
    """Render a map to a complete zh-Hans HTML page (``icon``: favicon URL)."""
    if header:
        m.get_root().html.add_child(folium.Element(header))
    page = m.get_root().render()
    page = page.replace("<html>", '<html lang="zh-Hans">', 1)
    head = f"<head>\n<title>{_e(title)}</title>"
    if icon:
        head += f'\n<link rel="icon" href="{_e(icon)}" type="image/svg+xml">'
    return page.replace("<head>", head, 1)


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
    """The map of the ``/nearest`` page: district, reservoir and the warm stations.

    Stations are one light GeoJSON layer of small circles, not awesome markers: the page
    draws routes and numbered result markers on top, and a phone should not have to lay
    out a hundred icon markers first. Only ``warm_station`` records are drawn because
    those are what ``/api/nearest`` searches by default.

    Parameters
    ----------
    store : Store
        Source of the boundary, reservoir and stations.
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
    m = base_map(store, tiles=tiles, asset_url=asset_url)
    if roads_url:
        # The page shows its own schematic-network banner; on a phone's small map a
        # second label would cover results.
        RoadsBasemap(roads_url, label_schematic=False).add_to(m)
    stations = store.stations()
    warm = stations.loc[stations["kind"] == "warm_station"]
    if not warm.empty:
        # folium's GeoJsonTooltip puts property values into innerHTML unescaped, so the
        # tooltip gets a pre-escaped copy of the name rather than the raw one.
        layer = gpd.GeoDataFrame(
            {"label": [_e(n) for n in warm["name"]]}, geometry=warm.geometry.values, crs=warm.crs
        )
        folium.GeoJson(
            layer,
            name="暖心驿站",
            marker=folium.CircleMarker(
                radius=5,
                color="#ffffff",
                weight=1.5,
                fill=True,
                fill_color=_LEGEND_COLORS[STATION_STYLE["warm_station"][1]],
                fill_opacity=0.85,
            ),
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(m)
    _ExposeMap().add_to(m)
    return m
