"""The GeoPackage store: seeding, atomic crash-safe writes, serialised concurrent writers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from geoservice.store import LAYERS, GpkgStore, StoreError
from geoservice.web import DEFAULT_GPKG

ROOT = Path(__file__).resolve().parent.parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_seeded_from_shipped_data_with_all_layers(tmp_path):
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    assert {name for name, _ in pyogrio.list_layers(store.path)} >= set(LAYERS)
    assert len(store.stations()) == 104
    assert store.stations().crs.to_epsg() == 4326


def test_missing_store_without_seed_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no seed"):
        GpkgStore(tmp_path / "nope.gpkg")


def test_edits_never_touch_the_shipped_file(tmp_path):
    before = _digest(DEFAULT_GPKG)
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    store.update("stations", lambda g: (g.iloc[:10], None))
    assert len(store.stations()) == 10
    assert _digest(DEFAULT_GPKG) == before
    assert len(gpd.read_file(DEFAULT_GPKG, layer="stations")) == 104


def test_update_roundtrip_keeps_types_and_revision_changes(tmp_path):
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    rev = store.revision()

    def rename(g):
        g.loc[g["id"] == "WS001", "name"] = "改名的驿站"
        return g, "done"

    assert store.update("stations", rename) == "done"
    assert store.revision() != rev
    s = store.stations().set_index("id")
    assert s.loc["WS001", "name"] == "改名的驿站"
    assert str(s["capacity"].dtype) == "Int64"
    assert s["lon"].dtype == float


def test_failing_change_writes_nothing(tmp_path):
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    before = _digest(store.path)

    def boom(g):
        msg = "bad"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="bad"):
        store.update("stations", boom)
    assert _digest(store.path) == before
    assert not list(tmp_path.glob(".live.gpkg.*"))


def test_unknown_layer_rejected(tmp_path):
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    with pytest.raises(ValueError, match="unknown layer"):
        store.read("roads")


_WRITER = textwrap.dedent(
    """
    import sys, geopandas as gpd, pandas as pd
    sys.path.insert(0, {root!r})
    from geoservice.store import GpkgStore
    store = GpkgStore({path!r})
    def grow(g):
        big = pd.concat([g] * 1500, ignore_index=True)  # ~150k rows: a write of seconds
        big["id"] = [f"X{{i}}" for i in range(len(big))]
        return gpd.GeoDataFrame(big, geometry="geometry", crs=g.crs), None
    print("start", flush=True)
    store.update("stations", grow)
    print("committed", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_writer_killed_mid_write_leaves_previous_state(tmp_path, delay):
    path = tmp_path / "live.gpkg"
    GpkgStore(path, seed=DEFAULT_GPKG)
    before = _digest(path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=str(ROOT), path=str(path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".live.gpkg.*.tmp*")):
        assert proc.poll() is None, "writer ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert "committed" not in out, "the kill came too late to test anything"
    # The live file is exactly the previous one and fully readable.
    assert _digest(path) == before
    fresh = GpkgStore(path)
    assert len(fresh.stations()) == 104
    # The next writer cleans the dead writer's temp file and commits normally.
    fresh.update("stations", lambda g: (g.iloc[:5], None))
    assert len(GpkgStore(path).stations()) == 5
    assert not list(tmp_path.glob(".live.gpkg.*"))


_ADDER = textwrap.dedent(
    """
    import sys, geopandas as gpd, pandas as pd
    sys.path.insert(0, {root!r})
    from geoservice.store import GpkgStore
    store = GpkgStore({path!r})
    for n in range({n}):
        def add(g, n=n):
            row = g.iloc[[0]].copy()
            row["id"] = "P{w}-" + str(n)
            return gpd.GeoDataFrame(pd.concat([g, row], ignore_index=True), crs=g.crs), None
        store.update("stations", add)
    """
)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "live.gpkg"
    GpkgStore(path, seed=DEFAULT_GPKG)
    writers, per_writer = 4, 8
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _ADDER.format(root=str(ROOT), path=str(path), n=per_writer, w=w),
            ]
        )
        for w in range(writers)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    ids = set(GpkgStore(path).stations()["id"])
    expected = {f"P{w}-{n}" for w in range(writers) for n in range(per_writer)}
    assert expected <= ids
    assert len(ids) == 104 + writers * per_writer


def test_readers_see_changes_from_other_processes(tmp_path):
    path = tmp_path / "live.gpkg"
    a = GpkgStore(path, seed=DEFAULT_GPKG)
    b = GpkgStore(path)
    assert len(b.stations()) == 104  # cached in b
    a.update("stations", lambda g: (g.iloc[:3], None))
    assert len(b.stations()) == 3


def test_empty_layer_roundtrip(tmp_path):
    store = GpkgStore(tmp_path / "live.gpkg", seed=DEFAULT_GPKG)
    store.update("stations", lambda g: (g.iloc[:0], None))
    empty = store.stations()
    assert len(empty) == 0
    assert "opening_hours" in empty.columns
    store.update("stations", lambda g: (pd.concat([g, GpkgStore(DEFAULT_GPKG).stations()]), None))
    assert len(store.stations()) == 104
    os.sync()


def test_own_write_keeps_other_layers_cached_but_never_stale(tmp_path, monkeypatch):
    path = tmp_path / "live.gpkg"
    a = GpkgStore(path, seed=DEFAULT_GPKG)
    b = GpkgStore(path)
    reads: list[str] = []
    real = GpkgStore._read_file

    def counting(p, layer):
        reads.append(layer)
        return real(p, layer)

    monkeypatch.setattr(GpkgStore, "_read_file", staticmethod(counting))
    a.sites(), a.stations()
    reads.clear()
    a.update("stations", lambda g: (g.iloc[:5], None))
    assert len(a.stations()) == 5
    assert len(a.sites()) > 0
    # The write read and wrote stations; sites came from the cache.
    assert reads == ["stations", "stations"]
    # Another writer changes sites in between: a's next own write must not keep them.
    b.update("sites", lambda g: (g.iloc[:2], None))
    a.update("stations", lambda g: (g.iloc[:4], None))
    assert len(a.sites()) == 2
    assert len(a.stations()) == 4
