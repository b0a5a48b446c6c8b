"""Read raw OpenStreetMap road graphs: ``.osm``, ``.osm.bz2``, ``.osm.pbf``, ``.graphml``, or
a download with osmnx.

Every source ends as the same thing: an *unsimplified* osmnx ``MultiDiGraph`` with the way
tags :mod:`geoservice.network` needs (``highway``, ``oneway``, ``maxspeed``, access tags),
one-way ways in their direction only. The embedded schematic network is read by exactly the
same code as a real extract.
"""

from __future__ import annotations

import bz2
import contextlib
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import osmnx as ox

from geoservice.errors import OsmError

log = logging.getLogger(__name__)

#: Way tags kept from OSM (osmnx keeps only ``settings.useful_tags_way``).
WAY_TAGS = (
    "highway",
    "name",
    "ref",
    "oneway",
    "junction",
    "maxspeed",
    "lanes",
    "access",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
    "service",
    "oneway:bicycle",
    "bridge",
    "tunnel",
    "area",
)

SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".graphml", ".xml", ".osm.xml")

#: The value of ``<osm generator=…>`` that marks the embedded schematic network.
SCHEMATIC_GENERATOR = "geoservice.schematic"


def source_kind(path: str | Path) -> str:
    """Return ``xml``, ``pbf`` or ``graphml`` for a file name, or raise :class:`OsmError`."""
    name = Path(path).name.lower()
    if name.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml", ".xml.bz2")):
        return "xml"
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    msg = f"unsupported network file {Path(path).name!r}; use .osm, .osm.bz2, .osm.pbf or .graphml"
    raise OsmError(msg)


def is_schematic(path: str | Path) -> bool:
    """True when an OSM XML file was written by :mod:`geoservice.schematic`."""
    path = Path(path)
    if source_kind(path) != "xml":
        return False
    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    with opener(path, "rb") as f:
        head = f.read(2048).decode("utf-8", "replace")
    match = re.search(r"<osm[^>]*generator=\"([^\"]*)\"", head)
    return bool(match and match.group(1).startswith(SCHEMATIC_GENERATOR))


def read_graph(path: str | Path) -> nx.MultiDiGraph:
    """Read an OSM file into an unsimplified MultiDiGraph (one-way ways one way only).

    Parameters
    ----------
    path : str or Path
        ``.osm`` / ``.osm.bz2`` (osmnx ``graph_from_xml``), ``.osm.pbf`` (converted to
        OSM XML with pyosmium first) or ``.graphml`` (osmnx ``load_graphml``; may already
        be simplified, see ``G.graph["simplified"]``).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"network file not found: {path}"
        raise OsmError(msg)
    kind = source_kind(path)
    if kind == "graphml":
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # networkx/lxml raise many kinds for a bad file
            msg = f"{path.name}: not a readable GraphML road graph: {exc}"
            raise OsmError(msg) from exc
    elif kind == "pbf":
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / (path.name.removesuffix(".pbf") + ".xml")
            pbf_to_xml(path, xml)
            G = _from_xml(xml, path.name)
    else:
        G = _from_xml(path, path.name)
    if G.number_of_edges() == 0:
        msg = f"{path.name}: no roads (no ways with a highway tag)"
        raise OsmError(msg)
    return G


def _from_xml(path: Path, label: str) -> nx.MultiDiGraph:
    with _way_tags():
        try:
            return ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
        except ox._errors.InsufficientResponseError as exc:
            msg = f"{label}: no roads (no ways with a highway tag)"
            raise OsmError(msg) from exc
        except Exception as exc:  # XML parser errors and the like
            msg = f"{label}: not a readable OSM XML file: {exc}"
            raise OsmError(msg) from exc


@contextlib.contextmanager
def _way_tags() -> Iterator[None]:
    """Temporarily widen the way tags osmnx keeps to :data:`WAY_TAGS`."""
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(WAY_TAGS)
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


def pbf_to_xml(pbf: Path, xml: Path) -> None:
    """Convert an ``.osm.pbf`` extract to OSM XML with pyosmium (highway ways and their
    nodes only), for osmnx's XML reader."""
    import osmium

    try:
        ways = [
            osmium.osm.mutable.Way(id=w.id, nodes=[n.ref for n in w.nodes], tags=dict(w.tags))
            for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY)
            if "highway" in w.tags
        ]
        wanted = {ref for w in ways for ref in w.nodes}
        with osmium.SimpleWriter(str(xml)) as writer:
            for n in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
                if n.id in wanted:
                    writer.add_node(n)
            for w in ways:
                writer.add_way(w)
    except RuntimeError as exc:
        msg = f"{pbf.name}: not a readable OSM PBF file: {exc}"
        raise OsmError(msg) from exc


def fetch_graph(place: str, timeout: float = 20.0) -> nx.MultiDiGraph:
    """Download a place's road network with osmnx (needs the internet).

    Fails fast when offline: osmnx's Overpass rate-limit probe (which waits 60 s when it
    cannot connect) is switched off and the request timeout is ``timeout`` seconds.
    """
    saved = (
        ox.settings.overpass_rate_limit,
        ox.settings.requests_timeout,
        list(ox.settings.useful_tags_way),
    )
    ox.settings.overpass_rate_limit = False
    ox.settings.requests_timeout = timeout
    ox.settings.useful_tags_way = list(WAY_TAGS)
    try:
        return ox.graph_from_place(place, network_type="all", simplify=False, retain_all=True)
    except Exception as exc:  # requests' connection errors, osmnx response errors
        msg = f"could not download the road network for {place!r}: {exc}"
        raise OsmError(msg) from exc
    finally:
        (
            ox.settings.overpass_rate_limit,
            ox.settings.requests_timeout,
            ox.settings.useful_tags_way,
        ) = saved
