"""geoservice's own folium elements: page HTML put in as it is, the Leaflet map published
for the pages' scripts, and the offline roads basemap.

A module of its own so that folium is imported where a map is drawn
(:mod:`geoservice.maps` imports it in its drawing functions), not when a process starts.
"""

from __future__ import annotations

import folium

from geoservice.maps import Html


class RawHtml(folium.Element):
    """`Html` put into the page as it is (``folium.Element(text)`` would parse it as a
    Jinja template)."""

    def __init__(self, html: Html) -> None:
        super().__init__()
        self._name = "RawHtml"
        self._html = str(html)

    def render(self, **kwargs) -> str:
        """The HTML, unchanged."""
        return self._html


class ExposeMap(folium.MacroElement):
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
