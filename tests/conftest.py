"""Shared fixtures: an app on a fresh copy of the embedded data, its client and CLI runner.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadscope`` in pyproject.toml), each
a process with its own session: a test module runs whole on one worker (its module fixtures
are built once), a session fixture once per worker. So tests write only under ``tmp_path``
(never the checkout's instance/, data/ or maps/), serve on port 0, and a heavy read-only
session build goes through `shared_folder`, where the first worker builds and the other
reads its result.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from flask import Flask
from werkzeug.serving import make_server

from geoservice.errors import ParameterError, error_body
from geoservice.model import CRS_STORAGE
from geoservice.network import NetworkLibrary
from geoservice.web import DEFAULT_NETWORK, STORE_KEY, create_app


def make_app(tmp: Path, *, stations: gpd.GeoDataFrame | None = None, **config) -> Flask:
    """An app whose live store is a fresh copy of data/miyun.gpkg, everything under ``tmp``.

    Offline (no basemap tiles), routing on the small 鼓楼 extract, with its networks and
    saved tours under ``tmp``; ``config`` overrides any key (e.g. ``RATELIMIT_ENABLED=False``
    or ``NETWORK_DEFAULT=str(DEFAULT_NETWORK)`` for the Miyun network). ``stations``, when
    given, replaces the stations layer.
    """
    app = create_app(
        {
            "TESTING": True,
            "STORE_PATH": str(tmp / "live.gpkg"),
            "NETWORK_DIR": str(tmp / "networks"),
            "NETWORK_DEFAULT": str(SMALL_OSM),
            "TILES": "",
            "TOURS_DIR": str(tmp / "tours"),
            # Routing answers wait for the networks (the service answers 503 at once).
            "ROUTING_WAIT_SECONDS": None,
            # Jobs (tours, coverage) run in the request that submits them.
            "JOBS_MODE": "inline",
            **config,
        }
    )
    if stations is not None:
        app.extensions[STORE_KEY].update("stations", lambda g: (stations, None))
    return app


@pytest.fixture
def app(tmp_path):
    """An app whose live store is a fresh copy of data/miyun.gpkg; no basemap tiles.

    Its road network is the small 鼓楼 extract, so that pages drawing roads stay fast;
    tests of the Miyun network build it themselves (tests/test_nearest_miyun.py).
    """
    return make_app(tmp_path)


@contextmanager
def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """The folder ``name`` of this test run, shared by its xdist workers, held under an
    exclusive lock while in use: the first worker fills it, the others wait and read it.

    Under xdist it sits beside the workers' base folders (``getbasetemp().parent``, the
    run's own); in one process, in the base folder (its parent is shared by every run).
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            folder.mkdir(exist_ok=True)
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def miyun_networks(tmp_path_factory):
    """The shipped schematic Miyun network (all modes), built once per test run: the other
    worker loads the first one's cache (`shared_folder`)."""
    if not DEFAULT_NETWORK.exists():
        pytest.skip("no shipped network")
    with shared_folder(tmp_path_factory, "miyun-networks") as folder:
        return NetworkLibrary(folder, DEFAULT_NETWORK).load()


def _service_missing(what: str) -> None:
    """Skip a test whose server is not installed here; fail on CI, whose set-up installs it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: `bash .ci/setup --test` installs it")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own on a free port (skipped where Redis is not installed,
    failed on CI, whose set-up installs it)."""
    server = shutil.which("redis-server")
    if server is None:
        _service_missing("redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, with PostGIS, dropped afterwards (skipped where
    the local cluster is not running, failed on CI, whose set-up installs and starts it)."""
    try:
        import psycopg

        admin = psycopg.connect("dbname=postgres", autocommit=True, connect_timeout=3)
    except Exception:
        _service_missing("PostgreSQL (postgresql-15-postgis-3, `pg_ctlcluster 15 main start`)")
    name = f"geoservice_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with psycopg.connect(f"dbname={name}", autocommit=True) as con:
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            yield f"postgresql:///{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class StoreBackend:
    """One kind of store under test at one location (a GeoPackage file or a PostGIS
    database): opens stores there, and looks at what is stored without the store's code.

    Parameters
    ----------
    kind : str
        ``gpkg`` or ``postgis``.
    location : str
        The store's file or database URL (what :func:`geoservice.store.open_store` takes).
    """

    def __init__(self, kind: str, location: str) -> None:
        self.kind = kind
        self.location = location

    def open(self, *, seed: bool = False, **kwargs):
        """A store at the location (``seed``: filled from the shipped data when new)."""
        from geoservice.store import open_store
        from geoservice.web import DEFAULT_GPKG

        return open_store(self.location, seed=DEFAULT_GPKG if seed else None, **kwargs)

    def _sql(self, query: str, *args):
        import psycopg

        with psycopg.connect(self.location, autocommit=True) as con:
            return con.execute(query, args).fetchall()

    def snapshot(self) -> str:
        """A digest of everything stored (the file, or every table of the database)."""
        if self.kind == "gpkg":
            return hashlib.sha256(Path(self.location).read_bytes()).hexdigest()
        tables = self._sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return ";".join(
            name
            + ":"
            + self._sql(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f'FROM "{name}" t'
            )[0][0]
            for (name,) in tables
        )

    def layers(self) -> set[str]:
        """The layers stored (GeoPackage layers, or tables with a geometry column)."""
        if self.kind == "gpkg":
            return {name for name, _ in pyogrio.list_layers(self.location)}
        return {name for (name,) in self._sql("SELECT f_table_name FROM geometry_columns")}

    def leftovers(self) -> list[str]:
        """What a write left behind: temporary files, or sessions still in a transaction."""
        if self.kind == "gpkg":
            path = Path(self.location)
            return [p.name for p in path.parent.glob(f".{path.name}.*")]
        return [
            f"{pid}: {query}"
            for pid, query in self._sql(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            )
        ]

    def writing(self) -> bool:
        """Whether a writer is writing the new state now (its temp file, or its COPY)."""
        if self.kind == "gpkg":
            path = Path(self.location)
            return bool(list(path.parent.glob(f".{path.name}.*.tmp*")))
        return bool(
            self._sql(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND query LIKE 'COPY %%'"
            )
        )

    @contextmanager
    def holding_lock(self) -> Iterator[None]:
        """Hold the writers' lock as another process's writer would."""
        if self.kind == "gpkg":
            import filelock

            with filelock.FileLock(self.location + ".lock"):
                yield
            return
        import psycopg

        with psycopg.connect(self.location) as con:
            con.execute("SELECT n FROM store_revision FOR UPDATE")
            yield

    def count_reads(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """The layers read from storage from now on (not from a cache), in order."""
        from geoservice.store import GpkgStore
        from geoservice.store.postgis import PostgisStore

        reads: list[str] = []
        cls = GpkgStore if self.kind == "gpkg" else PostgisStore
        name = "_read_file" if self.kind == "gpkg" else "_read_table"
        real = getattr(cls, name)

        def counting(source, layer):
            reads.append(layer)
            return real(source, layer)

        monkeypatch.setattr(cls, name, staticmethod(counting))
        return reads


@pytest.fixture(params=["gpkg", "postgis"])
def store_backend(request, tmp_path) -> StoreBackend:
    """Each store backend at a fresh location (the PostGIS one needs `pg_url`)."""
    if request.param == "gpkg":
        return StoreBackend("gpkg", str(tmp_path / "live.gpkg"))
    return StoreBackend("postgis", request.getfixturevalue("pg_url"))


def run_forked(target, arguments: list[tuple], timeout: float = 60) -> None:
    """Run ``target(*args)`` in a forked process per item of ``arguments`` at once, and
    check that each exits cleanly (the concurrent-writer tests)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=target, args=args) for args in arguments]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout)
        assert w.exitcode == 0


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def store(app):
    return app.extensions[STORE_KEY]


# -- staff -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick_password_hashes(monkeypatch):
    """argon2id at its lowest cost in tests (the service's own cost, 64 MiB and 3 passes,
    takes 0.1 s a hash: hundreds of logins would add a minute); tests/test_accounts.py
    checks the service's parameters."""
    import argon2

    from geoservice.admin import accounts

    quick = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", quick)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", quick.hash("dummy password"))


#: The password of the test accounts.
STAFF_PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str | None:
    """A test once per backend of the staff tables and the saved plans: ``STORE_URL`` unset
    (None: SQLite's file, the plans' folder) and set to a database of the test's own
    (:func:`pg_url`). ``@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)``
    keeps a test to one."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def database_dump(db) -> str:
    """Every row of every table of a staff database (either flavour), as text."""
    from geoservice.admin import PgDatabase

    if not isinstance(db, PgDatabase):
        import sqlite3

        with sqlite3.connect(db.path) as con:
            return "\n".join(con.iterdump())
    with db.connect() as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        # Quoted names from the catalogue, not from a user.
        return "\n".join(
            str(row[0])
            for (table,) in tables
            for row in con.execute(f'SELECT t::text FROM "{table}" t').fetchall()
        )


def login_as(app: Flask, client, role: str, towns: tuple[str, ...] = (), name: str | None = None):
    """Create a user with ``role`` (and ``towns``) and log ``client`` in as it, through the
    login form and its CSRF token; returns the user."""
    name = name or f"{role}-user"
    accounts = app.extensions["geoservice.staff"].accounts
    user = accounts.create(name, role, STAFF_PASSWORD, towns)
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    data = {"name": name, "password": STAFF_PASSWORD, "csrf_token": token[1] if token else ""}
    r = client.post("/login", data=data)
    assert r.status_code == 302, r.data[:300]
    return user


# -- hostile text ----------------------------------------------------------------------------

#: Names that break out of HTML, JS template literals, scripts, URLs or Jinja templates if
#: anything reaches a page unescaped; bidi overrides, line and paragraph separators.
HOSTILE_NAMES = [
    "${alert(document.domain)}",
    "`",
    "a`+alert(1)+`b",
    "</script><script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "\u202eRTL override 站驿心暖",
    "\u202eevil\u202c",
    "{{7*7}} {{ config.items() }}",
    "第一行\n第二行\u2028第三行",
    "line\nbreak\r\u2028\u2029end",
    "'; alert(1); // \\ &amp; &lt;b&gt;",
    "back\\slash",
    "' OR 1=1 --",
]


# -- answers ---------------------------------------------------------------------------------


#: Longest message a bad value may produce: the text plus one excerpt (and a listing).
SHORT = 400


def plan_tour(client, body=None, **kwargs):
    """``POST /api/tours`` and the plan it leads to: the 202 job answer is followed (jobs
    run inline in the test apps, so it is finished) to ``GET`` of the saved plan, whose
    answer is returned (200); any other answer to the post (a 4xx, a 503) as it is.

    ``body`` is sent as JSON; ``kwargs`` go to ``client.post`` (``data``, ``headers``…).
    """
    if body is not None:
        kwargs["json"] = body
    posted = client.post("/api/tours", **kwargs)
    return follow_job(client, posted)


def follow_job(client, response):
    """The answer a job answer (202 with ``Location: /api/jobs/<id>``) leads to: the job's
    result (``GET`` of its ``href``), or the job itself (200) when it did not end done; any
    other response as it is."""
    if response.status_code != 202:
        return response
    assert response.headers["Location"].startswith("/api/jobs/")
    job = client.get(response.headers["Location"])
    assert job.status_code == 200, job.get_json()
    body = job.get_json()
    if body["state"] != "done":
        return job
    return client.get(body["result"]["href"])


def assert_refused(fn, *args, parameter=None, status=400, **kwargs) -> ParameterError:
    """Call `fn`, expect a ParameterError; check it is bilingual, short and named."""
    with pytest.raises(ParameterError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.status == status
    if parameter is not None:
        assert err.parameter == parameter
    assert re.search(r"[\u4e00-\u9fff]", err.zh), err.zh  # Chinese first
    assert len(err.zh) < SHORT + 300
    assert len(err.en) < SHORT + 300
    body = err.to_dict()
    assert body == error_body(err.status, err.zh, err.en, err.parameter)
    assert body["error"] == f"{err.zh} / {err.en}"
    json.dumps(body)  # JSON-ready
    return err


def assert_bilingual_error(r, status: int, parameter: str | None, extra: tuple = ()) -> dict:
    """A JSON error body in Chinese and English naming the parameter, echoing little;
    ``extra`` names the keys an error adds (a TourError's ``stops``, ``days_needed``)."""
    assert r.status_code == status, r.data[:200]
    assert r.is_json, r.data[:200]
    body = r.get_json()
    keys = {"error", "message", "message_zh", "message_en", "parameter", "status", *extra}
    assert set(body) == keys
    assert body["message"] == body["message_zh"]  # the language asked for: zh-Hans
    assert body["status"] == status
    assert body["parameter"] == parameter
    assert re.search(r"[\u4e00-\u9fff]", body["message_zh"])
    assert body["message_en"]
    assert body["error"] == f"{body['message_zh']} / {body['message_en']}"
    return body


def offline_page(client, path: str, title: str | None = None) -> tuple[str, list[str]]:
    """The HTML of a page and its script and stylesheet URLs, checked: served in Chinese
    (with this ``<title>``), every script and stylesheet one the app itself serves, no
    basemap tiles (``TILES=""`` in tests)."""
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="zh-Hans">' in html
    if title is not None:
        assert f"<title>{title}</title>" in html
    links = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert links
    assert all(u.startswith("/static/") for u in links), [u for u in links if "//" in u]
    for asset in links:
        assert client.get(asset).status_code == 200, asset
    assert "tile.openstreetmap.org" not in html
    return html, links


# -- a small real-format road network around 鼓楼 with stations on it -------------------------

SMALL_OSM = Path(__file__).resolve().parent / "data" / "gulou_small.osm"

#: Stations placed on the streets of tests/data/gulou_small.osm.
GRID_STATIONS = [
    (116.8301, 40.3689),  # on 西路
    (116.8336, 40.3716),  # on 北街 (one-way eastbound)
    (116.8348, 40.3690),  # on 东路
    (116.8324, 40.3705),  # on 中路
    (116.8315, 40.3760),  # on the isolated service road
]


def stations_frame(points, kinds=None, hours=None, amenities=None, names=None) -> gpd.GeoDataFrame:
    """A stations layer with one test station per point (ids T00, T01, …)."""
    n = len(points)
    df = pd.DataFrame(
        {
            "id": [f"T{i:02d}" for i in range(n)],
            "name": names or [f"测试站{i}" for i in range(n)],
            "kind": kinds or ["warm_station"] * n,
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "address": "",
            "town_code": "110118001",
            "opening_hours": hours or ["24/7"] * n,
            "amenities": amenities or ["hot_water"] * n,
            "phone": "010-0000000",
            "host_org": "",
            "capacity": None,
            "verified_on": "",
            "source": "import",
        }
    )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=CRS_STORAGE)


@pytest.fixture
def grid_app(tmp_path):
    """An app routing on the small 鼓楼 extract, with the GRID_STATIONS as its stations."""
    return make_app(tmp_path, stations=stations_frame(GRID_STATIONS))


@pytest.fixture
def grid_client(grid_app):
    return grid_app.test_client()


# -- headless Chromium -----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium not installed (bash .ci/setup --test)"
)


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def launch_chromium():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def _module_chromium():
    """One Chromium for a module's browser tests: starting one takes a second or two. Per
    module, not per session: while Playwright's sync API runs, its event loop holds the
    thread (no second `launch_chromium`, no ``asyncio.run``), so the other modules stay
    free of it."""
    with launch_chromium() as b:
        yield b


@pytest.fixture
def browser(_module_chromium):
    """Chromium for one test (see `launch_chromium`): the module's, with no context open.
    The test opens its own contexts (cookies, storage and cache of their own, as in a
    fresh browser); those it leaves open are closed after it."""
    assert _module_chromium.contexts == []
    yield _module_chromium
    for ctx in _module_chromium.contexts:
        ctx.close()


#: Records the page's Content-Security-Policy violations in window.__csp (an init script).
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


class PageWatch:
    """What one page does wrong (console errors, page errors, requests to any host but
    ``origin``) and the URLs of its requests to the API path part ``api``, if given."""

    def __init__(self, page, origin: str, api: str | None = None) -> None:
        self.errors: list[str] = []
        self.external: list[str] = []
        self.api: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def request(r):
            if not r.url.startswith(origin):
                self.external.append(r.url)
            elif api is not None and api in r.url:
                self.api.append(r.url)

        page.on("request", request)

    def check(self, page, *, expected_status: tuple[int, ...] = ()) -> None:
        """No error, no request elsewhere, no CSP violation (the page's context needs
        `CSP_WATCH`). Chromium reports a 4xx answer to fetch() as a console error of its
        own: ``expected_status`` lets those through."""
        allowed = [f"status of {s}" for s in expected_status]
        assert [e for e in self.errors if not any(a in e for a in allowed)] == []
        assert self.external == []
        assert page.evaluate("window.__csp") == []


def watched_page(browser, origin: str, api: str | None = None, watch=PageWatch, **context):
    """A new context (``context``: Playwright's options) with `CSP_WATCH`, its page and a
    ``watch`` (`PageWatch` or a subclass) on it; the page has not navigated yet."""
    ctx = browser.new_context(**context)
    ctx.add_init_script(CSP_WATCH)
    page = ctx.new_page()
    return ctx, page, watch(page, origin, api)


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs():
    """The English catalogs compiled from their .po when set-up has not (or not since the
    .po changed): a developer's plain ``pytest`` sees the same English as set-up gives."""
    from geoservice.i18n import compile_catalogs

    compile_catalogs(only_stale=True)
