"""Chinese standard addresses (标准地址, GB/T 39609 style): normalise, parse, match.

A standard address is road + door number (路 + 号) and/or compound + building
+ unit (+ room): '江苏省无锡市新吴区旺庄街道长江路88号春潮花园12栋2单元'.
Dispatchers type it with noise — no province, full-width digits, 幢 or 号楼
for 栋, Chinese numerals, the unit left out — so matching goes from strict
to loose: exact text → structured keys → fuzzy text → compound name alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Container, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from gridmap.errors import AddressNotFound, InvalidInput

MAX_LENGTH = 200
Level = Literal["exact", "structured", "fuzzy", "compound"]

# ---------------------------------------------------------------- normalisation

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
              "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS)
# Numerals are converted only before these markers, so names like 五一路 or 三江花园 survive.
_MARKERS = r"(?:号|栋|幢|座|单元|室|房|楼|层|#|期|门)"
_CN_NUMBER_RE = re.compile(rf"第?([{_CN_CHARS}]+)(?={_MARKERS})")
_ORDINAL_RE = re.compile(rf"第(\d+)(?={_MARKERS})")
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−"})
_JUNK_RE = re.compile(r"[^\w#\-]|_")
_THREE_PART_RE = re.compile(r"(?<![\d\-])(\d+)-(\d+)-(\d+)(?:号|室)?(?![\d\-])")
_BUILDING_WORD_RE = re.compile(r"(\d+)(?:号楼|号栋|号幢|幢|座|栋|#)楼?")
# 号 before a unit or at the end is a building number (12号2单元, 春潮花园12号),
# but never a door number after a road.
_HAO_BEFORE_UNIT_RE = re.compile(r"(?<![\d\-路街道巷弄里])(\d+)号(?=\d+单元|\d+室|$)")
_UNIT_WORD_RE = re.compile(r"(\d+)-?单元")
_ROOM_WORD_RE = re.compile(r"(\d+)(?:号房|号室|室|房)")
_TRAILING_ROOM_RE = re.compile(r"(单元|栋)(\d{3,})号?$")
_STRAY_RE = re.compile(r"#|(?<!\d)-|-(?!\d)")


def normalize(text: str) -> str:
    """Canonical form: NFKC, no spaces/punctuation, Arabic numbers, 栋/单元/室 as the only words."""
    s = _JUNK_RE.sub("", unicodedata.normalize("NFKC", text).upper().translate(_DASHES))
    for _ in range(4):  # one pass nearly always; a rewrite can expose another (0号0房 → 0号0室 → 0栋0室)
        before = s
        for pattern, replace in _REWRITES:
            s = pattern.sub(replace, s)
        if s == before:
            break
    return s


def _with(template: str) -> Callable[[re.Match[str]], str]:
    """A replacement function for 'groups + words' templates (cheaper than re's template expansion)."""
    parts = re.split(r"\\(\d)", template)
    return lambda m: "".join(m.group(int(p)) if i % 2 else p for i, p in enumerate(parts))


_REWRITES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_CN_NUMBER_RE, lambda m: str(chinese_to_int(m.group(1)))),
    (_ORDINAL_RE, _with(r"\1")),
    (_THREE_PART_RE, _with(r"\1栋\2单元\3室")),
    (_BUILDING_WORD_RE, _with(r"\1栋")),
    (_HAO_BEFORE_UNIT_RE, _with(r"\1栋")),
    (_UNIT_WORD_RE, _with(r"\1单元")),
    (_ROOM_WORD_RE, _with(r"\1室")),
    (_TRAILING_ROOM_RE, _with(r"\1\2室")),
    (_STRAY_RE, lambda m: ""),
)


@lru_cache(maxsize=65536)
def _normalize_name(text: str) -> str:
    """normalize() for the few distinct road and compound names of a gazetteer."""
    return normalize(text)


def chinese_to_int(numeral: str) -> int:
    """一百零八 → 108, 十二 → 12, 两 → 2; digit strings without 十百千 read digit by digit (一二零一 → 1201)."""
    if not any(c in _CN_UNITS for c in numeral):
        return int("".join(str(_CN_DIGITS[c]) for c in numeral))
    total, current = 0, 0
    for char in numeral:
        if char in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[char]
            current = 0
        else:
            current = _CN_DIGITS[char]
    return total + current


def int_to_chinese(number: int) -> str:
    """12 → 十二, 20 → 二十, 7 → 七 (0..99), the way people say building and unit numbers."""
    digits = "零一二三四五六七八九"
    if not 0 <= number < 100:
        raise InvalidInput(f"{number} is outside 0..99")
    tens, ones = divmod(number, 10)
    if tens == 0:
        return digits[ones]
    head = "十" if tens == 1 else digits[tens] + "十"
    return head + (digits[ones] if ones else "")


# ---------------------------------------------------------------- admin prefixes

_ADMIN_SUFFIXES = ("特别行政区", "自治区", "自治州", "街道", "省", "市", "区", "县", "镇", "乡", "旗", "盟")
# A short form (无锡 for 无锡市) is not stripped when a road name continues it (无锡路).
_ROAD_AHEAD = r"(?![东西南北中]?(?:大道|路|街|道|巷|弄|里|桥))"


def admin_variants(prefix: str) -> list[str]:
    """The full form of an admin name and its short form without 省/市/区/街道... (two characters or more)."""
    full = normalize(prefix)
    for suffix in _ADMIN_SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= 2:
            return [full, full[: -len(suffix)]]
    return [full] if full else []


@lru_cache(maxsize=32)
def _prefix_regex(prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    full: set[str] = set()
    short: set[str] = set()
    for prefix in prefixes:
        variants = admin_variants(prefix)
        full.update(variants[:1])
        short.update(variants[1:])
    short -= full
    options = [(re.escape(p), len(p)) for p in full] + [(re.escape(p) + _ROAD_AHEAD, len(p)) for p in short]
    if not options:
        return None
    options.sort(key=lambda item: -item[1])
    return re.compile("|".join(pattern for pattern, _ in options))


@dataclass(frozen=True)
class _Protected:
    """Names (roads, compounds) that must never be cut by prefix stripping."""

    names: frozenset[str]
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, names: Iterable[str]) -> _Protected:
        kept = frozenset(n for n in names if n)
        return cls(kept, tuple(sorted({len(n) for n in kept})))

    def starts(self, text: str) -> bool:
        return any(text[:k] in self.names for k in self.lengths)


def strip_admin_prefix(text: str, prefixes: Iterable[str], keep: Iterable[str] = ()) -> str:
    """Remove leading province/city/district/street names (full or short, any order, any subset).

    Returns the normalised text. Names in ``keep`` (known roads and
    compounds) stop the stripping, so 新吴花园 is not cut to 花园.
    """
    pattern = _prefix_regex(tuple(sorted(set(prefixes))))
    return _strip(normalize(text), pattern, _Protected.of(normalize(k) for k in keep))


def _strip(text: str, pattern: re.Pattern[str] | None, protected: _Protected) -> str:
    if pattern is None:
        return text
    while (found := pattern.match(text)) and found.end() < len(text) and not protected.starts(text):
        text = text[found.end() :]
    return text


# ---------------------------------------------------------------- parsing

_ROAD_RE = re.compile(r"([\u4e00-\u9fffA-Z0-9]*?(?:大道|路|街|道|巷|弄|里))(\d+(?:-\d+)?)号")
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
    found = _ROAD_RE.search(s)
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


# ---------------------------------------------------------------- gazetteer

FUZZY_CUTOFF = 70.0
COMPOUND_CUTOFF = 85.0
AMBIGUITY_MARGIN = 3.0
MAX_CANDIDATES = 5
_REQUIRED = ("id", "address", "compound_id", "building_id")
_ADMIN_TOKEN_RE = re.compile(r".+?(?:特别行政区|自治区|自治州|街道|省|市|区|县|镇|乡|旗|盟)")


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
    key = _normalize_name(name)
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
        self._prefix_pattern = _prefix_regex(self.prefixes)
        self._protected = _Protected.of([*self._by_road, *self._compounds_by_key])
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
        return {token for head in heads for token in _ADMIN_TOKEN_RE.findall(head)}

    def _index_text(self) -> None:
        self._norm: list[str] = [self._strip_text(t) for t in self._norm_full]
        self._by_exact: dict[str, int] = {}
        for i, key in enumerate(self._norm):
            self._by_exact.setdefault(key, i)

    def _strip_text(self, normalized: str) -> str:
        return _strip(normalized, self._prefix_pattern, self._protected)

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
    return None if value is None else _normalize_name(str(value)) or None


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
    text = _normalize_name(str(value))
    return text[:-1] if text.endswith("号") else text or None


def _attr(parsed: ParsedAddress | None, name: str) -> Any:
    return getattr(parsed, name) if parsed is not None else None


# ---------------------------------------------------------------- noise for tests and benchmarks

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_BUILDING_SYNONYMS = ("幢", "号楼", "#", "#楼", "座")


def add_noise(address: str, rng: np.random.Generator) -> str:
    """A dispatcher's rendering of a standard address: prefixes dropped, 幢/号楼, numerals, spaces..."""
    s = address
    if rng.random() < 0.7:
        s = _drop_admin(s, rng)
    if rng.random() < 0.3:
        s = _drop_road(s)
    if rng.random() < 0.25:
        s = re.sub(r"\d+单元", "", s)
    if rng.random() < 0.3:
        s = re.sub(r"(\d{1,2})(?=栋|单元)", lambda m: int_to_chinese(int(m.group(1))), s)
    if rng.random() < 0.4:
        s = s.replace("栋", str(rng.choice(_BUILDING_SYNONYMS)))
    if rng.random() < 0.15 and "单元" in s:
        s += f"{int(rng.integers(1, 19))}{int(rng.integers(1, 5)):02d}室"
    if rng.random() < 0.3:
        s = s.translate(_FULL_WIDTH)
    if rng.random() < 0.3:
        s = _add_spaces(s, rng)
    return s


def _drop_admin(address: str, rng: np.random.Generator) -> str:
    tokens = []
    rest = address
    while found := _ADMIN_TOKEN_RE.match(rest):
        if _ROAD_RE.match(found.group()) or len(found.group()) > 8:
            break
        tokens.append(found.group())
        rest = rest[found.end() :]
    if not tokens:
        return address
    keep_from = int(rng.integers(1, len(tokens) + 1))
    return "".join(tokens[keep_from:]) + rest


def _drop_road(address: str) -> str:
    found = _ROAD_RE.search(address)
    if not found or found.end() == len(address):
        return address
    return address[: found.start()] + address[found.end() :]


def _add_spaces(text: str, rng: np.random.Generator) -> str:
    cuts = sorted(set(int(c) for c in rng.integers(1, max(len(text), 2), size=3)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return " ".join(p for p in pieces if p)
