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
LATER = (
    "folium",
    "branca",
    "openpyxl",
    "pyvrp",
    "osmnx",
    "networkx",
    "matplotlib",
    "sklearn",
    "highspy",
)


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


def test_a_fresh_process_draws_its_first_map_with_local_assets(tmp_path):
    # folium and its plugins load with the first map: their asset lists must be made local
    # then too (in a test session another test has usually loaded them already).
    code = (
        "import sys\nfrom geoservice.web import create_app\n"
        f"app = create_app({{'STORE_PATH': {str(tmp_path / 'live.gpkg')!r}, "
        "'RATELIMIT_ENABLED': False})\n"
        "c = app.test_client()\n"
        "for page in ('/nearest', '/'):\n"
        "    r = c.get(page)\n"
        "    print(r.status_code, b'cdnjs' in r.data or b'unpkg.com' in r.data)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["200", "False"] * 2, done.stderr[-2000:]
