"""Security headers on every response, and the per-response CSP nonce of the pages.

Every answer of the app gets, from :func:`init_app` (called by ``create_app``):

* ``Content-Security-Policy`` — for pages (``text/html``) `page_policy`::

      default-src 'self'; script-src 'self' 'nonce-<fresh per response>';
      style-src 'self' 'unsafe-inline'; img-src 'self' data: [tile servers];
      font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self';
      form-action 'self'; frame-ancestors 'none'

  Scripts come only from ``/static`` or carry the response's nonce; no
  ``'unsafe-inline'``/``'unsafe-eval'`` for scripts. Styles may be inline because folium
  writes ``<style>`` blocks and ``style=`` attributes. The tile servers are the origins of the
  ``TILES`` basemaps (:func:`geoservice.maps.tile_origins`), exactly those: none for the
  default roads basemap. Every other answer (JSON, static
  files) gets `OTHER_POLICY`, which allows nothing: it is never a document.
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (old browsers'
  ``frame-ancestors``), `PERMISSIONS_POLICY` (geolocation for the page itself, for
  ``/nearest``; no camera, microphone, payment, USB, motion sensors).
* ``Referrer-Policy: strict-origin-when-cross-origin``: other sites see at most the
  service's origin, never a page path or query; same-origin requests keep the full URL (for
  the logs). The pages link to Amap/Baidu navigation (those links also say
  ``rel="noreferrer"``) and may load OpenStreetMap tiles, whose usage policy asks for a referrer,
  so ``no-referrer`` would cost the basemap for nothing: the page URLs carry no position.

A view may set any of these headers itself; the defaults do not overwrite it.

How a new page stays compliant
------------------------------
1. Inline ``<script>`` only as the app writes it, never from data. A folium page is rendered
   once and cached as a `NoncedPage` (``pages._cached_page`` does this): every ``<script``
   tag of the rendered page gets the nonce of each response that sends it. A Jinja page
   rendered per request writes ``<script nonce="{{ csp_nonce() }}">``.
2. No inline event handlers (``onclick=``) and no ``javascript:`` URLs: put the page's code in
   ``static/<page>.js`` and bind events with ``addEventListener``.
3. Data reaches the page only through :mod:`geoservice.maps`' helpers (``Html``, ``text``,
   ``tooltip``, ``popup``, ``label_layer``, …), through an autoescaping Jinja template, as
   JSON in ``<script type="application/json">`` (``|tojson``), or from a same-origin
   ``fetch`` shown with ``textContent``. Never ``innerHTML`` of fetched data.
4. Nothing from another origin but the basemap tiles: vendor new JS/CSS under
   ``static/vendor`` (see :mod:`geoservice.assets`).

``tests/test_security.py`` finds every page route of the app by itself and checks its
headers, its nonces and that hostile data stays text.
"""

from __future__ import annotations

import functools
import re
import secrets

from flask import Flask, Response, g

from geoservice import maps
from geoservice.web import get_basemaps

__all__ = [
    "OTHER_POLICY",
    "PERMISSIONS_POLICY",
    "REFERRER_POLICY",
    "NoncedPage",
    "init_app",
    "nonce",
    "page_policy",
    "page_response",
]

#: CSP of every answer that is not a page (JSON, static files): nothing may run or load.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Browser features the pages may use: geolocation (``/nearest``) and fullscreen (``/``).
PERMISSIONS_POLICY = (
    "geolocation=(self), fullscreen=(self), camera=(), microphone=(), payment=(), usb=(), "
    "accelerometer=(), gyroscope=(), magnetometer=()"
)
#: See the module docstring for why.
REFERRER_POLICY = "strict-origin-when-cross-origin"

# Opening tags of script elements (``<script>``, ``<script src=…>``) in a rendered page.
# Data never contains one: escaping writes "<" as "&lt;" in HTML and "\u003c" in JSON.
_SCRIPT_TAG = re.compile(r"<script(?=[\s>/])", re.IGNORECASE)
_G_NONCE = "geoservice_csp_nonce"


def nonce() -> str:
    """The CSP nonce of the current response (made on first use, 128 random bits)."""
    value = g.get(_G_NONCE)
    if value is None:
        value = secrets.token_urlsafe(16)
        setattr(g, _G_NONCE, value)
    return value


@functools.lru_cache(maxsize=16)
def _page_policy_template(tiles: str | tuple | None, tianditu_key: str | None) -> str:
    img = " ".join(("'self'", "data:", *maps.tile_origins(maps.basemaps(tiles, tianditu_key))))
    return (
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'unsafe-inline'; img-src {img}; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def page_policy(
    nonce_: str, tiles: str | tuple | None = None, tianditu_key: str | None = None
) -> str:
    """The Content-Security-Policy of a page.

    Parameters
    ----------
    nonce_
        The response's nonce.
    tiles
        The ``TILES`` setting (a string or a tuple of choices), whose servers may serve
        images.
    tianditu_key
        The ``TIANDITU_KEY`` of ``"tianditu"``.

    Returns
    -------
    str
    """
    if isinstance(tiles, list):  # hashable for the cache
        tiles = tuple(tiles)
    return _page_policy_template(tiles or None, tianditu_key).format(nonce=nonce_)


class NoncedPage:
    """A rendered page whose ``<script>`` tags get each response's nonce when sent.

    The page is cut at every ``<script`` opening tag once; `render` joins the pieces with
    ``<script nonce="…"``. Only tags of the page as rendered are touched: data cannot add
    one (it is escaped), and the nonce is never looked for in the text, so no value from
    the data can receive it. Cheap enough per response (one join of the page).

    Parameters
    ----------
    html
        The page, without nonces.
    """

    __slots__ = ("_parts",)

    def __init__(self, html: str) -> None:
        self._parts = tuple(_SCRIPT_TAG.split(html))

    @property
    def scripts(self) -> int:
        """How many ``<script>`` tags the page has."""
        return len(self._parts) - 1

    def render(self, nonce_: str) -> str:
        """The page with ``nonce_`` on every script tag."""
        if not re.fullmatch(r"[A-Za-z0-9_-]+", nonce_):
            msg = f"not a nonce: {nonce_!r}"
            raise ValueError(msg)
        return f'<script nonce="{nonce_}"'.join(self._parts)


def page_response(page: NoncedPage | str, status: int = 200) -> Response:
    """A page answer with the current response's nonce on its scripts."""
    if isinstance(page, str):
        page = NoncedPage(page)
    return Response(page.render(nonce()), status=status, mimetype="text/html")


def _headers(response: Response) -> Response:
    headers = response.headers
    if response.mimetype == "text/html":
        policy = page_policy(nonce(), get_basemaps())
    else:
        policy = OTHER_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    return response


def init_app(app: Flask) -> None:
    """Give every response of ``app`` the security headers; ``csp_nonce()`` to templates."""
    app.after_request(_headers)
    app.context_processor(lambda: {"csp_nonce": nonce})
