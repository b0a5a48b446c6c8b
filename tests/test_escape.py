"""Escaping for HTML, JS template literals, scripts and spreadsheet cells."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import HOSTILE_NAMES as HOSTILE

from geoservice import escape
from geoservice.errors import excerpt


@pytest.mark.parametrize("text", HOSTILE)
def test_html_escapes_every_dangerous_character(text):
    out = escape.html(text)
    for ch in "<>\"'`$\\{}\n\r\u2028\u2029":
        assert ch not in out
    import html

    assert html.unescape(out) == text


node = shutil.which("node")


@pytest.mark.skipif(node is None, reason="node not installed")
def test_html_is_inert_in_template_literals_and_js_strings():
    # Evaluate the escaped text inside a template literal and a quoted string with Node:
    # the result must be the escaped text itself (no interpolation, no early end).
    cases = [escape.html(t) for t in HOSTILE]
    script = "".join(f"out.push([`{c}`, '{c}', \"{c}\"]);\n" for c in cases)
    code = "const out = [];\n" + script + "console.log(JSON.stringify(out));"
    res = subprocess.run([node, "-e", code], capture_output=True, text=True, check=True)
    got = json.loads(res.stdout)
    assert got == [[c, c, c] for c in cases]


def test_js_literal_cannot_close_a_script():
    out = escape.js("</script><b>&\u2028")
    for ch in "<>&\u2028":
        assert ch not in out
    assert json.loads(out) == "</script><b>&\u2028"


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        '=HYPERLINK("http://x","y")',
        "=cmd|' /C calc'!A0",
        "+86 10",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "'=x",
        "''",
        "'",
        "'plain",
        "plain",
        "",
    ],
)
def test_spreadsheet_cells_round_trip(value):
    cell = escape.spreadsheet_cell(value)
    assert not str(cell).startswith(escape.FORMULA_TRIGGERS)
    assert escape.unspreadsheet_cell(cell) == value


def test_non_strings_are_left_alone():
    assert escape.spreadsheet_cell(-3.5) == -3.5
    assert escape.unspreadsheet_cell(7) == 7


def test_excerpt_is_short():
    assert len(excerpt("9" * 5000)) < 50
    assert excerpt("abc") == "'abc'"
    assert excerpt(1e309) == "inf"
