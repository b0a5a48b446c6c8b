"""While the road networks load, routing answers a 503 with Retry-After at once and the
build goes on in the background; nothing else waits. After an import the previous network
answers (flagged stale) until the new one's engine is built."""

from __future__ import annotations

import threading
import time

from conftest import assert_bilingual_error, make_app

from geoservice.web import ENGINE_KEY


def test_routing_answers_503_at_once_while_the_networks_load(tmp_path):
    app = make_app(tmp_path, ROUTING_WAIT_SECONDS=0)
    provider = app.extensions[ENGINE_KEY]
    release = threading.Event()
    make = provider._engines._make  # the engine build, held until released

    def held(*args):
        release.wait(30)
        return make(*args)

    provider._engines._make = held
    client = app.test_client()
    url = "/api/nearest?lon=116.8330&lat=40.3720&mode=walk"
    started = time.perf_counter()
    r = client.get(url)
    assert time.perf_counter() - started < 1.0
    body = assert_bilingual_error(r, 503, None)
    assert "正在加载" in body["message_zh"]
    # 5 s: the rate limiter's window (its X-RateLimit-* headers) does not move it.
    assert r.headers["Retry-After"] == "5"
    assert "X-RateLimit-Limit" in r.headers
    assert client.get("/api/network").status_code == 503
    # Everything else answers meanwhile; readiness says not yet.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/api/stations").status_code == 200
    assert client.get("/").status_code == 200
    release.set()
    for _ in range(300):
        if provider.ready():
            break
        time.sleep(0.1)
    ready = client.get(url)
    assert ready.status_code == 200
    assert "Retry-After" not in ready.headers  # the limiter's is for a 429 only
    assert client.get("/readyz").status_code == 200


def test_a_network_that_cannot_load_is_said_so(tmp_path):
    app = make_app(tmp_path, ROUTING_WAIT_SECONDS=0, NETWORK_DEFAULT=str(tmp_path / "none.osm"))
    client = app.test_client()
    url = "/api/nearest?lon=116.8330&lat=40.3720&mode=walk"
    for _ in range(100):  # the background build fails at once; then the cause is answered
        r = client.get(url)
        if "正在加载" not in r.get_json()["message_zh"]:
            break
        time.sleep(0.05)
    body = assert_bilingual_error(r, 503, None)
    assert "路网不可用" in body["message_zh"]


def test_after_an_import_the_previous_network_answers_while_the_new_one_loads(tmp_path):
    app = make_app(tmp_path, ROUTING_WAIT_SECONDS=0)
    provider = app.extensions[ENGINE_KEY]
    client = app.test_client()
    url = "/api/nearest?lon=116.8330&lat=40.3720&mode=walk"
    provider.get_within(None)  # the first network's engine
    before = client.get(url).get_json()
    assert before["stale"] is None
    release = threading.Event()
    make = provider._engines._make

    def held(*args):
        release.wait(30)
        return make(*args)

    provider._engines._make = held
    provider.library.token = lambda: "another active network"  # as after an import
    r = client.get(url)
    assert r.status_code == 200  # not 503: the previous network answers
    body = r.get_json()
    same = [(x["id"], x["travel_time_s"]) for x in before["results"]]
    assert [(x["id"], x["travel_time_s"]) for x in body["results"]] == same
    assert body["stale"]["causes"] == ["network"]
    assert "新路网正在加载" in body["stale"]["reason"]
    assert client.get("/readyz").status_code == 503  # the active network is not ready
    release.set()
    for _ in range(300):
        if provider.ready():
            break
        time.sleep(0.1)
    assert client.get(url).get_json()["stale"] is None  # the new engine answers
