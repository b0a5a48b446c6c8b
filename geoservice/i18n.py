"""The interface languages: zh-Hans (the source language, and the default) and English.

Texts are written in Chinese and translated with gettext catalogs whose msgids are the
Chinese texts (``geoservice/translations/en/LC_MESSAGES/messages.po``, compiled to ``.mo``
by :func:`compile_catalogs` during set-up). The core never asks which language a request
wants: whoever calls it (the web layer, a CLI command) passes ``lang`` in, and the core
translates with :func:`translator`. ``geoservice.web.i18n`` chooses the request's language
and serves the same catalogs to the templates through Flask-Babel.

Literals that are translated later (a vocabulary's labels, a table of a module) are marked
with :func:`N_` so that ``pybabel extract`` finds them (``babel.cfg``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "CATALOG_DIR",
    "DEFAULT_LANG",
    "LANGS",
    "N_",
    "compile_catalogs",
    "language",
    "stale_catalogs",
    "translator",
]

#: The interface languages, the default first (BCP 47 tags, as in ``<html lang>``).
LANGS: Final = ("zh-Hans", "en")
DEFAULT_LANG: Final = "zh-Hans"
#: Where the catalogs live: ``<lang>/LC_MESSAGES/messages.po`` (and its compiled ``.mo``).
CATALOG_DIR: Final = Path(__file__).resolve().parent / "translations"
#: What ``lang=`` and a cookie may say, lower-cased, for each language.
_SPELLINGS: Final = {
    "zh": "zh-Hans",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh_hans": "zh-Hans",
    "zh_cn": "zh-Hans",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
    "en_us": "en",
    "en_gb": "en",
}


def N_(text: str) -> str:  # noqa: N802 (gettext's name for a marker)
    """Mark ``text`` for extraction, translated later; returns it unchanged."""
    return text


def language(value: object) -> str | None:
    """The interface language a ``lang=`` value or cookie names, or None.

    Parameters
    ----------
    value
        ``"en"``, ``"zh"``, ``"zh-Hans"``, ``"zh-CN"`` (any case, ``-`` or ``_``).

    Returns
    -------
    str or None
        One of `LANGS`; None for anything else (the caller falls back).
    """
    if not isinstance(value, str) or len(value) > 16:
        return None
    return _SPELLINGS.get(value.strip().lower())


@functools.cache
def _catalog(lang: str) -> NullTranslations:
    if lang == DEFAULT_LANG:
        return NullTranslations()  # the msgids are the Chinese texts
    # A missing .mo gives NullTranslations: Chinese, never an error (set-up compiles them).
    return Translations.load(str(CATALOG_DIR), [lang.replace("-", "_")])


def translator(lang: str = DEFAULT_LANG) -> Callable[[str], str]:
    """The gettext function of ``lang``: Chinese text → its translation (itself when the
    catalog has none, or for zh-Hans).

    Parameters
    ----------
    lang
        One of `LANGS`; anything else translates to Chinese.

    Returns
    -------
    callable
        ``_(zh) -> str``; placeholders (``{n}``) are filled by the caller after translating.
    """
    gettext = _catalog(lang if lang in LANGS else DEFAULT_LANG).gettext
    # gettext("") is the catalog's header: an empty text stays empty.
    return lambda text: gettext(text) if text else text


def _catalog_files() -> list[tuple[Path, Path]]:
    """Each language's ``.po`` with the ``.mo`` it compiles to."""
    return [(po, po.with_suffix(".mo")) for po in sorted(CATALOG_DIR.glob("*/LC_MESSAGES/*.po"))]


def stale_catalogs() -> list[Path]:
    """The ``.po`` files whose ``.mo`` is missing or older than they are."""
    return [
        po
        for po, mo in _catalog_files()
        if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime
    ]


def compile_catalogs(*, only_stale: bool = False) -> list[Path]:
    """Compile every catalog's ``.po`` to its ``.mo`` (what ``pybabel compile -d
    geoservice/translations`` does in ``.ci/setup``), for a checkout whose set-up has not
    run since a catalog changed (the tests' session fixture).

    Parameters
    ----------
    only_stale
        Compile only the catalogs `stale_catalogs` names.

    Returns
    -------
    list of Path
        The ``.mo`` files written.
    """
    wanted = set(stale_catalogs()) if only_stale else None
    written = []
    for po, mo in _catalog_files():
        if wanted is not None and po not in wanted:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)  # readers see the old file or the new one, never half of one
        written.append(mo)
    _catalog.cache_clear()
    return written
