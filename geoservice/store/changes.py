"""What a write changed, record by record, and the version each record carries.

Every write of ``stations`` or ``sites`` goes through :class:`geoservice.store.Store`, which
calls :func:`diff` on the layer before and after: one :class:`RecordChange` per record
added, changed or removed. :func:`stamp_versions` then gives each changed record the next
version (the ``version`` column, added to a live store by a migration; the ETag of the write
API), and the store hands the changes to its journal (:mod:`geoservice.admin.audit`). So an
import, an edit in the back office and a call of the write API are recorded alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geoservice.model import SITE_COLUMNS, STATION_COLUMNS

#: The record's version column (not a field of the model: the store keeps it).
VERSION = "version"
#: Layers whose records are versioned and journaled.
RECORD_LAYERS = {"stations": STATION_COLUMNS, "sites": SITE_COLUMNS}


def version_of(value: object) -> int:
    """A record's version from its stored cell: 1 while the store has given it none."""
    return 1 if value is None or value is pd.NA or pd.isna(value) else int(value)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RecordChange:
    """One record added (``before`` None), changed, or removed (``after`` None).

    ``before``/``after`` are the stored fields as JSON-ready dicts, with ``geometry`` as
    WKT and ``version``.
    """

    layer: str
    record_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def action(self) -> str:
        """``create``, ``update`` or ``delete``."""
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"


def _plain(value: object) -> object:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def records(
    gdf: gpd.GeoDataFrame, layer: str, *, stored: bool = False
) -> dict[str, dict[str, Any]]:
    """The layer's records by id: the stored fields, ``geometry`` as WKT, ``version``
    (``stored``: the records are the store's, whose version is 1 until it is written)."""
    columns = RECORD_LAYERS[layer]
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    keep = [c for c in (*columns, VERSION) if c in frame]
    wkt = shapely.to_wkt(gdf.geometry.to_numpy(), rounding_precision=-1)
    out: dict[str, dict[str, Any]] = {}
    for rec, geom in zip(frame[keep].to_dict("records"), wkt, strict=True):
        row = {k: _plain(v) for k, v in rec.items()}
        row["geometry"] = geom
        if stored and row.get(VERSION) is None:
            row[VERSION] = 1
        out[str(row["id"])] = row
    return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in a.keys() | b.keys() if k != VERSION)


def diff(layer: str, before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> list[RecordChange]:
    """Every record ``after`` adds, changes or removes, compared with ``before`` (the
    ``version`` column is not compared: it follows from the changes)."""
    old, new = records(before, layer, stored=True), records(after, layer)
    changes = [
        RecordChange(layer, rid, old.get(rid), row)
        for rid, row in new.items()
        if rid not in old or not _same(old[rid], row)
    ]
    changes += [RecordChange(layer, rid, row, None) for rid, row in old.items() if rid not in new]
    return changes


def stamp_versions(
    before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, changes: list[RecordChange]
) -> list[RecordChange]:
    """Set ``after``'s ``version`` column in place and return the changes with it.

    A changed record gets its old version + 1; a new one 1, or, when it comes back with a
    version (a restored record), that version + 1; every other record keeps the version it
    has in ``before`` (an unchanged row of an import carries none of its own).
    """
    kept = dict(zip(before["id"], before[VERSION], strict=True)) if VERSION in before else {}
    current = after[VERSION] if VERSION in after else pd.Series([None] * len(after))
    versions = [
        _plain(kept.get(rid)) or _plain(v) or 1 for rid, v in zip(after["id"], current, strict=True)
    ]
    index = {rid: n for n, rid in enumerate(after["id"])}
    stamped = []
    for change in changes:
        if change.after is not None:
            # A stored record without a version is at 1; a new one starts from 0 unless it
            # comes back with its own (a restore).
            base = (
                (change.before.get(VERSION) or 1)
                if change.before is not None
                else (change.after.get(VERSION) or 0)
            )
            versions[index[change.record_id]] = int(base) + 1
            change = RecordChange(
                change.layer,
                change.record_id,
                change.before,
                {**change.after, VERSION: int(base) + 1},
            )
        stamped.append(change)
    after[VERSION] = pd.array(versions, dtype="Int64")
    return stamped
