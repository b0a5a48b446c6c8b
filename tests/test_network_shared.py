"""One copy of the networks, shared by the routing, tour and coverage engines."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from geoservice.errors import NetworkError
from geoservice.network import Network, NetworkLibrary
from tests.conftest import SMALL_OSM


def test_library_hands_out_the_same_networks_until_the_source_changes(tmp_path):
    library = NetworkLibrary(tmp_path / "networks", SMALL_OSM)
    first = library.load()
    assert library.load(modes=("drive",))["drive"] is first["drive"]
    assert library.load()["walk"] is first["walk"]
    other = tmp_path / "other.osm"
    other.write_bytes(SMALL_OSM.read_bytes())
    library.import_file(other)
    assert library.load()["walk"] is not first["walk"]


def test_lazy_indexes_are_built_once_under_concurrent_first_use(tmp_path):
    net = NetworkLibrary(tmp_path / "networks", SMALL_OSM).load()["walk"]
    rng = np.random.default_rng(3)
    lon = 116.829 + rng.random(200) * 0.007
    lat = 40.367 + rng.random(200) * 0.01
    results, errors = [], []

    def snap() -> None:
        try:
            results.append(net.snap(lon, lat).edge)
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=snap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(np.array_equal(r, results[0]) for r in results)


def test_cached_networks_are_memory_mapped_read_only_and_rewritten_whole(tmp_path):
    net = NetworkLibrary(tmp_path / "lib", SMALL_OSM).load()["walk"]
    folder = tmp_path / "walk"
    net.save(folder)
    net.save(folder)  # a second writer: the folder is replaced whole, nothing left over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib", "walk"]
    again = Network.load(folder)
    assert isinstance(again.edge_time, np.memmap)
    assert not again.edge_time.flags.writeable  # shared by every process that maps it
    np.testing.assert_array_equal(again.edge_time, net.edge_time)
    np.testing.assert_array_equal(again.edge_name, net.edge_name)
    # Text columns as codes into their distinct values: a byte per edge for road classes.
    assert again.edge_highway.codes.dtype == np.uint8
    assert again.edge_highway[[0, 1]].tolist() == net.edge_highway.tolist()[:2]
    assert again.edge_highway.values.tolist() == sorted(set(net.edge_highway.tolist()))
    assert again.meta == net.meta
    (folder / "geom_xy.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(NetworkError, match="unreadable"):
        Network.load(folder)
    (folder / "geom_xy.npy").unlink()
    with pytest.raises(NetworkError, match="unreadable"):
        Network.load(folder)
