"""Split a normalised address into road, door number, compound, building, unit and room."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

from gridmap.address.normalize import normalize

ROAD_RE = re.compile(r"([\u4e00-\u9fffA-Z0-9]*?(?:大道|路|街|道|巷|弄|里))(\d+(?:-\d+)?)号")
_BUILDING_RE = re.compile(r"(\d+)栋")
_UNIT_RE = re.compile(r"(\d+)单元")
_ROOM_RE = re.compile(r"(\d+)室")
_ROAD_CUT_RE = re.compile(r"特别行政区|自治区|自治州|街道|社区|省|市|区|县|镇|乡|村")
_VALID_ROAD_RE = re.compile(r".{2,}?(?:大道|路|街|道|巷|弄|里)")
_COMPOUND_CUT_RE = re.compile(r"特别行政区|自治区|街道|省|(?<![城都超])市|(?<![小社园景校厂城营])区|县")
_LEADING_DOOR_RE = re.compile(r"^\d+(?:-\d+)?号")


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of an address found in the text; None where absent."""

    road: str | None = None
    door_number: str | None = None
    compound_name: str | None = None
    building_no: int | None = None
    unit: int | None = None
    room: str | None = None
    rest: str = ""


def parse(text: str, known_compounds: Container[str] = frozenset()) -> ParsedAddress:
    """Split an address into road, door number, compound, building, unit and room.

    ``known_compounds`` (normalised names) are kept whole even when they
    look like an admin prefix plus a name (无锡新区工博园).
    """
    s = normalize(text)
    road = door = None
    pos = 0
    found = ROAD_RE.search(s)
    if found:
        road, door, pos = _cut_road(found.group(1)), found.group(2), found.end()
    parts = [m for m in (r.search(s, pos) for r in (_BUILDING_RE, _UNIT_RE, _ROOM_RE)) if m]
    first = min((m.start() for m in parts), default=len(s))
    last = max((m.end() for m in parts), default=len(s))
    building, unit, room = (_group(r.search(s, pos)) for r in (_BUILDING_RE, _UNIT_RE, _ROOM_RE))
    return ParsedAddress(
        road=road,
        door_number=door,
        compound_name=_cut_compound(s[pos:first], known_compounds) or None,
        building_no=int(building) if building else None,
        unit=int(unit) if unit else None,
        room=room,
        rest=s[last:],
    )


def _group(found: re.Match[str] | None) -> str | None:
    return found.group(1) if found else None


def _cut_road(road: str) -> str:
    """Drop admin names glued in front of a road (旺庄街道长江路 → 长江路), keeping 新区大道 whole."""
    for found in reversed(list(_ROAD_CUT_RE.finditer(road))):
        rest = road[found.end() :]
        if _VALID_ROAD_RE.fullmatch(rest):
            return rest
    return road


def _cut_compound(raw: str, known: Container[str]) -> str:
    """Drop admin names before a compound name (新吴区春潮花园 → 春潮花园), not 东区花园 or 城市花园."""
    raw = _LEADING_DOOR_RE.sub("", raw)
    cuts = [0]
    for found in _COMPOUND_CUT_RE.finditer(raw):
        if found.start() - cuts[-1] >= 2 and len(raw) - found.end() >= 2:
            cuts.append(found.end())
    for cut in cuts:  # the longest known name wins over the heuristic
        if raw[cut:] in known:
            return raw[cut:]
    return raw[cuts[-1] :]


