"""The live store of stations, sites and base layers.

:class:`Store` is the small interface callers use; :class:`GpkgStore` keeps everything in
one GeoPackage (readable in QGIS), :class:`geoservice.store.postgis.PostgisStore` in a
PostGIS database that several processes and hosts share. :func:`open_store` opens either
from its location (a path or a ``postgresql://`` URL). Both give the guarantees below (the
PostGIS store's own ways are in its module); their writes share one path
(:class:`LayerStore`).

Crash safety: a write copies the GeoPackage to a temporary file beside it, changes the copy,
flushes it to disk and atomically renames it over the original (``os.replace``). A process
killed at any point leaves either the old file or the new one, never a mix.
Concurrency: writers from any number of processes serialise on an exclusive lock file and
re-read the current state inside the lock, so no write is lost. Readers never block.
Records: every write of ``stations`` or ``sites`` is compared with the layer before it
(:mod:`geoservice.store.changes`); each changed record gets its next ``version``, and the
changes go to the store's journal (the audit log), written in the same step. The
``version`` column is added to a live store by its first such write (every record at
version 1 then; a record without one reads as version 1); opening a store never writes it,
so the shipped seed is never changed.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import filelock
import geopandas as gpd
import pandas as pd
import pyogrio

from geoservice.errors import StoreBusyError, StoreError
from geoservice.model import CRS_STORAGE, SITE_COLUMNS, STATION_COLUMNS
from geoservice.store import changes as _changes

LAYERS = ("stations", "sites", "boundary", "towns", "reservoir")
#: Layers users edit; the base layers are only replaced by a rebuild of the base data.
EDITABLE_LAYERS = ("stations", "sites")

T = TypeVar("T")

if TYPE_CHECKING:
    from geoservice.store.changes import RecordChange


class Journal(Protocol):
    """Where a store records the changes of its writes (the audit log)."""

    def __call__(self, changes: list[RecordChange]) -> AbstractContextManager[None]:
        """A context that records ``changes`` and keeps them only if the block (the commit
        of the layers) succeeds."""

    def retired(self, layer: str) -> set[str]:
        """The ids of ``layer`` ever deleted (never to be given to another record)."""


_INT_COLUMNS = {"capacity": "Int64", "service_minutes": "Int64", "version": "Int64"}
_FLOAT_COLUMNS = ("lon", "lat")


class Store(abc.ABC):
    """What callers need from a store: read layers, change them atomically."""

    @abc.abstractmethod
    def read(self, layer: str) -> gpd.GeoDataFrame:
        """Return a copy of ``layer`` as a GeoDataFrame in EPSG:4326."""

    @abc.abstractmethod
    def update(
        self, layer: str, change: Callable[[gpd.GeoDataFrame], tuple[gpd.GeoDataFrame, T]]
    ) -> T:
        """Apply ``change`` to the current ``layer`` and commit it atomically.

        ``change`` receives the current layer (read inside the writers' lock) and returns
        ``(new_layer, result)``; ``result`` is passed back to the caller. If ``change``
        raises, nothing is written.
        """

    @abc.abstractmethod
    def update_layers(
        self,
        layers: tuple[str, ...],
        change: Callable[[dict[str, gpd.GeoDataFrame]], tuple[dict[str, gpd.GeoDataFrame], T]],
    ) -> T:
        """Like :meth:`update` for several layers at once, committed in one step.

        ``change`` receives ``{name: current layer}`` for ``layers`` and returns
        ``({name: new layer}, result)``; a layer it leaves out stays as it is. Either
        every new layer is written or none is (``district set`` replaces the boundary,
        towns and water layers together).
        """

    @abc.abstractmethod
    def revision(self) -> str:
        """Return a token that changes whenever any layer changes (for caches)."""

    @abc.abstractmethod
    def location(self) -> str:
        """Human-readable location of the store (a path or a DSN)."""

    #: Where the store records its record changes (the audit log), if anywhere.
    journal: Journal | None = None

    def retired_ids(self, layer: str) -> set[str]:
        """Ids of ``layer`` that were deleted (restorable under them): new records never get
        one. Empty for a store without a journal."""
        return self.journal.retired(layer) if self.journal is not None else set()

    def stations(self) -> gpd.GeoDataFrame:
        """Return the ``stations`` layer."""
        return self.read("stations")

    def sites(self) -> gpd.GeoDataFrame:
        """Return the ``sites`` layer."""
        return self.read("sites")


class LayerStore(Store):
    """A :class:`Store` whose writes all take one path, written once for every backend.

    A write takes the writers' lock (:meth:`_writing`), reads the current layers inside it
    (:meth:`_read_current`), applies the change, versions the changed records and commits
    the new layers with their journal entries (:meth:`_commit`, inside the journal's
    context, so that the entries are kept only if the commit succeeds). A backend gives
    those three steps. Reads are cached per layer under a key that changes with every
    write (:meth:`_read_key`), and read anew (:meth:`_read_now`) when it does.
    """

    #: Each layer as last read, under the key it was read at (the backend makes both).
    _cache: dict[str, tuple[object, gpd.GeoDataFrame]]
    _cache_guard: threading.Lock

    def update(
        self, layer: str, change: Callable[[gpd.GeoDataFrame], tuple[gpd.GeoDataFrame, T]]
    ) -> T:
        def one(current: dict[str, gpd.GeoDataFrame]) -> tuple[dict[str, gpd.GeoDataFrame], T]:
            new, result = change(current[layer])
            return {layer: new}, result

        return self.update_layers((layer,), one)

    def update_layers(
        self,
        layers: tuple[str, ...],
        change: Callable[[dict[str, gpd.GeoDataFrame]], tuple[dict[str, gpd.GeoDataFrame], T]],
    ) -> T:
        for layer in layers:
            check_layer(layer)
        with self._writing():
            current = {layer: self._read_current(layer) for layer in layers}
            new, result = change({k: v.copy() for k, v in current.items()})
            unknown = set(new) - set(layers)
            if unknown:
                msg = f"change returned layers it was not given: {', '.join(sorted(unknown))}"
                raise ValueError(msg)
            self._write(current, {layer: normalize(gdf, layer) for layer, gdf in new.items()})
        return result

    def _write(
        self, current: dict[str, gpd.GeoDataFrame], new: dict[str, gpd.GeoDataFrame]
    ) -> None:
        """Version the changed records, then commit ``new`` and journal the changes as one
        step (the journal's entries are kept only if the commit succeeds)."""
        recorded: list[RecordChange] = []
        for layer, gdf in new.items():
            if layer in _changes.RECORD_LAYERS:
                found = _changes.diff(layer, current[layer], gdf)
                recorded += _changes.stamp_versions(current[layer], gdf, found)
        if not recorded and set(new) <= set(_changes.RECORD_LAYERS):
            return  # no record changes: the store, its revision and every cache stay
        if self.journal is None or not recorded:
            self._commit(new)
            return
        with self.journal(recorded):
            self._commit(new)

    def read(self, layer: str) -> gpd.GeoDataFrame:
        check_layer(layer)
        # The key first: the layer read after it is never older than its key.
        key = self._read_key()
        with self._cache_guard:
            hit = self._cache.get(layer)
            if hit and hit[0] == key:
                return hit[1].copy()
        gdf = self._read_now(layer)
        with self._cache_guard:
            self._cache[layer] = (key, gdf)
        return gdf.copy()

    def _rekey(self, written: dict[str, gpd.GeoDataFrame], before: object, after: object) -> None:
        """After a commit that changed the key from ``before`` to ``after``: the layers it
        left alone stay cached (a reader after an edit reads only the changed layer again);
        the written ones are read back as stored."""
        with self._cache_guard:
            for name in list(self._cache):
                key, gdf = self._cache[name]
                if name in written or key != before:
                    del self._cache[name]
                else:
                    self._cache[name] = (after, gdf)

    @abc.abstractmethod
    def _read_key(self) -> object:
        """What changes with every write (a file's stat, the revision): the cache's key."""

    @abc.abstractmethod
    def _read_now(self, layer: str) -> gpd.GeoDataFrame:
        """``layer`` as stored, for a reader (no writer's lock)."""

    @abc.abstractmethod
    def _writing(self) -> AbstractContextManager[None]:
        """Hold the writers' lock (:class:`StoreBusyError` beyond the lock timeout)."""

    @abc.abstractmethod
    def _read_current(self, layer: str) -> gpd.GeoDataFrame:
        """``layer`` as stored now, read inside :meth:`_writing` (never from a cache)."""

    @abc.abstractmethod
    def _commit(self, layers: dict[str, gpd.GeoDataFrame]) -> None:
        """Replace ``layers`` and change the revision, all or nothing, inside
        :meth:`_writing`; returns once the change is durable."""


class GpkgStore(LayerStore):
    """A :class:`Store` kept in one GeoPackage file.

    Parameters
    ----------
    path : str or Path
        The live GeoPackage. Created from ``seed`` on first use when missing.
    seed : str or Path, optional
        The shipped GeoPackage to copy on first start. It is never written to.
    lock_timeout : float
        Seconds a writer waits for the lock before :class:`StoreBusyError`.
    journal : callable, optional
        Records the changes of each write (:data:`Journal`; the app passes the audit log).
    """

    def __init__(
        self,
        path: str | Path,
        seed: str | Path | None = None,
        lock_timeout: float = 60.0,
        journal: Journal | None = None,
    ) -> None:
        self.path = Path(path)
        self.seed = Path(seed) if seed else None
        self.journal = journal
        self._lock_timeout = lock_timeout
        self._lock = (os.getpid(), self._new_lock())
        self._cache: dict[str, tuple[object, gpd.GeoDataFrame]] = {}
        self._cache_guard = threading.Lock()
        self._ensure()

    # -- interface ----------------------------------------------------------------------
    def location(self) -> str:
        return str(self.path)

    def revision(self) -> str:
        st = self.path.stat()
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"

    def _read_key(self) -> object:
        return self._stat_key()

    def _read_now(self, layer: str) -> gpd.GeoDataFrame:
        return self._read_file(self.path, layer)

    # -- internals ----------------------------------------------------------------------
    def _stat_key(self) -> tuple:
        try:
            st = self.path.stat()
        except FileNotFoundError as exc:
            msg = f"store file is missing: {self.path}"
            raise StoreError(msg) from exc
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_current(self, layer: str) -> gpd.GeoDataFrame:
        return self._read_file(self.path, layer)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            with self._file_lock():
                self._remove_stale_temps()
                yield
        except filelock.Timeout as exc:
            msg = f"store is busy: another writer holds {self.path}.lock"
            raise StoreBusyError(msg) from exc

    def _new_lock(self) -> filelock.FileLock:
        return filelock.FileLock(str(self.path) + ".lock", timeout=self._lock_timeout)

    def _file_lock(self) -> filelock.FileLock:
        """The writers' lock of this process: a forked child (a job worker) makes its own,
        since filelock refuses one inherited across a fork."""
        pid, lock = self._lock
        if pid != os.getpid():
            self._lock = (os.getpid(), lock := self._new_lock())
        return lock

    def _ensure(self) -> None:
        if self.path.exists():
            return
        if self.seed is None or not self.seed.exists():
            msg = f"store {self.path} does not exist and there is no seed file to create it"
            raise StoreError(msg)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._writing():
            if not self.path.exists():
                self._replace_from(self.seed, {})

    def _temp_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp.gpkg")

    def _remove_stale_temps(self) -> None:
        # Only called while holding the lock: any temp file left now is a dead writer's.
        for p in self.path.parent.glob(f".{self.path.name}.*.tmp*"):
            p.unlink(missing_ok=True)

    def _commit(self, layers: dict[str, gpd.GeoDataFrame]) -> None:
        # Called under the lock: the file is what `before` describes until the rename.
        before = self._stat_key()
        self._replace_from(self.path, layers)
        self._rekey(layers, before, self._stat_key())

    def _replace_from(self, source: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
        """Copy ``source`` beside the store, write ``layers`` into the copy, flush it and
        rename it over the store: the one way the live file is ever changed."""
        tmp = self._temp_path()
        try:
            shutil.copyfile(source, tmp)
            for name, gdf in layers.items():
                _write_layer(gdf, tmp, name)
            _fsync(tmp)
            os.replace(tmp, self.path)
            _fsync(self.path.parent)
        finally:
            for p in tmp.parent.glob(tmp.name + "*"):
                p.unlink(missing_ok=True)

    @staticmethod
    def _read_file(path: Path, layer: str) -> gpd.GeoDataFrame:
        # Every read of the file goes through here (the tests count them).
        return read_gpkg(path, layer)


def read_gpkg(path: Path, layer: str) -> gpd.GeoDataFrame:
    """``layer`` of the GeoPackage at ``path``, normalised (a store's file or a seed)."""
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"cannot read layer {layer!r} from {path}: {exc}"
        raise StoreError(msg) from exc
    return normalize(gdf, layer)


def open_store(
    location: str | Path,
    seed: str | Path | None = None,
    lock_timeout: float = 60.0,
    journal: Journal | None = None,
) -> Store:
    """Open the store at ``location``: a PostGIS database for a ``postgresql://`` (or
    ``postgres://``) URL, otherwise a GeoPackage file.

    ``seed``, ``lock_timeout`` and ``journal`` are as for :class:`GpkgStore`; a new store of
    either kind is filled from ``seed``.
    """
    if is_database_url(str(location)):
        from geoservice.store.postgis import PostgisStore  # psycopg only where it is used

        return PostgisStore(str(location), seed=seed, lock_timeout=lock_timeout, journal=journal)
    return GpkgStore(location, seed=seed, lock_timeout=lock_timeout, journal=journal)


def is_database_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a file."""
    return location.startswith(("postgresql://", "postgres://"))


def normalize(gdf: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    """Give a stations/sites frame its canonical columns, order and dtypes.

    Text columns are strings ("" for empty), ``capacity``/``service_minutes``/``version``
    nullable integers, ``lon``/``lat`` floats, CRS EPSG:4326. Base layers are returned as read.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=CRS_STORAGE)
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS_STORAGE)
    columns = {"stations": STATION_COLUMNS, "sites": SITE_COLUMNS}.get(layer)
    if columns is None:
        return gdf
    if _changes.VERSION in gdf:  # a live store's records (the shipped seed has none)
        columns = (*columns, _changes.VERSION)
    out = pd.DataFrame(index=range(len(gdf)))
    for c in columns:
        values = gdf[c].to_numpy() if c in gdf else [None] * len(gdf)
        s = pd.Series(values, index=out.index, dtype=object)
        if c in _INT_COLUMNS:
            out[c] = pd.to_numeric(s, errors="coerce").round().astype(_INT_COLUMNS[c])
        elif c in _FLOAT_COLUMNS:
            out[c] = pd.to_numeric(s, errors="coerce").astype(float)
        else:
            out[c] = s.where(s.notna(), "").astype(str)
    geometry = gpd.GeoSeries(gdf.geometry.to_numpy(), crs=gdf.crs).to_crs(CRS_STORAGE)
    return gpd.GeoDataFrame(out, geometry=geometry.to_numpy(), crs=CRS_STORAGE)


def _write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    # pyogrio replaces the layer in place when the file already exists.
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", geometry_type="Unknown")


def check_layer(layer: str) -> None:
    """Refuse a layer name that is not one of :data:`LAYERS` (``ValueError``)."""
    if layer not in LAYERS:
        msg = f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}"
        raise ValueError(msg)


def _fsync(path: Path) -> None:
    """Flush a file or a directory entry to disk (a directory for the rename to persist)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
