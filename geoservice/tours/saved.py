"""Saved tour plans: one JSON file per plan in the instance folder, written atomically.

Layout of ``directory`` (``<instance>/tours/``)::

    <id>.json           {"id", "created", "request", "result"}
    <id>.summary.json   the few fields a listing shows (read without opening the plan)

Ids are ``YYYYMMDD-HHMMSS-xxxxxx`` (creation time, Asia/Shanghai, and 6 random hex digits),
so they sort by age and can never name a path outside the folder. Writes go to a temporary
file that is flushed and renamed over the target: a crash leaves the old state or the new
one. The store keeps at most ``max_plans`` plans (the oldest are removed) of at most
``max_bytes`` each.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoservice.errors import StoreError, TourNotFoundError

if TYPE_CHECKING:
    from geoservice.responses import TourListing

#: A plan's id: when it was saved (Asia/Shanghai) and six random hex digits.
ID_PATTERN = r"^\d{8}-\d{6}-[0-9a-f]{6}$"
_ID = re.compile(ID_PATTERN)
_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
MAX_PLANS = 500
MAX_BYTES = 32 * 1024 * 1024


class TourStore:
    """Save, list and reopen tour plans.

    Parameters
    ----------
    directory : Path
        Where the plans live (created on first save).
    max_plans : int
        Most plans kept; saving one more removes the oldest.
    max_bytes : int
        Largest plan file accepted.
    """

    def __init__(
        self, directory: Path, max_plans: int = MAX_PLANS, max_bytes: int = MAX_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.max_plans = max_plans
        self.max_bytes = max_bytes

    def save(
        self,
        request: Mapping[str, Any],
        result: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
    ) -> dict:
        """Store a plan; return it as saved (``id``, ``created``, ``request``, ``result``).

        Raises
        ------
        StoreError
            The plan is larger than ``max_bytes`` or cannot be written.
        """
        now = (now or dt.datetime.now(_TZ)).astimezone(_TZ)
        plan_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        record = {
            "id": plan_id,
            "created": now.isoformat(timespec="seconds"),
            "request": request,
            "result": result,
        }
        data = json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8")
        if len(data) > self.max_bytes:
            msg = (
                f"方案过大（{len(data) / 1e6:.1f} MB），未保存 / "
                f"the plan is too large to save ({len(data)} bytes, limit {self.max_bytes})"
            )
            raise StoreError(msg)
        self.directory.mkdir(parents=True, exist_ok=True)
        _write(self.directory / f"{plan_id}.json", data)
        _write(
            self.directory / f"{plan_id}.summary.json",
            json.dumps(summary(record), ensure_ascii=False).encode("utf-8"),
        )
        self._prune()
        return record

    def get(self, plan_id: str) -> dict:
        """The saved plan ``plan_id``.

        Raises
        ------
        TourNotFoundError
        """
        path = self._path(plan_id)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"没有编号为 {plan_id[:40]!r} 的方案 / no saved plan {plan_id[:40]!r}"
            raise TourNotFoundError(msg) from exc

    def list(self, limit: int = 100, offset: int = 0) -> list[TourListing]:
        """Summaries of the newest ``limit`` plans after the newest ``offset``, newest first."""
        out = []
        for plan_id in self.ids()[::-1][offset : offset + limit]:
            try:
                out.append(
                    json.loads((self.directory / f"{plan_id}.summary.json").read_text("utf-8"))
                )
            except (OSError, ValueError):
                continue  # a summary being replaced or a plan removed meanwhile
        return out

    # builtins.list: inside the class, ``list`` names the method above.
    def ids(self) -> builtins.list[str]:
        """Ids of all saved plans, oldest first."""
        if not self.directory.is_dir():
            return []
        names = (p.name[: -len(".json")] for p in self.directory.glob("*.json"))
        return sorted(n for n in names if _ID.match(n))

    def _path(self, plan_id: str) -> Path:
        if not isinstance(plan_id, str) or not _ID.match(plan_id):
            msg = f"方案编号格式不对：{str(plan_id)[:40]!r} / not a plan id: {str(plan_id)[:40]!r}"
            raise TourNotFoundError(msg)
        return self.directory / f"{plan_id}.json"

    def _prune(self) -> None:
        ids = self.ids()
        for plan_id in ids[: max(0, len(ids) - self.max_plans)]:
            (self.directory / f"{plan_id}.summary.json").unlink(missing_ok=True)
            (self.directory / f"{plan_id}.json").unlink(missing_ok=True)


def summary(record: dict) -> TourListing:
    """The listing entry of a saved plan."""
    result = record["result"]
    s = result.get("summary", {})
    days = result.get("days", [])
    return {
        "id": record["id"],
        "created": record["created"],
        "depot": result.get("depot", {}).get("name", ""),
        "start_date": days[0].get("date") if days else None,
        "days_used": s.get("days_used", 0),
        "days_available": s.get("days_available", 0),
        "stops_served": s.get("stops_served", 0),
        "unserved": len(result.get("unserved", [])),
        "distance_km": s.get("distance_km", 0.0),
        "drive_hours": s.get("drive_hours", 0.0),
        "schematic": bool(result.get("schematic")),
    }


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"无法保存方案 / cannot save the plan: {exc}"
        raise StoreError(msg) from exc
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
