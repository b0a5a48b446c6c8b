"""A web process starts without the libraries only some jobs need (cold start: process
start to the first answer, docs/scale.md): maps, workbooks, the tour solver, OSM
downloads, charts and the siting solver are imported where they are used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geoservice.tours import vrp

ROOT = Path(__file__).resolve().parent.parent
#: Imported on first use only.
LATER = ("folium", "branca", "openpyxl", "pyvrp", "osmnx", "matplotlib", "sklearn", "highspy")


def test_the_web_app_imports_none_of_the_libraries_of_single_jobs():
    code = (
        "import sys\nimport geoservice.web\n"
        f"print(' '.join(m for m in {LATER!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""


def test_unreachable_is_pyvrps_largest_safe_value_over_four():
    from pyvrp.constants import MAX_VALUE

    assert vrp.UNREACHABLE == MAX_VALUE // 4
