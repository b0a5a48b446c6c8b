"""The store in a PostGIS database, shared by every process and host that names it.

One table per layer (its name; ``fid`` the row order, the layer's columns, ``geom`` a
``geometry(Geometry, 4326)`` column with a spatial index) and the one-row table
``store_revision``, bumped in the transaction of every write. A new database is filled
from the seed GeoPackage, as :class:`geoservice.store.GpkgStore` copies it.

The guarantees are the GeoPackage store's (:mod:`geoservice.store`), kept the database's way:

- Crash safety: a write is one transaction (every layer of ``update_layers`` and the
  revision), so a writer killed at any point leaves the old state or the new one.
- Concurrency: writers lock the revision row (``SELECT … FOR UPDATE``, waiting at most
  ``lock_timeout``) and re-read the layers inside the lock; readers never wait for them
  (a layer is rewritten by ``DELETE`` and ``COPY``, which readers see all at once at the
  commit; only a change of a layer's columns makes readers wait for the commit).
- Freshness: :meth:`PostgisStore.revision` is one query of one row, so an edit made by any
  process is seen by the next question of every other. Layers are cached per process
  under the revision they were read at (read after it, so never older than their key).

Connections: one per thread, opened on first use and again after a fork (a child never
uses, nor closes, its parent's), plus a short one for each write. The password of the URL
never appears in :meth:`PostgisStore.location`, messages or logs.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from geoservice.errors import StoreBusyError, StoreError
from geoservice.model import CRS_STORAGE
from geoservice.store import LAYERS, Journal, LayerStore, normalize, read_gpkg

R = TypeVar("R")

_REVISION = "store_revision"
_KEY = "fid"
_GEOM = "geom"
_GEOM_TYPE = "geometry(Geometry,4326)"
#: Longest column name PostgreSQL keeps (NAMEDATALEN - 1); a longer one would be cut.
_MAX_NAME_BYTES = 63
#: The advisory lock under which a process creates the tables of a new database.
_SCHEMA_LOCK = 0x67656F73
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT = 10
_SELECT_REVISION = sql.SQL("SELECT epoch || '-' || n FROM {} WHERE id = 1").format(
    sql.Identifier(_REVISION)
)
#: Connections of a parent process, inherited by a fork: kept referenced so that the child
#: never closes them (closing would end the parent's session) and never warns about them.
_INHERITED: list[_Held] = []


class _Held:
    """A thread's connection and the process that opened it (closed with it there only)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def usable(self) -> bool:
        return self.pid == os.getpid() and not self.conn.closed and not self.conn.broken

    def __del__(self) -> None:
        if self.pid == os.getpid():
            with contextlib.suppress(Exception):  # at exit the server may be gone first
                self.conn.close()


class PostgisStore(LayerStore):
    """A :class:`geoservice.store.Store` kept in a PostGIS database.

    Parameters
    ----------
    url : str
        The database, ``postgresql://user:password@host:port/dbname`` (libpq's URL; an
        empty host is the local socket). PostGIS must be installed there, or the user
        allowed to ``CREATE EXTENSION postgis``.
    seed : str or Path, optional
        The shipped GeoPackage that fills a database without the store's tables. It is
        never written to.
    lock_timeout : float
        Seconds a writer waits for the lock before :class:`StoreBusyError`.
    journal : callable, optional
        Records the changes of each write (:data:`geoservice.store.Journal`).
    """

    def __init__(
        self,
        url: str,
        seed: str | Path | None = None,
        lock_timeout: float = 60.0,
        journal: Journal | None = None,
    ) -> None:
        self.url = url
        self.seed = Path(seed) if seed else None
        self.journal = journal
        self.lock_timeout = lock_timeout
        self._location, self._password = describe(url)
        self._local = threading.local()
        self._cache: dict[str, tuple[object, gpd.GeoDataFrame]] = {}
        self._cache_guard = threading.Lock()
        self._ensure()

    # -- interface ----------------------------------------------------------------------
    def location(self) -> str:
        return self._location

    def revision(self) -> str:
        return self._run(_revision)

    def _read_key(self) -> object:
        return self.revision()

    def _read_now(self, layer: str) -> gpd.GeoDataFrame:
        return self._run(lambda conn: self._read_table(conn, layer))

    # -- writes (LayerStore) --------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        conn = self._connect(autocommit=False)
        try:
            with self._errors("lock"):
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    (f"{max(1, round(self.lock_timeout * 1000))}ms",),
                )
                row = conn.execute(sql.SQL("{} FOR UPDATE").format(_SELECT_REVISION)).fetchone()
            self._local.writer = (conn, row[0] if row else "")
            yield
        finally:
            self._local.writer = None
            conn.close()  # a transaction not committed is rolled back

    def _read_current(self, layer: str) -> gpd.GeoDataFrame:
        conn, _ = self._local.writer
        with self._errors(f"read {layer}"):
            return self._read_table(conn, layer)

    def _commit(self, layers: dict[str, gpd.GeoDataFrame]) -> None:
        conn, before = self._local.writer
        with self._errors("write"):
            for name, gdf in layers.items():
                _write_table(conn, name, gdf)
            after = _bump(conn)
            conn.commit()
        self._rekey(layers, before, after)

    # -- internals ----------------------------------------------------------------------
    def _connect(self, autocommit: bool) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            msg = f"cannot connect to the store database {self._location}: {self._clean(exc)}"
            raise StoreError(msg) from None

    def _conn(self) -> psycopg.Connection:
        """This thread's connection (a new one in a forked child or after a lost one)."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.usable():
            return held.conn
        if held is not None and held.pid != os.getpid():
            _INHERITED.append(held)
        self._local.held = None
        self._local.held = _Held(self._connect(autocommit=True))
        return self._local.held.conn

    def _run(self, query: Callable[[psycopg.Connection], R]) -> R:
        """Run a read on this thread's connection, once more on a new one if the server
        closed it (a restart, an idle timeout)."""
        with self._errors("read"):
            try:
                return query(self._conn())
            except psycopg.OperationalError:
                self._local.held = None
            return query(self._conn())

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Database errors as :class:`StoreError` (a lock wait over the timeout as
        :class:`StoreBusyError`), without the password."""
        try:
            yield
        except psycopg.errors.LockNotAvailable as exc:
            msg = (
                f"store is busy: another writer held {self._location} for more than "
                f"{self.lock_timeout:g} s"
            )
            raise StoreBusyError(msg) from exc
        except psycopg.Error as exc:
            msg = f"cannot {doing} the store database {self._location}: {self._clean(exc)}"
            raise StoreError(msg) from None

    def _clean(self, exc: BaseException) -> str:
        text = str(exc).strip()
        return text.replace(self._password, "***") if self._password else text

    def _ensure(self) -> None:
        """Create the tables from the seed in a database without them (one process does,
        under an advisory lock; the others find them made)."""
        conn = self._connect(autocommit=False)
        try:
            with self._errors("set up"):
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                if _revision_of(conn) is not None:
                    return
                self._create(conn)
                conn.commit()
        finally:
            conn.close()

    def _create(self, conn: psycopg.Connection) -> None:
        if self.seed is None or not self.seed.exists():
            msg = (
                f"store {self._location} does not exist (no {_REVISION} table) and there is "
                "no seed file to create it"
            )
            raise StoreError(msg)
        _ensure_postgis(conn, self._location)
        seeded = {layer: read_gpkg(self.seed, layer) for layer in LAYERS}
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id integer PRIMARY KEY CHECK (id = 1), "
                "epoch text NOT NULL, n bigint NOT NULL)"
            ).format(sql.Identifier(_REVISION))
        )
        for layer, gdf in seeded.items():
            _write_table(conn, layer, gdf)
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (1, %s, 1)").format(sql.Identifier(_REVISION)),
            (uuid.uuid4().hex[:12],),
        )

    @staticmethod
    def _read_table(conn: psycopg.Connection, layer: str) -> gpd.GeoDataFrame:
        cur = conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                sql.Identifier(layer), sql.Identifier(_KEY)
            )
        )
        names = [d.name for d in cur.description or ()]
        rows = cur.fetchall()
        cells = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        columns = dict(zip(names, cells, strict=True))
        geometry = shapely.from_wkb(np.array(columns.pop(_GEOM), dtype=object))
        columns.pop(_KEY)
        frame = pd.DataFrame({name: list(values) for name, values in columns.items()})
        gdf = gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS_STORAGE)
        return normalize(gdf, layer)


def describe(url: str) -> tuple[str, str | None]:
    """The database of ``url`` without its password (for locations, messages and logs),
    and the password (None without one): the one rule for the store and the staff tables.

    Raises
    ------
    StoreError
        ``url`` is not a PostgreSQL URL (the driver's message would quote it whole).
    """
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        msg = "the database URL is not a valid PostgreSQL URL (postgresql://user@host:port/dbname)"
        raise StoreError(msg) from None
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    where = f"postgresql://{user}{info.get('host') or ''}{port}/{info.get('dbname') or ''}"
    password = info.get("password")
    return where, str(password) if password else None


def _revision(conn: psycopg.Connection) -> str:
    """The revision: one query of one row (every question asks it)."""
    row = conn.execute(_SELECT_REVISION).fetchone()
    if row is None:
        msg = f"the store's {_REVISION} table is empty"
        raise StoreError(msg)
    return str(row[0])


def _revision_of(conn: psycopg.Connection) -> str | None:
    """The revision, or None in a database without the store's tables."""
    exists = conn.execute("SELECT to_regclass(%s)", (_REVISION,)).fetchone()
    if not exists or exists[0] is None:
        return None
    row = conn.execute(_SELECT_REVISION).fetchone()
    return str(row[0]) if row else None


def _bump(conn: psycopg.Connection) -> str:
    row = conn.execute(
        sql.SQL("UPDATE {} SET n = n + 1 WHERE id = 1 RETURNING epoch || '-' || n").format(
            sql.Identifier(_REVISION)
        )
    ).fetchone()
    return str(row[0]) if row else ""


def _ensure_postgis(conn: psycopg.Connection, location: str) -> None:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION postgis")
    except psycopg.Error as exc:
        msg = (
            f"PostGIS is not installed in {location} and this user may not install it "
            f"({exc.diag.message_primary}); as a superuser run: CREATE EXTENSION postgis"
        )
        raise StoreError(msg) from None


# -- one layer's table ----------------------------------------------------------------------


def _write_table(conn: psycopg.Connection, layer: str, gdf: gpd.GeoDataFrame) -> None:
    """Replace the rows of ``layer`` with ``gdf`` (in the caller's transaction); the table
    is made again only when its columns change."""
    gdf = gdf.to_crs(CRS_STORAGE) if gdf.crs is not None else gdf.set_crs(CRS_STORAGE)
    names = [c for c in gdf.columns if c != gdf.geometry.name]
    for name in names:
        if name in (_KEY, _GEOM) or len(str(name).encode()) > _MAX_NAME_BYTES:
            msg = f"layer {layer!r} cannot be stored in PostGIS: column name {name!r}"
            raise StoreError(msg)
    wanted = [(_KEY, "bigint"), *((n, _pg_type(gdf[n])) for n in names), (_GEOM, _GEOM_TYPE)]
    table = sql.Identifier(layer)
    if _columns(conn, layer) == wanted:
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
    else:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                table,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in wanted
                ),
            )
        )
        key = sql.Identifier(_KEY)
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(table, key))
        conn.execute(
            sql.SQL("CREATE INDEX ON {} USING gist ({})").format(table, sql.Identifier(_GEOM))
        )
    geoms = shapely.to_wkb(
        shapely.set_srid(np.asarray(gdf.geometry.array, dtype=object), 4326),
        hex=True,
        include_srid=True,
    )
    cells = [range(len(gdf)), *(_cells(gdf[n]) for n in names), geoms.tolist()]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        table, sql.SQL(", ").join(sql.Identifier(n) for n, _ in wanted)
    )
    with conn.cursor().copy(statement) as copy:
        for row in zip(*cells, strict=True):
            copy.write_row(row)


def _columns(conn: psycopg.Connection, layer: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (sql.Identifier(layer).as_string(conn),),
    ).fetchall()
    return [(str(n), str(t)) for n, t in rows]


def _pg_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "bigint"
    if pd.api.types.is_float_dtype(values):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(values):
        with_zone = getattr(values.dt, "tz", None) is not None
        return f"timestamp with{'' if with_zone else 'out'} time zone"
    return "text"


def _cells(values: pd.Series) -> list[Any]:
    """A column's cells as Python values for COPY (None for a missing one)."""
    kind = _pg_type(values)
    out = values.astype(object).tolist()
    if kind == "text":
        return [None if _missing(v) else str(v) for v in out]
    if kind.startswith("timestamp"):
        return [None if _missing(v) else v.to_pydatetime() for v in out]
    return [None if _missing(v) else v for v in out]


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)
