"""Lint, format and types: the tree is clean under the project's ruff and mypy settings
(pyproject.toml), so `.ci/run` checks them with the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_check_is_clean():
    r = subprocess.run([*RUFF, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_is_clean():
    r = subprocess.run([*RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean():
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "geoservice"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_app_never_imports_the_build_tools(tmp_path):
    # tools/ builds the shipped data; the service must start without it.
    code = "import sys, app; print(sorted(m for m in sys.modules if m.split('.')[0] == 'tools'))"
    # The app's store under tmp_path, not in the checkout's instance/ (shared by the workers).
    env = os.environ | {"GEOSERVICE_STORE_PATH": str(tmp_path / "live.gpkg")}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_no_module_shadows_the_standard_library():
    names = {p.stem for p in (ROOT / "geoservice").rglob("*.py")} | {
        p.name for p in (ROOT / "geoservice").rglob("*") if p.is_dir()
    }
    assert not names & set(sys.stdlib_module_names)
