"""The one town resolver: a town by its code, full name, short name or pinyin.

Staff write a town as its NBS code (``110118001``), its full name (``鼓楼街道``), its short
name (``鼓楼``: the name without 街道, 地区, 镇, 乡, …) or its name in pinyin (``Gulou``,
any case, with or without spaces). The pinyin is the stored English name of the town
(``name_en``, or the ``seat_name_en`` of its seat) and otherwise comes from
:mod:`pypinyin`. The import, the API filters, tours and the place matching all resolve
towns here, so a spelling that works in one works in all.

A spelling that two towns share (two short names alike) resolves to neither: it is
refused as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import pandas as pd

from geoservice import params
from geoservice.errors import ParameterError, excerpt

__all__ = ["SUFFIXES", "Town", "Towns", "short_name"]

#: Endings of a town's official name that people leave out (longest first).
SUFFIXES = ("街道办事处", "街道", "地区", "镇", "乡")
_SPACES = re.compile(r"[\s'’·-]+")
#: Text in Latin letters (with spaces, apostrophes, hyphens): an English name or pinyin.
_LATIN = re.compile(r"\s*[A-Za-z][A-Za-z\s'’·-]*")


def short_name(name: str) -> str:
    """A town's name without its administrative ending: 鼓楼街道 → 鼓楼, 溪翁庄镇 → 溪翁庄."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name


@cache
def _pinyin(text: str) -> str:
    """Title-case toneless pinyin of Chinese text: 西田各庄 → Xitiangezhuang."""
    from pypinyin import lazy_pinyin  # its dictionaries load in ~0.1 s: only when used

    return "".join(lazy_pinyin(text)).capitalize()


def _fold(text: str) -> str:
    """The form spellings are compared in: case, spaces, apostrophes and hyphens ignored."""
    return _SPACES.sub("", text.strip()).casefold()


@dataclass(frozen=True)
class Town:
    """A town or subdistrict (乡镇、街道) of the district."""

    code: str
    name: str
    #: The stored English name ("" when none is stored).
    name_en: str = ""

    @property
    def short(self) -> str:
        return short_name(self.name)

    @property
    def english(self) -> str:
        """The stored English name, else the pinyin of the short name."""
        return self.name_en or _pinyin(self.short)


class Towns:
    """The towns of a district and every spelling that names one of them.

    Parameters
    ----------
    towns : iterable of Town
    """

    def __init__(self, towns: Iterable[Town]) -> None:
        self.towns = tuple(towns)
        self.by_code = {t.code: t for t in self.towns}
        self._chinese = _spellings((t.code, t.name, t.short) for t in self.towns)
        self._latin: dict[str, str] | None = None  # made on first use: pypinyin loads slowly

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Towns:
        """From a ``towns`` layer: ``code``, ``name`` and, where stored, ``name_en`` or
        ``seat_name_en`` (else the pinyin of the short name)."""
        rows = pd.DataFrame(frame).to_dict("records")
        return cls(
            Town(
                code=str(r["code"]),
                name=str(r["name"]),
                name_en=_stored_en(r),
            )
            for r in rows
        )

    def __len__(self) -> int:
        return len(self.towns)

    @property
    def names(self) -> dict[str, str]:
        """Code → Chinese name."""
        return {t.code: t.name for t in self.towns}

    def name(self, code: str) -> str:
        """The Chinese name of ``code`` (``""`` when unknown)."""
        town = self.by_code.get(code)
        return town.name if town else ""

    def resolve(self, text: object) -> str | None:
        """The code of the town ``text`` names, or None (unknown or ambiguous)."""
        if not isinstance(text, str) or not text.strip():
            return None
        if _LATIN.fullmatch(text):  # an English name or pinyin (never a code or Chinese)
            return self._latin_spellings().get(_fold(text))
        # 鼓楼街道办事处 names 鼓楼街道 by its short name.
        return self._chinese.get(_fold(text)) or self._chinese.get(_fold(short_name(text.strip())))

    def _latin_spellings(self) -> dict[str, str]:
        if self._latin is None:
            self._latin = _spellings((t.code, t.english) for t in self.towns)
        return self._latin

    def codes(self, raw: object, name: str = "town") -> list[str] | None:
        """Town codes from a list parameter (:func:`geoservice.params.names`): each item a
        code, full name, short name or pinyin; None when the parameter is absent.

        Raises
        ------
        ParameterError
            Naming the unknown towns and listing the district's.
        """
        items = params.names(raw, name)
        if items is None:
            return None
        codes = [self.resolve(i) for i in items]
        unknown = [i for i, c in zip(items, codes, strict=True) if c is None]
        if unknown:
            raise self.unknown(unknown, name)
        return list(dict.fromkeys(c for c in codes if c is not None))

    def unknown(self, texts: list[str], name: str = "town") -> ParameterError:
        """The 400 for towns that name none of the district's."""
        listed = "、".join(excerpt(u) for u in texts[:5])
        if not self.towns:
            return ParameterError(
                name,
                f"未知的乡镇（街道）：{listed}；本区没有乡镇数据",
                f"unknown town {listed}; this district has no towns",
            )
        shown = "、".join(f"{t.short}（{t.code}）" for t in self.towns)
        return ParameterError(
            name,
            f"未知的乡镇（街道）：{listed}；可选：{shown}",
            f"unknown town {listed}; use a code, a Chinese name (full or short) or pinyin: "
            + ", ".join(f"{t.english} ({t.code})" for t in self.towns),
        )

    def vocabulary(self) -> Mapping[str, str]:
        """Code → Chinese name, for descriptions (the OpenAPI ``town`` parameter)."""
        return self.names


def _spellings(names: Iterable[Iterable[str]]) -> dict[str, str]:
    """Every spelling (folded) → the code of the one town it names. Each item is a town's
    code and then its spellings; a spelling two towns share names neither of them."""
    codes: dict[str, set[str]] = {}
    for code, *spelt in names:
        for s in (code, *spelt):
            if s:
                codes.setdefault(_fold(s), set()).add(code)
    return {s: next(iter(c)) for s, c in codes.items() if len(c) == 1}


def _stored_en(row: Mapping[str, object]) -> str:
    for key in ("name_en", "seat_name_en"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
