"""The engine on the shipped schematic Miyun network: exact against brute force, all modes.

The network is built once per test session into a temporary cache (the same code path
as a real extract), then every test reuses it.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_nearest import ANY_HOURS, expected_times

from geoservice import nearest
from geoservice.filters import StationFilter
from geoservice.network import MODES
from geoservice.web import DEFAULT_NETWORK

#: Every test here routes on the whole Miyun network: seconds each.
pytestmark = [
    pytest.mark.skipif(not DEFAULT_NETWORK.exists(), reason="no shipped network"),
    pytest.mark.slow,
]


@pytest.fixture
def miyun(miyun_networks, store):
    engine = nearest.NearestEngine(miyun_networks, store)
    engine.refresh()
    return engine


def test_network_is_schematic_and_large(miyun_networks):
    for mode, net in miyun_networks.items():
        assert net.schematic, mode
        assert net.describe()["schematic"] is True
    assert 10_000 <= miyun_networks["walk"].n_nodes <= 100_000


@pytest.mark.parametrize("mode", MODES)
def test_k_nearest_exact_against_brute_force(miyun, mode):
    net = miyun.networks[mode]
    tree = miyun._routing[mode]
    rng = np.random.default_rng({"walk": 1, "bike": 2, "drive": 3}[mode])
    idx = rng.integers(0, len(net.geom_xy), 6)
    points = net.geom_xy[idx] + rng.normal(0, 0.002, (6, 2))
    for lon, lat in points:
        on_network, expected = expected_times(net, tree, float(lon), float(lat))
        got = miyun.nearest(
            float(lon),
            float(lat),
            mode=mode,
            k=5,
            stations=StationFilter(kinds=(), open_only=False),
        )
        reachable = np.sort(expected[np.isfinite(expected)])[:5]
        assert [r["travel_time_s"] for r in got["results"]] == pytest.approx(reachable, abs=0.1)
        for r in got["results"]:
            s = int(np.flatnonzero(miyun._stations.ids == r["id"])[0])
            assert r["travel_time_s"] == pytest.approx(expected[s], abs=0.1)
            assert r["network_time_s"] == pytest.approx(on_network[s], abs=0.06)


def test_every_station_reachable_by_walking_from_the_town_centre(miyun):
    r = miyun.nearest(
        116.8335, 40.3700, mode="walk", k=20, stations=StationFilter(kinds=(), open_only=False)
    )
    assert len(r["results"]) == 20
    assert r["network"]["schematic"] is True
    batch = miyun.batch(
        np.array([116.8335, 117.1186]),
        np.array([40.3700, 40.5384]),
        mode="drive",
        stations=ANY_HOURS,
    )
    assert np.isfinite(batch["travel_time_s"]).all()
