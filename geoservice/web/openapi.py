"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``."""

from __future__ import annotations

from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.nearest import K_MAX
from geoservice.network import MODES


def _param(name: str, description: str, schema: dict, *, required: bool = False, example=None):
    p = {"name": name, "in": "query", "required": required, "description": description}
    p["schema"] = schema
    if example is not None:
        p["example"] = example
    return p


_LIST = {"type": "string", "description": "comma-separated, or repeat the parameter"}
_KIND = _param("kind", f"station kinds: {', '.join(STATION_KINDS)}", _LIST, example="warm_station")
_TOWN = _param(
    "town", "town code (110118001) or Chinese name (鼓楼街道)", _LIST, example="鼓楼街道"
)
_AMENITY = _param(
    "amenity",
    f"required amenities (all of them): {', '.join(AMENITIES)}",
    _LIST,
    example="hot_water",
)
_OPEN_AT = _param(
    "open_at",
    "ISO 8601 time; naive means Asia/Shanghai; default now",
    {"type": "string", "format": "date-time"},
    example="2026-11-25T13:00",
)
_ERROR = {
    "description": "bad parameter",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_GEOJSON = {
    "description": "GeoJSON FeatureCollection",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def spec(version: str) -> dict:
    """The OpenAPI document (paths relative to the site root)."""
    nearest_params = [
        _param("lon", "longitude", {"type": "number"}, required=True, example=116.842),
        _param("lat", "latitude", {"type": "number"}, required=True, example=40.379),
        _param(
            "crs",
            "CRS of lon/lat: wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)",
            {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]},
            example="wgs84",
        ),
        _param("mode", "travel mode", {"type": "string", "enum": list(MODES)}, example="bike"),
        _param(
            "k", "how many stations", {"type": "integer", "minimum": 1, "maximum": K_MAX}, example=3
        ),
        _KIND,
        _AMENITY,
        _OPEN_AT,
        _param(
            "open",
            "1: only stations open at open_at (default)",
            {"type": "string", "enum": ["1", "0"]},
            example="1",
        ),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "密云区总工会 geoservice API",
            "version": version,
            "description": "Warm stations (暖心驿站), worker homes, sites, and the nearest open "
            "station by road travel time. Sample data carry source=sample; a schematic road "
            "network is flagged network.schematic=true.",
        },
        "paths": {
            "/api/stations": {
                "get": {
                    "summary": "Stations as GeoJSON, with open-now status",
                    "parameters": [_KIND, _TOWN, _AMENITY, _OPEN_AT],
                    "responses": {"200": _GEOJSON, "400": _ERROR},
                }
            },
            "/api/stations/{station_id}": {
                "get": {
                    "summary": "One station as a GeoJSON Feature",
                    "parameters": [
                        {
                            "name": "station_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "example": "WS001",
                        },
                        _OPEN_AT,
                    ],
                    "responses": {"200": _GEOJSON, "404": _ERROR},
                }
            },
            "/api/sites": {
                "get": {
                    "summary": "Villages, communities and reservoir sites as GeoJSON",
                    "parameters": [
                        _param(
                            "kind", f"site kinds: {', '.join(SITE_KINDS)}", _LIST, example="village"
                        ),
                        _TOWN,
                        _param(
                            "located",
                            "1: only sites with coordinates",
                            {"type": "string", "enum": ["1", "0"]},
                            example="1",
                        ),
                    ],
                    "responses": {"200": _GEOJSON, "400": _ERROR},
                }
            },
            "/api/towns": {
                "get": {"summary": "The 21 towns/subdistricts", "responses": {"200": _GEOJSON}}
            },
            "/api/health": {
                "get": {
                    "summary": "Store location, revision, counts",
                    "responses": {"200": _GEOJSON},
                }
            },
            "/api/nearest": {
                "get": {
                    "summary": "The k nearest matching stations by road travel time, with routes",
                    "parameters": nearest_params,
                    "responses": {
                        "200": {
                            "description": "{origin, network, results, reason}",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "400": _ERROR,
                        "422": _ERROR
                        | {"description": "the point is more than 2 km from any road"},
                        "429": _ERROR | {"description": "rate limit"},
                        "503": _ERROR | {"description": "no usable road network"},
                    },
                }
            },
            "/api/nearest/batch": {
                "post": {
                    "summary": "Nearest station and travel time for up to 10,000 origins",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["origins"],
                                    "properties": {
                                        "origins": {
                                            "type": "array",
                                            "maxItems": 10000,
                                            "items": {
                                                "type": "array",
                                                "items": {"type": "number"},
                                                "minItems": 2,
                                                "maxItems": 2,
                                            },
                                        },
                                        "mode": {"type": "string", "enum": list(MODES)},
                                        "crs": {
                                            "type": "string",
                                            "enum": ["wgs84", "gcj02", "bd09"],
                                        },
                                        "kind": {"type": "array", "items": {"type": "string"}},
                                        "amenity": {"type": "array", "items": {"type": "string"}},
                                        "open_at": {"type": "string", "format": "date-time"},
                                        "open": {"type": "boolean"},
                                    },
                                },
                                "example": {
                                    "origins": [[116.842, 40.379], [116.85, 40.38]],
                                    "mode": "walk",
                                },
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "per-origin results",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "400": _ERROR,
                        "429": _ERROR,
                    },
                }
            },
            "/api/network": {
                "get": {
                    "summary": "The active road network per mode",
                    "responses": {"200": _GEOJSON},
                }
            },
            "/api/network/roads": {
                "get": {
                    "summary": "Major roads as GeoJSON (offline basemap)",
                    "responses": {"200": _GEOJSON},
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": _GEOJSON}}
            },
        },
    }
