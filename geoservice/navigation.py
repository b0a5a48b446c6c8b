"""Links that open turn-by-turn navigation in Amap (高德) or Baidu Maps (百度).

Our coordinates are WGS84; Amap expects GCJ-02 and Baidu BD-09, so conversion happens
here, at the edge, and nowhere else.
"""

from __future__ import annotations

from urllib.parse import urlencode

from geoservice import crs

_AMAP_MODE = {"walk": "walk", "bike": "ride", "drive": "car"}
_BAIDU_MODE = {"walk": "walking", "bike": "riding", "drive": "driving"}
SOURCE_APP = "miyun-union-geoservice"


def amap_url(lon: float, lat: float, name: str, mode: str = "walk", origin=None) -> str:
    """Amap navigation URI (opens the app on phones, the web page elsewhere)."""
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    params = {"to": f"{glon:.6f},{glat:.6f},{name}", "mode": _AMAP_MODE.get(mode, "walk")}
    if origin is not None:
        olon, olat = crs.wgs84_to_gcj02(*origin)
        params["from"] = f"{olon:.6f},{olat:.6f},我的位置"
    params.update(policy="1", src=SOURCE_APP, coordinate="gaode", callnative="1")
    return "https://uri.amap.com/navigation?" + urlencode(params, safe=",")


def baidu_url(lon: float, lat: float, name: str, mode: str = "walk", origin=None) -> str:
    """Baidu Maps direction URI with BD-09 coordinates."""
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    params = {"destination": f"latlng:{blat:.6f},{blon:.6f}|name:{name}"}
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


def links(lon: float, lat: float, name: str, mode: str, origin=None) -> dict[str, str]:
    """Both navigation links for a destination."""
    return {
        "amap": amap_url(lon, lat, name, mode, origin),
        "baidu": baidu_url(lon, lat, name, mode, origin),
    }
