"""The gazetteer (标准地址库): match typed address text to a standard address or compound.

Dispatchers type addresses with noise — no province, full-width digits, 幢 or
号楼 for 栋, Chinese numerals, the unit left out — so matching goes from strict
to loose: exact text → structured keys → fuzzy text → compound name alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from gridmap.address.normalize import (
    ADMIN_TOKEN_RE,
    MAX_LENGTH,
    Level,
    Protected,
    normalize,
    normalize_name,
    prefix_regex,
    strip_with,
)
from gridmap.address.parse import ParsedAddress, parse
from gridmap.errors import AddressNotFound, InvalidInput

FUZZY_CUTOFF = 70.0
COMPOUND_CUTOFF = 85.0
AMBIGUITY_MARGIN = 3.0
MAX_CANDIDATES = 5
_REQUIRED = ("id", "address", "compound_id", "building_id")


@dataclass(frozen=True)
class Match:
    """The gazetteer entry an address text resolved to.

    ``candidates`` is non-empty only when the text is ambiguous; then the ids
    that the candidates do not share are None and the caller should ask.
    """

    address_id: Hashable | None
    compound_id: Hashable | None
    building_id: Hashable | None
    level: Level
    confidence: float
    candidates: list[tuple[Hashable, str, float]]
    parsed: ParsedAddress
    address: str | None = None

    @property
    def ambiguous(self) -> bool:
        """True when several entries fit about equally well."""
        return bool(self.candidates)


def compound_key(name: str | None) -> str:
    """Key for comparing compound names: normalised, without a trailing 小区."""
    if not name:
        return ""
    key = normalize_name(name)
    return key[:-2] if key.endswith("小区") and len(key) > 3 else key


class Gazetteer:
    """Standard addresses indexed for matching free text typed by a dispatcher."""

    def __init__(self, addresses: pd.DataFrame, prefixes: Iterable[str] = ()) -> None:
        missing = [c for c in _REQUIRED if c not in addresses.columns]
        if missing:
            raise InvalidInput(f"address table lacks columns {missing}; required: {list(_REQUIRED)}")
        self._load_rows(addresses)
        self._index_structure()
        derived = self._derive_prefixes()
        self.prefixes: tuple[str, ...] = tuple(sorted(set(prefixes) | derived | {"中国"}))
        self._prefix_pattern = prefix_regex(self.prefixes)
        self._protected = Protected.of([*self._by_road, *self._compounds_by_key])
        self._index_text()

    def __len__(self) -> int:
        return len(self._ids)

    # -- building the indexes

    def _load_rows(self, df: pd.DataFrame) -> None:
        self._ids: list[Hashable] = [_scalar(v) for v in df["id"].tolist()]
        self._texts: list[str] = [str(v) for v in df["address"].tolist()]
        self._norm_full: list[str] = [normalize(t) for t in self._texts]
        self._compound_ids = [_scalar(v) for v in df["compound_id"].tolist()]
        self._building_ids = [_scalar(v) for v in df["building_id"].tolist()]
        columns = {c: _column(df, c) for c in ("road", "door_number", "compound_name", "building_no", "unit")}
        self._roads: list[str | None] = []
        self._doors: list[str | None] = []
        self._compound_keys: list[str] = []
        self._building_nos: list[int | None] = []
        self._units: list[int | None] = []
        for i, norm in enumerate(self._norm_full):
            values = {c: columns[c][i] for c in columns}
            parsed = parse(norm) if any(v is None for v in values.values()) else None
            self._roads.append(_first(_name(values["road"]), _attr(parsed, "road")))
            self._doors.append(_first(_door(values["door_number"]), _attr(parsed, "door_number")))
            name = _first(_name(values["compound_name"]), _attr(parsed, "compound_name"))
            self._compound_keys.append(compound_key(name))
            self._building_nos.append(_first(_int(values["building_no"]), _attr(parsed, "building_no")))
            self._units.append(_first(_int(values["unit"]), _attr(parsed, "unit")))

    def _index_structure(self) -> None:
        self._by_door: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._by_road: dict[str, list[int]] = defaultdict(list)
        self._compounds_by_key: dict[str, list[Hashable]] = defaultdict(list)
        self._rows_by_compound: dict[Hashable, list[int]] = defaultdict(list)
        self._by_cbu: dict[tuple[Hashable, int, int], int] = {}
        self._by_cb: dict[tuple[Hashable, int], list[int]] = defaultdict(list)
        self._compound_row: dict[Hashable, int] = {}
        for i in range(len(self._ids)):
            road, door, cid = self._roads[i], self._doors[i], self._compound_ids[i]
            b, u = self._building_nos[i], self._units[i]
            if road:
                self._by_road[road].append(i)
                if door:
                    self._by_door[(road, door)].append(i)
            if cid is None:
                continue
            self._rows_by_compound[cid].append(i)
            key = self._compound_keys[i]
            if key and cid not in self._compounds_by_key[key]:
                self._compounds_by_key[key].append(cid)
            if b is None:
                self._compound_row.setdefault(cid, i)
                continue
            self._by_cb[(cid, b)].append(i)
            if u is not None:
                self._by_cbu.setdefault((cid, b, u), i)
        for rows in self._by_cb.values():
            rows.sort(key=lambda i: (self._units[i] is not None, self._units[i] or 0))
        self._index_heads()
        self._road_names = list(self._by_road)
        self._key_names = list(self._compounds_by_key)

    def _index_heads(self) -> None:
        """Distinct (compound, road + door, name) of the rows: what fuzzy matching compares."""
        heads: dict[tuple[Hashable, str, str], int] = {}
        self._head_of: list[int] = []
        for i, cid in enumerate(self._compound_ids):
            road_door = _road_door(self._roads[i], self._doors[i])
            self._head_of.append(heads.setdefault((cid, road_door, self._compound_keys[i]), len(heads)))
        self._heads: list[tuple[Hashable, str, str]] = list(heads)

    def _derive_prefixes(self) -> set[str]:
        """Admin names found in front of the road or compound in the gazetteer's own texts."""
        heads: set[str] = set()
        for i, norm in enumerate(self._norm_full):
            anchor = self._roads[i] or self._compound_keys[i]
            at = norm.find(anchor) if anchor else -1
            if at > 0:
                heads.add(norm[:at])
        return {token for head in heads for token in ADMIN_TOKEN_RE.findall(head)}

    def _index_text(self) -> None:
        self._norm: list[str] = [self._strip_text(t) for t in self._norm_full]
        self._by_exact: dict[str, int] = {}
        for i, key in enumerate(self._norm):
            self._by_exact.setdefault(key, i)

    def _strip_text(self, normalized: str) -> str:
        return strip_with(normalized, self._prefix_pattern, self._protected)

    # -- matching

    def match(self, text: str) -> Match:
        """Resolve free text to a standard address: exact → structured → fuzzy → compound."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("address text is empty")
        if len(text) > MAX_LENGTH:
            raise InvalidInput(f"address text has {len(text)} characters; at most {MAX_LENGTH} allowed")
        query = self._strip_text(normalize(text))
        parsed = parse(query, self._compounds_by_key)
        if query in self._by_exact:
            return self._single(self._by_exact[query], "exact", 1.0, parsed)
        structured, compounds = self._structured(parsed)
        if structured is None and compounds:
            # The keys named the compound exactly but not an existing building: say so
            # at compound level rather than guess a similar compound that has one.
            structured = self._compound(query, parsed, compounds)
        found = structured or self._fuzzy(parsed) or self._compound(query, parsed, [])
        if found is None:
            raise AddressNotFound(f"no standard address matches {text!r}")
        return found

    def _single(self, i: int, level: Level, confidence: float, parsed: ParsedAddress) -> Match:
        return Match(
            address_id=self._ids[i],
            compound_id=self._compound_ids[i],
            building_id=self._building_ids[i],
            level=level,
            confidence=round(confidence, 3),
            candidates=[],
            parsed=parsed,
            address=self._texts[i],
        )

    def _structured(self, parsed: ParsedAddress) -> tuple[Match | None, list[Hashable]]:
        """Keys: road + door and/or compound name, then building and unit.

        Returns the match (or None) and the compounds the keys named, which
        the compound level falls back on when the building does not exist.
        """
        door_rows = self._by_door.get((parsed.road, parsed.door_number), []) if parsed.road else []
        by_door = list(dict.fromkeys(c for i in door_rows if (c := self._compound_ids[i]) is not None))
        by_name = self._compounds_by_key.get(compound_key(parsed.compound_name), [])
        both = [c for c in by_door if c in by_name]
        compounds = both or list(dict.fromkeys([*by_door, *by_name]))
        if not compounds:
            if door_rows and parsed.building_no is None:  # a door with no compound, e.g. a shop
                return self._single(door_rows[0], "structured", 0.9, parsed), []
            return None, []
        resolved = [(c, r) for c in compounds if (r := self._resolve(c, parsed)) is not None]
        if not resolved:
            return None, compounds
        if len(resolved) > 1:
            rows = [self._representative(cid, parsed) for cid, _ in resolved]
            return self._ambiguous(rows, "structured", parsed), compounds
        cid, (row, confidence) = resolved[0]
        if row is None:
            return self._compound_match(cid, 100.0, parsed, level="structured", confidence=confidence), compounds
        return self._single(row, "structured", confidence, parsed), compounds

    def _resolve(self, cid: Hashable, parsed: ParsedAddress) -> tuple[int | None, float] | None:
        """(row, confidence) of the building (unit) asked for in one compound; row None = compound only."""
        b, u = parsed.building_no, parsed.unit
        if b is None:
            return self._compound_row.get(cid), 0.85
        if u is not None and (cid, b, u) in self._by_cbu:
            return self._by_cbu[(cid, b, u)], 0.97
        rows = self._by_cb.get((cid, b))
        if not rows:
            return None
        return rows[0], (0.9 if u is None else 0.8)

    def _fuzzy(self, parsed: ParsedAddress) -> Match | None:
        """Find the compound by similar text (road + door + name), then resolve its building as structured does."""
        pool = self._numbers_agree(self._fuzzy_pool(parsed), parsed)
        ranked = self._compound_scores(parsed, pool)
        if not ranked:
            return None
        top_score, top_cid = ranked[0]
        close = [(score, cid) for score, cid in ranked[:MAX_CANDIDATES] if top_score - score < AMBIGUITY_MARGIN]
        if len(close) > 1:
            rows = [self._representative(cid, parsed) for _, cid in close]
            scores = dict(zip(rows, (score for score, _ in close)))
            return self._ambiguous(rows, "fuzzy", parsed, scores)
        resolved = self._resolve(top_cid, parsed)
        if resolved is None:
            return None
        row, quality = resolved
        if row is None:
            return self._compound_match(top_cid, top_score, parsed, level="fuzzy", confidence=quality)
        return self._single(row, "fuzzy", quality * top_score / 100.0, parsed)

    def _compound_scores(self, parsed: ParsedAddress, pool: list[int]) -> list[tuple[float, Hashable]]:
        """(score, compound_id) above the cutoff, best first; one score per road+door+name head."""
        name = compound_key(parsed.compound_name)
        door = _road_door(parsed.road, parsed.door_number)
        best: dict[Hashable, float] = {}
        for head in {self._head_of[i] for i in pool}:
            cid, road_door, head_name = self._heads[head]
            if cid is None:
                continue
            score = fuzz.ratio(door + name, road_door + head_name)  # also catches a garbled road
            if name:
                score = max(score, fuzz.ratio(name, head_name))
            elif door:
                score = max(score, fuzz.ratio(door, road_door))
            if score >= FUZZY_CUTOFF and score > best.get(cid, -1.0):
                best[cid] = score
        return _best_first(best)

    def _representative(self, cid: Hashable, parsed: ParsedAddress) -> int:
        """The row that stands for a compound among candidates: the building asked for, else the compound."""
        resolved = self._resolve(cid, parsed)
        if resolved is not None and resolved[0] is not None:
            return resolved[0]
        return self._compound_row.get(cid, self._rows_by_compound[cid][0])

    def _fuzzy_pool(self, parsed: ParsedAddress) -> list[int]:
        rows: set[int] = set()
        if parsed.road:
            for road in self._near(parsed.road, self._road_names, fuzz.partial_ratio, 80.0, 3):
                door = self._by_door.get((road, parsed.door_number or ""))
                rows.update(door or self._by_road[road])
        key = compound_key(parsed.compound_name)
        if key:
            for name in self._near(key, self._key_names, fuzz.WRatio, 60.0, 10):
                for cid in self._compounds_by_key[name]:
                    rows.update(self._rows_by_compound[cid])
        return sorted(rows) if rows else list(range(len(self._ids)))

    @staticmethod
    def _near(text: str, choices: Sequence[str], scorer: Any, cutoff: float, limit: int) -> list[str]:
        if text in choices:
            return [text]
        return [c for c, _, _ in process.extract(text, choices, scorer=scorer, score_cutoff=cutoff, limit=limit)]

    def _numbers_agree(self, pool: list[int], parsed: ParsedAddress) -> list[int]:
        """String similarity cannot tell 12栋 from 13栋: building and unit are filters, not scores."""
        if parsed.building_no is None:
            return pool
        pool = [i for i in pool if self._building_nos[i] == parsed.building_no]
        same_unit = [i for i in pool if self._units[i] == parsed.unit]
        return same_unit or pool

    def _ambiguous(
        self, rows: list[int], level: Level, parsed: ParsedAddress, scores: dict[int, float] | None = None
    ) -> Match:
        rows = rows[:MAX_CANDIDATES]
        shared = {self._compound_ids[i] for i in rows}
        scores = scores or {}
        candidates = [(self._ids[i], self._texts[i], round(min(scores.get(i, 100.0), 100.0), 1)) for i in rows]
        top = max(c[2] for c in candidates)
        return Match(
            address_id=None,
            compound_id=shared.pop() if len(shared) == 1 else None,
            building_id=None,
            level=level,
            confidence=round(0.5 * top / 100.0, 3),
            candidates=candidates,
            parsed=parsed,
        )

    def _compound(self, query: str, parsed: ParsedAddress, known: list[Hashable]) -> Match | None:
        """Last resort: the compound whose name appears in the text, or the ones the keys named."""
        if known:
            ranked = [(100.0, cid) for cid in known]
        else:
            ranked = self._compounds_in_text(compound_key(parsed.compound_name) or query)
        if not ranked:
            return None
        top_score = ranked[0][0]
        close = [cid for score, cid in ranked[:MAX_CANDIDATES] if top_score - score < AMBIGUITY_MARGIN]
        if len(close) > 1:
            rows = [self._compound_row.get(c, self._rows_by_compound[c][0]) for c in close]
            return self._ambiguous(rows, "compound", parsed, dict.fromkeys(rows, top_score))
        return self._compound_match(close[0], top_score, parsed)

    def _compounds_in_text(self, text: str) -> list[tuple[float, Hashable]]:
        """(score, compound_id) by partial similarity of names to the text, best first."""
        found = process.extract(
            text, self._key_names, scorer=fuzz.partial_ratio, score_cutoff=COMPOUND_CUTOFF, limit=10
        )
        hits = [(name, score) for name, score, _ in found if len(name) >= 2]
        whole = {name for name, _ in hits if name in text}
        # 春潮 inside 春潮花园, both in the text: the longer name is the one meant.
        shadowed = {n for n in whole if any(n != m and n in m for m in whole)}
        ranked: dict[Hashable, float] = {}
        for name, score in hits:
            if name in shadowed:
                continue
            # A name found whole beats a partial one; among equals, the most similar overall.
            adjusted = score - (0.0 if name in whole else 5.0) + 0.01 * fuzz.ratio(text, name)
            for cid in self._compounds_by_key[name]:
                ranked[cid] = max(adjusted, ranked.get(cid, 0.0))
        return _best_first(ranked)

    def _compound_match(
        self,
        cid: Hashable,
        score: float,
        parsed: ParsedAddress,
        level: Level = "compound",
        confidence: float = 0.6,
    ) -> Match:
        """A match at compound granularity: the compound-level address if the gazetteer has one."""
        row = self._compound_row.get(cid)
        return Match(
            address_id=self._ids[row] if row is not None else None,
            compound_id=cid,
            building_id=None,
            level=level,
            confidence=round(confidence * min(score, 100.0) / 100.0, 3),
            candidates=[],
            parsed=parsed,
            address=self._texts[row] if row is not None else None,
        )


# ---------------------------------------------------------------- helpers


def _best_first(scores: dict[Hashable, float]) -> list[tuple[float, Hashable]]:
    """(score, compound_id) by descending score, ties by id so results are deterministic."""
    return sorted(((score, cid) for cid, score in scores.items()), key=lambda item: (-item[0], str(item[1])))


def _scalar(value: Any) -> Hashable | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def _column(df: pd.DataFrame, name: str) -> list[Any]:
    if name not in df.columns:
        return [None] * len(df)
    return [_scalar(v) for v in df[name].tolist()]


def _road_door(road: str | None, door: str | None) -> str:
    """长江路88号; just the road when the door is unknown."""
    return f"{road}{door}号" if road and door else road or ""


def _first(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _name(value: Any) -> str | None:
    """A road or compound name from a table cell, normalised."""
    return None if value is None else normalize_name(str(value)) or None


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(float(str(value).strip()))
    except ValueError:
        found = re.search(r"\d+", normalize(str(value)))
        return int(found.group()) if found else None


def _door(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = normalize_name(str(value))
    return text[:-1] if text.endswith("号") else text or None


def _attr(parsed: ParsedAddress | None, name: str) -> Any:
    return getattr(parsed, name) if parsed is not None else None


