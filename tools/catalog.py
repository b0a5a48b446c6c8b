"""Build the message catalogs: ``geoservice/translations/messages.pot`` and each language's
``messages.po`` (run from the checkout's root)::

    python -m tools.catalog           # extract, then update the .pot and the .po files
    python -m tools.catalog --check   # exit 1 when they are out of date or a text is
                                      # untranslated (what tests/test_english.py checks)

The msgids are the Chinese texts (the source language is zh-Hans). Two sources:

* the texts of the pages, popups, exports and scripts, found by ``pybabel extract``'s own
  extractors as ``babel.cfg`` maps them (``_()``/``gettext()`` in templates and Python,
  ``N_()`` for literals translated later, ``t()`` in ``static/*.js``);
* the fixed messages of the API's errors, from the bilingual table
  :data:`geoservice.messages.MESSAGES`, each with its id as msgctxt (two ids may share their
  Chinese) and the table's English as msgstr: the table is their source, so a changed
  English there is copied again.

Translations of the page texts are written in the ``.po`` (by hand or a translator's tool);
an update keeps them, adds new texts untranslated and drops those no longer used. Set-up
compiles the ``.po`` to ``.mo`` (``pybabel compile -d geoservice/translations``).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from geoservice.i18n import CATALOG_DIR, DEFAULT_LANG, LANGS
from geoservice.messages import MESSAGES

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
POT = CATALOG_DIR / "messages.pot"
#: The scripts' one keyword (static/common.js ``t()``).
JS_KEYWORDS = {"t": None}
#: Line width of the written files (the project's line length).
WIDTH = 100


def extract() -> Catalog:
    """Every msgid of the service: the extracted texts and the messages table.

    Returns
    -------
    Catalog
        The template (no translations but the table's, which `update` copies).
    """
    with BABEL_CFG.open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    template = Catalog(project="geoservice", msgid_bugs_address="", fuzzy=False)
    # ``t`` is a keyword of the scripts only (Python has variables named t).
    for methods, keywords in (
        ([m for m in method_map if m[1] != "javascript"], DEFAULT_KEYWORDS),
        ([m for m in method_map if m[1] == "javascript"], JS_KEYWORDS),
    ):
        found = extract_from_dir(
            ROOT,
            methods,
            options_map,
            keywords=keywords,
            comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True,
        )
        for filename, lineno, msgid, comments, context in found:
            text = msgid[0] if isinstance(msgid, tuple) else msgid  # no plurals in Chinese
            template.add(text, None, [(filename, lineno)], auto_comments=comments, context=context)
    for key, (zh, _) in MESSAGES.items():
        flags = ("python-brace-format",) if "{" in zh else ()
        template.add(zh, None, [("geoservice/messages.py", 0)], flags=flags, context=key)
    return template


def _po_path(lang: str) -> Path:
    return CATALOG_DIR / lang.replace("-", "_") / "LC_MESSAGES" / "messages.po"


def update(template: Catalog, lang: str) -> Catalog:
    """The ``.po`` of ``lang`` brought up to ``template``: its translations kept, the
    messages table's copied in.

    Parameters
    ----------
    template
        From `extract`.
    lang
        A language of :data:`geoservice.i18n.LANGS` other than the source language.

    Returns
    -------
    Catalog
    """
    path = _po_path(lang)
    if path.is_file():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang.replace("-", "_"))
    else:
        catalog = Catalog(locale=lang.replace("-", "_"), project="geoservice", fuzzy=False)
    # No fuzzy guesses: an untranslated text is shown in Chinese and reported by --check.
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    if lang == "en":
        for key, (_, en) in MESSAGES.items():
            catalog.get(MESSAGES[key][0], context=key).string = en  # type: ignore[union-attr]
    return catalog


def _dump(catalog: Catalog, **kwargs: object) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, omit_header=False, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def untranslated(catalog: Catalog) -> list[str]:
    """The msgids of ``catalog`` without a translation (or with a fuzzy one)."""
    return [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    template = extract()
    files = {POT: _dump(template, ignore_obsolete=True)}
    missing: dict[str, list[str]] = {}
    for lang in LANGS:
        if lang == DEFAULT_LANG:
            continue
        catalog = update(template, lang)
        files[_po_path(lang)] = _dump(catalog, ignore_obsolete=True)
        missing[lang] = untranslated(catalog)
    stale = [
        p for p, data in files.items() if not p.is_file() or _body(p.read_bytes()) != _body(data)
    ]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run python -m tools.catalog)")
        for lang, ids in missing.items():
            for msgid in ids:
                print(f"untranslated ({lang}): {msgid!r}")
        return 1 if stale or any(missing.values()) else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    for lang, ids in missing.items():
        if ids:
            print(
                f"{len(ids)} texts untranslated in {lang}: edit {_po_path(lang).relative_to(ROOT)}"
            )
    return 0


def _body(data: bytes) -> bytes:
    # The header's dates change on every write; the messages are what matters.
    return data.split(b'"Content-Transfer-Encoding', 1)[-1].split(b"\n\n", 1)[-1]


if __name__ == "__main__":
    sys.exit(main())
