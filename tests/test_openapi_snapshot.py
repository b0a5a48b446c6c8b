"""The OpenAPI description keeps its paths, parameters and status codes.

The spec is generated from the request declarations; this compares its outline (every
path, method, parameter with its schema, request body media type and response status)
with a committed snapshot, so that a change to the API surface is always deliberate.
After an intended change, rewrite the snapshot with
``.venv/bin/python tests/test_openapi_snapshot.py`` and commit it with the change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "data" / "openapi_outline.json"


def outline() -> dict:
    """Paths → methods → parameters (name, in, required, schema), body media types and
    response codes, of the spec served for the shipped Miyun data."""
    sys.path.insert(0, str(ROOT))
    from geoservice import __version__
    from geoservice.store import GpkgStore, catalog
    from geoservice.web import DEFAULT_GPKG
    from geoservice.web.openapi import spec

    doc = spec(__version__, catalog.town_names(GpkgStore(DEFAULT_GPKG)))
    out: dict = {}
    for path, item in sorted(doc["paths"].items()):
        for method, op in sorted(item.items()):
            body = op.get("requestBody", {}).get("content", {})
            out.setdefault(path, {})[method] = {
                "parameters": [
                    {
                        "name": prm["name"],
                        "in": prm["in"],
                        "required": bool(prm.get("required", False)),
                        "schema": prm.get("schema", {}),
                    }
                    for prm in op.get("parameters", [])
                ],
                "body": sorted(body),
                "responses": sorted(op["responses"]),
            }
    return out


def test_spec_outline_matches_the_snapshot():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert outline() == expected, (
        "the API surface changed: if intended, run `python tests/test_openapi_snapshot.py`"
    )


if __name__ == "__main__":
    SNAPSHOT.write_text(
        json.dumps(outline(), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {SNAPSHOT}")
