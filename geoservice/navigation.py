"""Links that open turn-by-turn navigation in Amap (高德) or Baidu Maps (百度).

Our coordinates are WGS84; Amap expects GCJ-02 and Baidu BD-09, so conversion happens
here, at the edge, and nowhere else.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from geoservice import crs

if TYPE_CHECKING:
    from geoservice.responses import Navigation

_AMAP_MODE = {"walk": "walk", "bike": "ride", "drive": "car"}
_BAIDU_MODE = {"walk": "walking", "bike": "riding", "drive": "driving"}
SOURCE_APP = "miyun-union-geoservice"
#: Longest destination label put into a link (a stored name may be far longer).
LABEL_MAX = 60
#: A WGS84 position (the traveller's, where a link starts from).
_LonLat = tuple[float, float]
# Characters that are separators inside the apps' own parameters, and control/bidi marks.
_LABEL_UNSAFE = re.compile(r"[|,;:\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def _label(name: object) -> str:
    """A destination label safe inside the apps' parameters: separators and control or
    bidi characters replaced by spaces, cut at `LABEL_MAX` characters."""
    text = " ".join(_LABEL_UNSAFE.sub(" ", str(name or "")).split())
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def amap_url(
    lon: float, lat: float, name: str, mode: str = "walk", origin: _LonLat | None = None
) -> str:
    """Amap navigation URI (opens the app on phones, the web page elsewhere)."""
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    params = {"to": f"{glon:.6f},{glat:.6f},{_label(name)}", "mode": _AMAP_MODE.get(mode, "walk")}
    if origin is not None:
        olon, olat = crs.wgs84_to_gcj02(*origin)
        params["from"] = f"{olon:.6f},{olat:.6f},我的位置"
    params.update(policy="1", src=SOURCE_APP, coordinate="gaode", callnative="1")
    return "https://uri.amap.com/navigation?" + urlencode(params, safe=",")


def baidu_url(
    lon: float, lat: float, name: str, mode: str = "walk", origin: _LonLat | None = None
) -> str:
    """Baidu Maps direction URI with BD-09 coordinates."""
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    params = {"destination": f"latlng:{blat:.6f},{blon:.6f}|name:{_label(name)}"}
    if origin is not None:
        olon, olat = crs.wgs84_to_bd09(*origin)
        params["origin"] = f"latlng:{olat:.6f},{olon:.6f}|name:我的位置"
    params.update(
        mode=_BAIDU_MODE.get(mode, "walking"),
        region="北京",
        coord_type="bd09ll",
        output="html",
        src=SOURCE_APP,
    )
    return "https://api.map.baidu.com/direction?" + urlencode(params, safe=",:|")


def links(
    lon: float, lat: float, name: str, mode: str, origin: _LonLat | None = None
) -> Navigation:
    """Both navigation links for a destination."""
    return {
        "amap": amap_url(lon, lat, name, mode, origin),
        "baidu": baidu_url(lon, lat, name, mode, origin),
    }
