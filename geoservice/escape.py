"""Escaping of data strings for every context they reach: HTML, attributes, scripts,
JavaScript template literals and spreadsheet cells.

Names, addresses and hours come from spreadsheets, QGIS edits and the API, so every one of
them is hostile until escaped for the exact place it is written to:

* `html` — HTML text and quoted attribute values. The result is also inert inside a
  JavaScript template literal or a quoted JS string, because folium writes tooltip and
  popup HTML into template literals (`` `...` ``): besides ``& < > " '`` it encodes the
  backtick, ``$``, the backslash and line breaks as character references, which a
  template literal leaves alone and HTML shows as the original characters.
* `js` — a JSON/JavaScript string literal that is safe inside an HTML ``<script>`` element
  (``<``, ``>``, ``&`` and U+2028/U+2029 as ``\\u`` escapes).
* `spreadsheet_cell` / `unspreadsheet_cell` — text that Excel, WPS or LibreOffice would run
  as a formula (``= + - @``, tab, carriage return first) is prefixed with ``'``; reading it
  back removes exactly that prefix, so an export re-imports as the same records.
"""

from __future__ import annotations

import html as _html
import json

__all__ = ["FORMULA_TRIGGERS", "html", "js", "spreadsheet_cell", "unspreadsheet_cell"]

# Characters left alone by html.escape that end or interpolate a JS template literal or
# string, or break a single-line JS string.
_TEMPLATE_SAFE = str.maketrans(
    {
        "`": "&#96;",
        "$": "&#36;",
        "\\": "&#92;",
        "{": "&#123;",
        "}": "&#125;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\u2028": "&#8232;",
        "\u2029": "&#8233;",
    }
)

#: First characters that make a spreadsheet treat a text cell as a formula (OWASP CSV
#: injection list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# What may follow the ``'`` that spreadsheet_cell adds.
_PREFIXED = (*FORMULA_TRIGGERS, "'")


def html(value: object) -> str:
    """Escape a data value for HTML text or a quoted attribute value.

    The result is also inert inside a JavaScript template literal or quoted string (see
    the module docstring), so it may be handed to folium tooltips and popups as is.

    Parameters
    ----------
    value
        Any value; None becomes ``""``.

    Returns
    -------
    str
    """
    text = "" if value is None else str(value)
    return _html.escape(text, quote=True).translate(_TEMPLATE_SAFE)


def js(value: object) -> str:
    """A JavaScript literal of ``value`` (any JSON value) safe inside ``<script>``.

    Parameters
    ----------
    value
        A JSON-serialisable value (strings, numbers, lists, dicts).

    Returns
    -------
    str
        E.g. ``"\\u003c/script\\u003e"`` for ``"</script>"``.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def spreadsheet_cell(value: object) -> object:
    """Neutralise a text cell that a spreadsheet would evaluate as a formula.

    Parameters
    ----------
    value
        A cell value; only strings are changed.

    Returns
    -------
    object
        ``"'" + value`` when the string starts with one of `FORMULA_TRIGGERS` (or is
        already such a prefixed string, so that reading back is unambiguous); the value
        unchanged otherwise.
    """
    if isinstance(value, str) and (
        value.startswith(FORMULA_TRIGGERS)
        or (value.startswith("'") and value[1:].startswith(_PREFIXED))
    ):
        return "'" + value
    return value


def unspreadsheet_cell(value: object) -> object:
    """Undo `spreadsheet_cell` on a cell read back from a file.

    Parameters
    ----------
    value
        A cell value; only strings starting with ``'`` followed by a formula trigger or
        another ``'`` are changed.

    Returns
    -------
    object
        The value without the one ``'`` that `spreadsheet_cell` added.
    """
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_PREFIXED):
        return value[1:]
    return value
