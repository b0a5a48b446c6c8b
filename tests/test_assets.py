"""Offline folium assets: rendered maps must only reference vendored files (no network)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import folium
import pytest
from folium import plugins

from geoservice import assets

SCRIPT_SRC_RE = re.compile(r"""<script\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
LINK_HREF_RE = re.compile(r"""<link\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE)

GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "密云区总工会"},
            "geometry": {"type": "Point", "coordinates": [116.843, 40.376]},
        },
        {
            "type": "Feature",
            "properties": {"name": "area"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[116.8, 40.3], [116.9, 40.3], [116.9, 40.4], [116.8, 40.3]]],
            },
        },
    ],
}


@pytest.fixture(autouse=True)
def local_assets() -> Iterator[None]:
    """Patch folium for one test and put the CDN lists back afterwards."""
    assets.use_local_assets()
    yield
    assets.restore_cdn_assets()


def _render_map() -> str:
    m = folium.Map(location=[40.376, 116.843], zoom_start=11)
    cluster = plugins.MarkerCluster(name="stations").add_to(m)
    folium.Marker(
        [40.376, 116.843],
        popup="暖心驿站",
        icon=folium.Icon(icon="mug-hot", prefix="fa", color="red"),
    ).add_to(cluster)
    folium.GeoJson(GEOJSON, name="geojson").add_to(m)
    plugins.Fullscreen().add_to(m)
    plugins.LocateControl().add_to(m)
    folium.LayerControl().add_to(m)
    return m.get_root().render()


def _referenced_urls(html: str) -> list[str]:
    return SCRIPT_SRC_RE.findall(html) + LINK_HREF_RE.findall(html)


def _vendor_file(url: str, base: str = assets.VENDOR_URL_DEFAULT) -> Path:
    assert url.startswith(f"{base}/"), url
    return assets.vendor_dir() / url.removeprefix(f"{base}/")


def test_rendered_map_has_no_remote_assets() -> None:
    html = _render_map()
    urls = _referenced_urls(html)

    assert urls, "expected <script src> / <link href> tags in the rendered map"
    remote = [u for u in urls if re.match(r"(?i)(https?:)?//", u)]
    assert remote == []
    assert "glyphicons" not in html
    for url in urls:
        assert _vendor_file(url).is_file(), url


def test_rendered_map_loads_every_plugin() -> None:
    urls = set(_referenced_urls(_render_map()))
    base = assets.VENDOR_URL_DEFAULT
    expected = {
        f"{base}/leaflet/leaflet.js",
        f"{base}/leaflet/leaflet.css",
        f"{base}/jquery/jquery.min.js",
        f"{base}/bootstrap/bootstrap.bundle.min.js",
        f"{base}/bootstrap/bootstrap.min.css",
        f"{base}/fontawesome/css/all.min.css",
        f"{base}/awesome-markers/leaflet.awesome-markers.js",
        f"{base}/awesome-markers/leaflet.awesome-markers.css",
        f"{base}/folium/leaflet.awesome.rotate.min.css",
        f"{base}/markercluster/leaflet.markercluster.js",
        f"{base}/markercluster/MarkerCluster.css",
        f"{base}/markercluster/MarkerCluster.Default.css",
        f"{base}/fullscreen/Control.FullScreen.js",
        f"{base}/fullscreen/Control.FullScreen.css",
        f"{base}/locatecontrol/L.Control.Locate.min.js",
        f"{base}/locatecontrol/L.Control.Locate.min.css",
    }
    assert expected <= urls
    assert urls <= set(assets.asset_urls())


def test_asset_urls_are_local_files() -> None:
    urls = assets.asset_urls()
    assert len(urls) == len(set(urls))
    for url in urls:
        assert _vendor_file(url).is_file(), url


def test_use_local_assets_is_idempotent_and_rebaseable() -> None:
    first = assets.asset_urls()
    assets.use_local_assets()
    assert assets.asset_urls() == first
    assert [name for name, _ in folium.Map.default_css].count("leaflet_css") == 1

    assets.use_local_assets("https://maps.example.org/static/vendor/")
    rebased = assets.asset_urls()
    assert len(rebased) == len(first)
    for url in rebased:
        assert _vendor_file(url, "https://maps.example.org/static/vendor").is_file(), url


def test_restore_puts_cdn_urls_back() -> None:
    assets.restore_cdn_assets()
    assert any(u.startswith("https://") for u in assets.asset_urls())
    assets.use_local_assets()
    assert not any(u.startswith("https://") for u in assets.asset_urls())


def test_other_classes_share_the_vendored_jquery() -> None:
    for cls in (plugins.TimestampedGeoJson, folium.features.Vega):
        urls = [url for _name, url in cls.default_js]
        assert f"{assets.VENDOR_URL_DEFAULT}/jquery/jquery.min.js" in urls, cls
        assert not [u for u in urls if re.search(r"jquery[-/]3\.7\.1", u)], cls


def _vendored_css_files() -> list[Path]:
    return sorted(assets.vendor_dir().rglob("*.css"))


def test_vendored_css_urls_resolve() -> None:
    css_files = _vendored_css_files()
    assert len(css_files) >= 9
    checked = 0
    for css in css_files:
        for _quote, ref in CSS_URL_RE.findall(css.read_text(encoding="utf-8")):
            # data: URIs are inline; "#default#VML" is an old-IE behaviour, not a file.
            if ref.startswith(("data:", "#")):
                continue
            assert not re.match(r"(?i)(https?:)?//", ref), f"{css.name}: remote {ref}"
            target = (css.parent / re.split(r"[?#]", ref, maxsplit=1)[0]).resolve()
            assert target.is_file(), f"{css.relative_to(assets.vendor_dir())}: {ref}"
            assert assets.vendor_dir() in target.parents, ref
            checked += 1
    # leaflet (3) + Font Awesome (8) + awesome-markers (4) + fullscreen (1)
    assert checked >= 16
