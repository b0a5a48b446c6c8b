"""The request's language: zh-Hans (the default) or English, and the switch between them.

One selector, `current_lang`, decides for pages, popups, exports and the API's error
bodies alike:

1. ``lang=`` in the query (``en``, ``zh``, ``zh-Hans``; see :func:`geoservice.i18n.language`),
   which the page switch uses and which also sets the ``lang`` cookie;
2. else the ``lang`` cookie (the reader's last choice);
3. else ``Accept-Language``: the most preferred language that is Chinese or English;
4. else zh-Hans.

Flask-Babel serves the catalogs of :mod:`geoservice.i18n` to the templates (``_()``);
the core takes the language as an argument (``lang=current_lang()``). Page scripts get
their own words as a JSON block (`js_catalog`, read by ``t()`` in ``static/common.js``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.messages.extract import extract_javascript
from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import Babel

from geoservice import escape, maps
from geoservice.hours import WEEKDAYS_ZH
from geoservice.i18n import CATALOG_DIR, DEFAULT_LANG, language, translator
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS

__all__ = ["COOKIE", "current_lang", "init_app", "js_catalog", "lang_switch"]

#: The cookie that keeps a reader's choice of the switch.
COOKIE = "lang"
#: How long the choice is kept (seconds): a year.
COOKIE_AGE = 365 * 24 * 3600
#: The switch's links: (language, its own name).
_SWITCH = (("en", "English"), ("zh-Hans", "中文"))


def current_lang() -> str:
    """The current request's language (one of :data:`geoservice.i18n.LANGS`); zh-Hans
    outside a request (CLI commands choose their own)."""
    if not has_request_context():
        return DEFAULT_LANG
    lang = g.get("geoservice_lang")
    if lang is None:
        lang = g.geoservice_lang = _select()
    return lang


def _select() -> str:
    chosen = language(request.args.get("lang")) or language(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    # In the reader's order of preference (not werkzeug's best_match, which prefers any
    # exact match to a better-liked "en-GB").
    for tag, quality in request.accept_languages:
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if quality > 0 and primary in ("zh", "en"):
            return "en" if primary == "en" else "zh-Hans"
    return DEFAULT_LANG


def _babel_locale() -> str:
    # Babel's spelling of the tags (zh_Hans).
    return current_lang().replace("-", "_")


def _remember(response: Response) -> Response:
    """Keep the choice of ``lang=`` in the cookie, and tell caches what the answer
    depends on."""
    chosen = language(request.args.get("lang"))
    if chosen and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(
            COOKIE, chosen, max_age=COOKIE_AGE, samesite="Lax", secure=request.is_secure
        )
    if request.endpoint != "static":  # the same file in every language
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def lang_switch() -> maps.Html:
    """The "English / 中文" switch: links to the same page with ``lang=`` (which sets the
    cookie), the current language marked rather than linked."""
    lang = current_lang()
    parts = [
        maps.Html('<span lang="{0}" aria-current="true">{1}</span>').format(code, label)
        if code == lang
        else maps.Html('<a href="?lang={0}" hreflang="{0}" lang="{0}">{1}</a>').format(code, label)
        for code, label in _SWITCH
    ]
    return maps.Html('<span class="lang-switch" role="group" aria-label="{}">{}</span>').format(
        "Language 语言", maps.Html(" / ").join(parts)
    )


@functools.cache
def _script_msgids(path: Path, mtime: float) -> tuple[str, ...]:
    """The texts of ``t("…")`` calls in a script (``mtime``: read again when it changes)."""
    del mtime
    found: dict[str, None] = {}
    with path.open("rb") as f:
        for _, _, args, _ in extract_javascript(f, {"t": None}, [], {}):
            # t("…") gives the text; t("…", {values}) a tuple of the arguments' strings.
            msgid = args[0] if isinstance(args, tuple) else args
            if isinstance(msgid, str) and msgid:
                found[msgid] = None
    return tuple(found)


def js_catalog(names: tuple[str, ...], lang: str | None = None) -> maps.Html:
    """The words of the page scripts ``static/<name>.js`` (and the vocabularies' labels,
    which answers carry in Chinese) in the page's language, as the
    JSON block ``#i18n`` that ``t()`` of ``static/common.js`` reads (empty for zh-Hans,
    whose words are the scripts' own).

    Parameters
    ----------
    names
        The scripts the page loads.
    lang
        The language; the request's by default.

    Returns
    -------
    Html
        ``<script type="application/json" id="i18n">{…}</script>``, escaped by
        :func:`geoservice.escape.js`.
    """
    lang = lang or current_lang()
    words: dict[str, str] = {}
    if lang != DEFAULT_LANG:
        _ = translator(lang)
        # The vocabularies' labels too: answers carry them in Chinese (kind_label, weekday).
        vocabularies = (STATION_KINDS, SITE_KINDS, AMENITIES, dict(enumerate(WEEKDAYS_ZH)))
        for label in (v for vocabulary in vocabularies for v in vocabulary.values()):
            words[label] = _(label)
        folder = Path(current_app.static_folder or "")
        for name in names:
            path = folder / f"{name}.js"
            if path.is_file():
                for msgid in _script_msgids(path, path.stat().st_mtime):
                    words[msgid] = _(msgid)
    return maps.Html('<script type="application/json" id="i18n">{}</script>').format(
        maps.Html(escape.js({"lang": lang, "words": words}))
    )


def init_app(app: Flask) -> None:
    """Let Flask-Babel translate the templates in the request's language, keep a reader's
    choice, and give every template (and macro) ``current_lang()`` and ``lang_switch()``."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh_Hans")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(CATALOG_DIR))
    Babel(app, locale_selector=_babel_locale)
    app.after_request(_remember)
    # Globals, not context: macros imported without context see them too.
    app.jinja_env.globals.update(current_lang=current_lang, lang_switch=lang_switch)
