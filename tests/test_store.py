"""The store, GeoPackage and PostGIS alike (`store_backend`): seeding, atomic crash-safe
writes, serialised concurrent writers, readers that see other processes' writes."""

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
import pytest
from pandas.testing import assert_frame_equal

from geoservice.errors import StoreBusyError
from geoservice.store import LAYERS, GpkgStore, StoreError
from geoservice.web import DEFAULT_GPKG

ROOT = Path(__file__).resolve().parent.parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_seeded_from_shipped_data_with_all_layers(store_backend):
    store = store_backend.open(seed=True)
    assert store_backend.layers() >= set(LAYERS)
    assert len(store.stations()) == 104
    assert store.stations().crs.to_epsg() == 4326


def test_missing_store_without_seed_is_a_clear_error(store_backend):
    with pytest.raises(StoreError, match="no seed"):
        store_backend.open()


def test_layers_read_as_the_shipped_data(store_backend):
    # The same frames from either backend: columns, order, dtypes, empty strings, geometry.
    store, seed = store_backend.open(seed=True), GpkgStore(DEFAULT_GPKG)
    for layer in LAYERS:
        assert_frame_equal(store.read(layer), seed.read(layer))


def test_edits_never_touch_the_shipped_file(store_backend):
    before = _digest(DEFAULT_GPKG)
    store = store_backend.open(seed=True)
    store.update("stations", lambda g: (g.iloc[:10], None))
    assert len(store.stations()) == 10
    assert _digest(DEFAULT_GPKG) == before
    assert len(gpd.read_file(DEFAULT_GPKG, layer="stations")) == 104


def test_update_roundtrip_keeps_types_and_revision_changes(store_backend):
    store = store_backend.open(seed=True)
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


def test_failing_change_writes_nothing(store_backend):
    store = store_backend.open(seed=True)
    before = store_backend.snapshot()

    def boom(g):
        msg = "bad"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="bad"):
        store.update("stations", boom)
    assert store_backend.snapshot() == before
    assert not store_backend.leftovers()


def test_unknown_layer_rejected(store_backend):
    store = store_backend.open(seed=True)
    with pytest.raises(ValueError, match="unknown layer"):
        store.read("roads")


_WRITER = textwrap.dedent(
    """
    import sys, geopandas as gpd, pandas as pd
    sys.path.insert(0, {root!r})
    from geoservice.store import open_store
    store = open_store({location!r})
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
def test_writer_killed_mid_write_leaves_previous_state(store_backend, delay):
    store_backend.open(seed=True)
    before = store_backend.snapshot()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=str(ROOT), location=store_backend.location)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not store_backend.writing():
        assert proc.poll() is None, "writer ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert "committed" not in out, "the kill came too late to test anything"
    # The store is exactly the previous one and fully readable.
    assert store_backend.snapshot() == before
    fresh = store_backend.open()
    assert len(fresh.stations()) == 104
    # The next writer cleans what the dead writer left (if anything) and commits normally.
    fresh.update("stations", lambda g: (g.iloc[:5], None))
    assert len(store_backend.open().stations()) == 5
    assert not store_backend.leftovers()


_ADDER = textwrap.dedent(
    """
    import sys, geopandas as gpd, pandas as pd
    sys.path.insert(0, {root!r})
    from geoservice.store import open_store
    store = open_store({location!r})
    for n in range({n}):
        def add(g, n=n):
            row = g.iloc[[0]].copy()
            row["id"] = "P{w}-" + str(n)
            return gpd.GeoDataFrame(pd.concat([g, row], ignore_index=True), crs=g.crs), None
        store.update("stations", add)
    """
)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(store_backend):
    store_backend.open(seed=True)
    writers, per_writer = 4, 8
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _ADDER.format(root=str(ROOT), location=store_backend.location, n=per_writer, w=w),
            ]
        )
        for w in range(writers)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    ids = set(store_backend.open().stations()["id"])
    expected = {f"P{w}-{n}" for w in range(writers) for n in range(per_writer)}
    assert expected <= ids
    assert len(ids) == 104 + writers * per_writer


def test_readers_see_changes_from_other_processes(store_backend):
    a = store_backend.open(seed=True)
    b = store_backend.open()
    assert len(b.stations()) == 104  # cached in b
    a.update("stations", lambda g: (g.iloc[:3], None))
    assert len(b.stations()) == 3


def test_empty_layer_roundtrip(store_backend):
    store = store_backend.open(seed=True)
    store.update("stations", lambda g: (g.iloc[:0], None))
    empty = store.stations()
    assert len(empty) == 0
    assert "opening_hours" in empty.columns
    store.update("stations", lambda g: (pd.concat([g, GpkgStore(DEFAULT_GPKG).stations()]), None))
    assert len(store.stations()) == 104
    os.sync()


def test_own_write_keeps_other_layers_cached_but_never_stale(store_backend, monkeypatch):
    a = store_backend.open(seed=True)
    b = store_backend.open()
    reads = store_backend.count_reads(monkeypatch)
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


def test_writer_waits_for_the_lock_then_gives_up_busy(store_backend):
    store = store_backend.open(seed=True, lock_timeout=0.3)
    revision = store.revision()
    with store_backend.holding_lock():
        started = time.monotonic()
        with pytest.raises(StoreBusyError, match="busy"):
            store.update("stations", lambda g: (g.iloc[:1], None))
        assert time.monotonic() - started >= 0.25
        assert len(store.stations()) == 104  # readers never wait for a writer
    assert store.revision() == revision
    store.update("stations", lambda g: (g.iloc[:1], None))
    assert len(store.stations()) == 1


def test_a_forked_child_uses_the_store_without_breaking_the_parents(store_backend):
    # Job workers are forked from a process that has read the store (and, for PostGIS,
    # holds connections): the child needs its own, and must leave the parent's alone.
    store = store_backend.open(seed=True)
    revision = store.revision()
    pid = os.fork()
    if pid == 0:  # the child: read, write, and exit without running the parent's cleanup
        ok = len(store.stations()) == 104
        store.update("stations", lambda g: (g.iloc[:7], None))
        os._exit(0 if ok and len(store.stations()) == 7 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.revision() != revision
    assert len(store.stations()) == 7
    store.update("stations", lambda g: (g.iloc[:3], None))
    assert len(store_backend.open().stations()) == 3
