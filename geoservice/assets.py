"""Point folium at the JavaScript/CSS files vendored under ``web/static/vendor``.

folium renders ``<script src>``/``<link href>`` tags that load Leaflet, jQuery, Bootstrap,
Font Awesome and the Leaflet plugins from public CDNs. :func:`use_local_assets` rewrites
those class-level URL lists so that rendered maps load the copies shipped in this
repository instead and work without internet access (map *tiles* are a separate matter:
they still come from whatever tile URL the map is configured with).

The vendored files are (re)created by ``web/static/vendor/fetch.sh``; see the README there.
This module deliberately does not import Flask.
"""

from __future__ import annotations

import importlib
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # folium is imported where a map is drawn, not at start
    from folium.elements import JSCSSMixin

__all__ = [
    "VENDOR_URL_DEFAULT",
    "asset_urls",
    "restore_cdn_assets",
    "use_local_assets",
    "vendor_dir",
]

VENDOR_URL_DEFAULT = "/static/vendor"

_LinkList = list[tuple[str, str]]

_LINK_ATTRS = ("default_js", "default_css")

# Name of the ``folium.Map.default_css`` entry that is removed rather than vendored.
_DROPPED_NAMES = frozenset({"glyphicons_css"})

# CDN URL used by folium 0.20 -> file path relative to the vendor directory.
_CDN_TO_LOCAL: dict[str, str] = {
    # folium.Map
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
        "bootstrap/bootstrap.bundle.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
        "bootstrap/bootstrap.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.js": "awesome-markers/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.css": "awesome-markers/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css": "folium/leaflet.awesome.rotate.min.css",
    # folium.plugins.MarkerCluster (and FastMarkerCluster, which inherits its lists)
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "leaflet.markercluster.js": "markercluster/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "MarkerCluster.css": "markercluster/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "MarkerCluster.Default.css": "markercluster/MarkerCluster.Default.css",
    # folium.plugins.Fullscreen: the npm package has no .min.js (jsDelivr minifies on the fly)
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "fullscreen/Control.FullScreen.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "fullscreen/Control.FullScreen.css"
    ),
    # folium.plugins.LocateControl
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-locatecontrol/0.66.2/"
    "L.Control.Locate.min.js": "locatecontrol/L.Control.Locate.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-locatecontrol/0.66.2/"
    "L.Control.Locate.min.css": "locatecontrol/L.Control.Locate.min.css",
    # folium.plugins.FeatureGroupSubGroup (per-kind layers inside one marker cluster)
    "https://unpkg.com/leaflet.featuregroup.subgroup@1.0.2/dist/"
    "leaflet.featuregroup.subgroup.js": "featuregroup-subgroup/leaflet.featuregroup.subgroup.js",
    # Same jQuery 3.7.1 from another CDN (TimestampedGeoJson, TimestampedWmsTileLayers)
    "https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js": "jquery/jquery.min.js",
}


def _core_classes() -> tuple[type[JSCSSMixin], ...]:
    """Classes whose lists must end up entirely local; anything unmapped there is an error.
    (A function: folium is imported where a map is drawn, not when this module is.)"""
    import folium
    import folium.plugins

    return (
        folium.Map,
        folium.plugins.MarkerCluster,
        folium.plugins.FastMarkerCluster,
        folium.plugins.Fullscreen,
        folium.plugins.LocateControl,
        folium.plugins.FeatureGroupSubGroup,
    )


# Pristine (CDN) lists of the classes patched so far, captured before their first change.
_ORIGINALS: dict[tuple[type, str], _LinkList] = {}


def vendor_dir() -> pathlib.Path:
    """Return the folder holding the vendored assets.

    Returns
    -------
    pathlib.Path
        Absolute path of ``geoservice/web/static/vendor``.
    """
    return pathlib.Path(__file__).resolve().parent / "web" / "static" / "vendor"


def _link_classes() -> list[type]:
    """Return every folium class that can carry ``default_js``/``default_css`` lists.

    Returns
    -------
    list of type
        :class:`folium.elements.JSCSSMixin` and all its (transitive) subclasses, which
        includes :class:`folium.Map`, every ``folium.plugins`` class and the
        ``folium.features`` classes such as ``Vega``.
    """
    from folium.elements import JSCSSMixin

    for module in ("folium.features", "folium.plugins"):  # loaded before they are listed
        importlib.import_module(module)

    seen: list[type] = []
    stack: list[type] = [JSCSSMixin]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


def _localise(links: _LinkList, base: str) -> _LinkList:
    """Rewrite the known CDN URLs of one list and drop the unwanted entries.

    Parameters
    ----------
    links : list of (str, str)
        ``(name, url)`` pairs as found on a folium class.
    base : str
        URL prefix of the vendor folder, without a trailing slash.

    Returns
    -------
    list of (str, str)
        A new list; URLs without a vendored copy are kept unchanged.
    """
    return [
        (name, f"{base}/{_CDN_TO_LOCAL[url]}" if url in _CDN_TO_LOCAL else url)
        for name, url in links
        if name not in _DROPPED_NAMES
    ]


def use_local_assets(base_url: str = VENDOR_URL_DEFAULT) -> None:
    """Make folium load its JavaScript/CSS from the vendored copies.

    Overrides the class-level ``default_js``/``default_css`` lists of :class:`folium.Map`
    and of the plugins ``MarkerCluster``, ``FastMarkerCluster`` (inherits from
    ``MarkerCluster``), ``Fullscreen`` and ``LocateControl`` so that every URL they render
    is ``{base_url}/<file>`` for a file that exists under :func:`vendor_dir`. Any other
    folium class (e.g. ``folium.features.Vega``, ``folium.plugins.TimestampedGeoJson``)
    that references one of the same CDN files (jQuery 3.7.1) gets that entry rewritten
    too; its other, non-vendored libraries keep their CDN URLs, so those classes are not
    offline-capable.

    The ``glyphicons_css`` entry of :class:`folium.Map` (Bootstrap 3 Glyphicons from
    netdna.bootstrapcdn.com) is removed instead of vendored: this project only uses Font
    Awesome icons (``folium.Icon(..., prefix="fa")``). Icons created with folium's default
    ``prefix="glyphicon"`` will therefore render without a glyph.

    The function is idempotent: the pristine CDN lists are remembered on the first call
    and every call rebuilds the lists from them, so calling it again (with the same or a
    different ``base_url``) never stacks or duplicates entries.

    Parameters
    ----------
    base_url : str, default ``VENDOR_URL_DEFAULT``
        URL under which the vendor folder is served, e.g. ``"/static/vendor"`` or
        ``"https://maps.example.org/static/vendor"``. A trailing slash is ignored.

    Raises
    ------
    RuntimeError
        If one of the core classes listed above still references a URL without a
        vendored copy (e.g. after a folium upgrade changed its CDN URLs).
    FileNotFoundError
        If a vendored file is missing under :func:`vendor_dir` (run ``fetch.sh``).
    """
    base = base_url.rstrip("/")
    for cls in _link_classes():
        for attr in _LINK_ATTRS:
            if attr not in cls.__dict__:
                continue  # inherits the (already patched) list of a parent class
            key = (cls, attr)
            original = _ORIGINALS.get(key, cls.__dict__[attr])
            localised = _localise(original, base)
            if localised != original:
                _ORIGINALS.setdefault(key, list(original))
                setattr(cls, attr, localised)

    remote = [
        url
        for cls in _core_classes()
        for attr in _LINK_ATTRS
        for _name, url in getattr(cls, attr)
        if not url.startswith(f"{base}/")
    ]
    if remote:
        msg = f"folium assets without a vendored copy: {remote}"
        raise RuntimeError(msg)

    root = vendor_dir()
    missing = sorted({rel for rel in _CDN_TO_LOCAL.values() if not (root / rel).is_file()})
    if missing:
        msg = f"vendored assets missing under {root}: {missing} (run fetch.sh)"
        raise FileNotFoundError(msg)


def restore_cdn_assets() -> None:
    """Undo :func:`use_local_assets`, putting folium's original CDN lists back.

    Mainly useful in tests, so that patching the folium classes does not leak into
    unrelated tests. Does nothing if :func:`use_local_assets` was never called.
    """
    for (cls, attr), original in _ORIGINALS.items():
        setattr(cls, attr, list(original))


def asset_urls() -> list[str]:
    """List the asset URLs currently configured on the core folium classes.

    Returns
    -------
    list of str
        Unique ``default_js`` then ``default_css`` URLs of :class:`folium.Map`,
        ``MarkerCluster``, ``FastMarkerCluster``, ``Fullscreen`` and ``LocateControl``,
        in first-seen order. After :func:`use_local_assets` they all start with its
        ``base_url``; the entries it rewrites on other classes are a subset of these.
    """
    urls: dict[str, None] = {}
    for cls in _core_classes():
        for attr in _LINK_ATTRS:
            for _name, url in getattr(cls, attr):
                urls.setdefault(url, None)
    return list(urls)
