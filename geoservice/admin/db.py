"""The staff database: one SQLite file (``instance/admin.sqlite``) with its schema, or the
service's PostgreSQL database when ``STORE_URL`` names one.

SQLite in WAL mode lets any number of processes read while one writes; each call opens a
short connection (cheap, and safe across threads and forked workers). The schema is
created on first use and only ever grows (``_MIGRATIONS``), so an older file keeps working.

:class:`PgDatabase` is the PostgreSQL flavour with the same contract (a short connection and
one transaction per block, rows by name, one writer at a time, the same schema steps): the
SQL of the staff modules is written once, for SQLite, and :func:`pg_sql` turns it into
PostgreSQL's by the one table of differences, :data:`_PG_SQL`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from geoservice.errors import StoreBusyError, StoreError

if TYPE_CHECKING:
    import psycopg

#: Schema steps, applied in order; ``PRAGMA user_version`` counts those already applied.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        towns TEXT NOT NULL DEFAULT '',
        password TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until REAL NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        digest TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        last_used TEXT,
        revoked_at TEXT
    );
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        "user" TEXT NOT NULL,
        via TEXT NOT NULL,
        layer TEXT NOT NULL,
        record_id TEXT NOT NULL,
        action TEXT NOT NULL,
        before TEXT,
        after TEXT,
        batch TEXT NOT NULL,
        reverts INTEGER
    );
    CREATE INDEX changes_record ON changes(layer, record_id, id);
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        station_id TEXT NOT NULL,
        problem TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open',
        handled_by TEXT,
        handled_at TEXT,
        change_id INTEGER
    );
    CREATE INDEX reports_open ON reports(status, station_id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The log page marks the changes that were reverted (Journal.reverted).
    """
    CREATE INDEX changes_reverts ON changes(reverts) WHERE reverts IS NOT NULL;
    """,
    # Worker reports: what staff said when confirming (a note) or dismissing (a reason).
    """
    ALTER TABLE reports ADD COLUMN resolution TEXT NOT NULL DEFAULT ''
    """,
)


def now() -> str:
    """The current moment as stored: ISO 8601 in UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Database:
    """The staff database at ``path`` (created with its schema on first use), or another
    SQLite file of the instance with its own schema (the job board, ``geoservice.jobs``).

    Parameters
    ----------
    path : str or Path
        The SQLite file, e.g. ``instance/admin.sqlite``.
    migrations : tuple of str, optional
        The file's schema steps (default: the staff database's).
    """

    #: What a broken constraint (a taken name) raises.
    IntegrityError: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: str | Path, migrations: tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._migrations = _MIGRATIONS if migrations is None else migrations
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")  # not inside a transaction
            con.close()
        except sqlite3.Error as exc:
            msg = f"cannot open the database {self.path}: {exc}"
            raise StoreError(msg) from exc
        with self.connect() as con:
            _migrate(con, self._migrations)

    def _open(self) -> sqlite3.Connection:
        """A connection in autocommit mode (transactions are begun explicitly), rows by name."""
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            msg = f"cannot open the database {self.path}: {exc}"
            raise StoreError(msg) from exc
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction: committed when the block ends, rolled back if
        it raises."""
        with self.pending() as con:
            yield con
            con.execute("COMMIT")

    @contextlib.contextmanager
    def pending(self) -> Iterator[sqlite3.Connection]:
        """A write transaction the caller commits itself (``con.execute("COMMIT")``) once
        another step has succeeded; rolled back if the block raises or leaves it open."""
        con = self._open()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
        finally:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()

    def reader(self) -> sqlite3.Connection:
        """A connection of this thread kept open for frequent reads outside transactions
        (opened again in a forked worker: a connection is not carried over)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.con = sqlite3.connect(self.path, timeout=30)
            local.pid = os.getpid()
        con: sqlite3.Connection = local.con
        return con

    def data_version(self, con: Connection) -> object:
        """A value that differs after any other connection's commit (in this process or
        another), read on ``con`` (the :meth:`reader`): what was read before is still true
        while it stays the same."""
        return int(con.execute("PRAGMA data_version").fetchone()[0])


def secret(db: StaffDatabase, key: str = "secret_key") -> str:
    """A random secret kept in the database (made on first use): the key that signs the
    session cookies, so that every process of one instance shares it."""
    import secrets

    with db.connect() as con:
        con.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (key, secrets.token_hex(32)),
        )
        return str(con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])


def _migrate(con: sqlite3.Connection, migrations: tuple[str, ...]) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    for n, script in enumerate(migrations[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            con.execute(statement)
        con.execute(f"PRAGMA user_version = {n}")


# -- PostgreSQL --------------------------------------------------------------------------------

#: What this package's SQL, written for SQLite, becomes in PostgreSQL: the one table of the
#: dialects' differences (pattern, replacement), applied to schema steps and queries alike.
#: ``COLLATE NOCASE`` needs no entry: PostgreSQL folds the name to ``nocase``, a collation
#: made with the schema (:data:`_PG_NOCASE`). Begin and commit differ too (:class:`PgDatabase`).
_PG_SQL: tuple[tuple[str, str], ...] = (
    # psycopg's placeholders: a literal % doubled first, then ? → %s.
    (r"%", "%%"),
    (r"\?", "%s"),
    # An alias of the row id that numbers new rows; a 64-bit float (PostgreSQL's REAL is 32).
    (r"\bINTEGER PRIMARY KEY\b", "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
)
#: SQLite's NOCASE for the user names (ASCII, digits and Han characters): equal when equal
#: but for case, by ICU at its secondary strength.
_PG_NOCASE = (
    "CREATE COLLATION IF NOT EXISTS nocase"
    " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
)
#: The schema steps applied, per schema (SQLite counts them in ``PRAGMA user_version``).
_PG_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)
#: How long a block waits for another process's write to end (SQLite's ``timeout``).
_PG_LOCK_TIMEOUT = "30s"
_PG_CONNECT_TIMEOUT = 10
#: The advisory lock of schema steps (of any schema).
_PG_MIGRATING = zlib.crc32(b"geoservice.schema_versions")


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """``sql`` as written for SQLite, in PostgreSQL's dialect (:data:`_PG_SQL`)."""
    for pattern, replacement in _PG_SQL:
        sql = re.sub(pattern, replacement, sql)
    return sql


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://…``) rather than a
    SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


class Cursor(Protocol):
    """What a query returns, in either flavour."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """A connection of either flavour, as the staff modules use it."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


class _Row(tuple):
    """A row read by position or by name, as :class:`sqlite3.Row`."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            key = self._index[key]
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order (so that ``dict(row)`` works)."""
        return list(self._index)


def _rows(cursor: Any) -> Any:
    """psycopg's row factory for :class:`_Row`."""
    index = {c.name: i for i, c in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._index = index
        return row

    return make


class _PgCursor:
    """A psycopg cursor as :class:`Cursor`."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())


class PgConnection:
    """A psycopg connection in autocommit mode (blocks begin and commit explicitly, as on
    SQLite) that takes SQL in SQLite's dialect and raises the service's errors.

    Parameters
    ----------
    raw : psycopg.Connection
    where : str
        The database's URL without its password, for messages.
    password : str or None
        The password, kept out of messages.
    """

    def __init__(self, raw: psycopg.Connection[Any], where: str, password: str | None) -> None:
        self.raw = raw
        self.where = where
        self._password = password

    def execute(self, sql: str, parameters: Any = (), /) -> _PgCursor:
        """Run one statement (SQLite's dialect, ``?`` placeholders)."""
        with self._errors():
            # bytes: the query is this package's own, never a user's text.
            return _PgCursor(self.raw.execute(pg_sql(sql).encode(), parameters))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _PgCursor:
        """Run one statement for each set of parameters."""
        with self._errors():
            cursor = self.raw.cursor()
            cursor.executemany(pg_sql(sql).encode(), parameters)
            return _PgCursor(cursor)

    def script(self, sql: str) -> None:
        """Run PostgreSQL statements as they are (no parameters, several allowed)."""
        with self._errors():
            self.raw.execute(sql.encode())  # without parameters, % is left alone

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back)."""
        from psycopg import pq

        return bool(self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.IntegrityError:
            raise  # a broken constraint: the caller's to answer (a taken name)
        except psycopg.errors.LockNotAvailable:
            msg = f"the database {self.where} is busy (waited {_PG_LOCK_TIMEOUT})"
            raise StoreBusyError(msg) from None
        except psycopg.Error as exc:
            msg = f"database error on {self.where}: {_scrub(str(exc), self._password)}"
            raise StoreError(msg) from None  # the driver's error is not chained into logs


class PgDatabase:
    """The staff database's tables (or another schema's, e.g. the saved tours') in the
    PostgreSQL database at ``url``: :class:`Database`'s contract in PostgreSQL.

    Each block opens a short connection (2 ms on the local socket on an idle machine, most
    of it the server starting its backend; safe across threads and forked workers, as on
    SQLite) and is one transaction that first takes the
    schema's advisory lock, so that its blocks run one at a time as SQLite's ``BEGIN
    IMMEDIATE`` makes them (a count then an insert stays true). The schema steps are
    SQLite's, translated (:func:`pg_sql`), counted per schema in ``schema_versions``.

    Parameters
    ----------
    url : str
        ``postgresql://[user[:password]@][host][:port]/dbname`` (no host: the local socket).
    migrations : tuple of str, optional
        The schema's steps (default: the staff database's).
    schema : str
        The name its steps are counted under, and its lock's.

    Raises
    ------
    StoreError
        The database cannot be reached or its schema not made.
    """

    def __init__(
        self, url: str, migrations: tuple[str, ...] | None = None, *, schema: str = "staff"
    ) -> None:
        self.url = url
        from geoservice.store.postgis import describe  # psycopg: PostgreSQL's only

        self.where, self._password = describe(url)
        self.schema = schema
        self._migrations = _MIGRATIONS if migrations is None else migrations
        # One lock per schema: the staff's writers do not wait for the tours' and back.
        self._lock = zlib.crc32(f"geoservice.{schema}".encode())
        self._local = threading.local()
        with self.connect() as con:
            _pg_migrate(con, self._migrations, schema)

    @property
    def IntegrityError(self) -> type[Exception]:  # noqa: N802 (DB-API's name)
        """What a broken constraint (a taken name) raises."""
        import psycopg

        return psycopg.IntegrityError

    def _open(self) -> PgConnection:
        import psycopg

        try:
            raw = psycopg.connect(
                self.url, autocommit=True, row_factory=_rows, connect_timeout=_PG_CONNECT_TIMEOUT
            )
        except psycopg.Error as exc:
            detail = _scrub(str(exc), self._password)
            msg = f"cannot connect to the database {self.where}: {detail}"
            raise StoreError(msg) from None  # the driver's error is not chained into logs
        return PgConnection(raw, self.where, self._password)

    @contextlib.contextmanager
    def connect(self) -> Iterator[PgConnection]:
        """A connection in one transaction: committed when the block ends, rolled back if
        it raises."""
        with self.pending() as con:
            yield con
            con.execute("COMMIT")

    @contextlib.contextmanager
    def pending(self) -> Iterator[PgConnection]:
        """A write transaction the caller commits itself (``con.execute("COMMIT")``) once
        another step has succeeded; rolled back if the block raises or leaves it open."""
        con = self._open()
        try:
            # One round trip: no parameters, so several statements may go together.
            con.script(
                f"BEGIN; SET LOCAL lock_timeout = '{_PG_LOCK_TIMEOUT}';"
                f" SELECT pg_advisory_xact_lock({self._lock})"
            )
            yield con
        finally:
            _close(con)

    def reader(self) -> PgConnection:
        """A connection of this thread kept open for frequent reads outside transactions
        (opened again in a forked worker, or when the server closed it)."""
        local = self._local
        con: PgConnection | None = getattr(local, "con", None)
        if getattr(local, "pid", None) != os.getpid() or con is None or con.raw.closed:
            local.con = con = self._open()
            local.pid = os.getpid()
        return con

    def data_version(self, con: Connection) -> object:
        """A value that differs after any commit (:meth:`Database.data_version`): the
        current snapshot (the transactions running and the next to start), which any
        commit in the cluster changes; one round trip, a fifth of a query's time."""
        return str(con.execute("SELECT pg_current_snapshot()::text").fetchone()[0])


#: Either flavour of the staff database.
StaffDatabase = Database | PgDatabase


def open_database(
    location: str | Path, migrations: tuple[str, ...] | None = None, *, schema: str = "staff"
) -> StaffDatabase:
    """The database at ``location``: PostgreSQL's for a ``postgresql://`` URL (its tables
    of ``schema``), else the SQLite file."""
    if is_url(location):
        return PgDatabase(str(location), migrations, schema=schema)
    return Database(location, migrations)


def _close(con: PgConnection) -> None:
    import psycopg

    try:
        if con.in_transaction:
            con.raw.execute("ROLLBACK")
    except psycopg.Error:
        pass  # the connection broke: closing it ends the transaction on the server too
    finally:
        con.raw.close()


def _scrub(text: str, password: str | None) -> str:
    """``text`` without ``password`` (a driver's message might quote it)."""
    return text.replace(password, "***") if password else text


def _pg_migrate(con: PgConnection, migrations: tuple[str, ...], schema: str) -> None:
    # Every schema's steps one at a time: they share the versions table and the collation.
    con.script(f"SELECT pg_advisory_xact_lock({_PG_MIGRATING})")
    con.script(_PG_VERSIONS)
    con.script(_PG_NOCASE)
    row = con.execute("SELECT version FROM schema_versions WHERE name = ?", (schema,)).fetchone()
    version = 0 if row is None else int(row[0])
    for n, script in enumerate(migrations[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            con.execute(statement)
        con.execute(
            "INSERT INTO schema_versions(name, version) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            (schema, n),
        )
