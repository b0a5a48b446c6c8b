"""Links that open turn-by-turn navigation in Amap (高德) or Baidu Maps (百度).

Our coordinates are WGS84; Amap expects GCJ-02 and Baidu BD-09, so conversion happens
here, at the edge, and nowhere else.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING
from urllib.parse import quote_plus, urlencode

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
    glon, glat = _gcj02(lon, lat)
    # urlencode(params, safe=","), written out: the numbers, commas and ASCII values need no
    # quoting, and the label's quoting is cached (/api/nearest writes these per answer).
    url = f"{_AMAP}to={glon:.6f},{glat:.6f},{_quoted(name, ',')}"
    url += f"&mode={_AMAP_MODE.get(mode, 'walk')}"
    if origin is not None:
        olon, olat = _gcj02(*origin)
        url += f"&from={olon:.6f},{olat:.6f},{_HERE}"
    return url + _AMAP_TAIL


def baidu_url(
    lon: float, lat: float, name: str, mode: str = "walk", origin: _LonLat | None = None
) -> str:
    """Baidu Maps direction URI with BD-09 coordinates."""
    blon, blat = _bd09(lon, lat)
    url = f"{_BAIDU}destination=latlng:{blat:.6f},{blon:.6f}|name:{_quoted(name, ',:|')}"
    if origin is not None:
        olon, olat = _bd09(*origin)
        url += f"&origin=latlng:{olat:.6f},{olon:.6f}|name:{_HERE}"
    return url + f"&mode={_BAIDU_MODE.get(mode, 'walking')}" + _BAIDU_TAIL


_AMAP = "https://uri.amap.com/navigation?"
_AMAP_TAIL = "&" + urlencode(
    {"policy": "1", "src": SOURCE_APP, "coordinate": "gaode", "callnative": "1"}, safe=","
)
_BAIDU = "https://api.map.baidu.com/direction?"
_BAIDU_TAIL = "&" + urlencode(
    {"region": "北京", "coord_type": "bd09ll", "output": "html", "src": SOURCE_APP}, safe=",:|"
)
_HERE = quote_plus("我的位置")


@functools.lru_cache(maxsize=4096)
def _quoted(name: object, safe: str) -> str:
    """A destination's label (:func:`_label`) quoted as urlencode quotes it (stations are
    few, their labels are asked for again and again)."""
    return quote_plus(_label(name), safe=safe)


@functools.lru_cache(maxsize=4096)
def _gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 to GCJ-02 of one point, cached: a station's is asked for per answer, and an
    origin's once per result of its answer."""
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    return float(glon), float(glat)


@functools.lru_cache(maxsize=4096)
def _bd09(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 to BD-09 of one point, cached as :func:`_gcj02`."""
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    return float(blon), float(blat)


def links(
    lon: float, lat: float, name: str, mode: str, origin: _LonLat | None = None
) -> Navigation:
    """Both navigation links for a destination."""
    return {
        "amap": amap_url(lon, lat, name, mode, origin),
        "baidu": baidu_url(lon, lat, name, mode, origin),
    }
