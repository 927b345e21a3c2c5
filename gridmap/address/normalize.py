"""Address text normalisation (标准地址): one canonical form for typed and stored addresses.

NFKC, simplified characters, no spaces or punctuation, Arabic numbers,
栋/单元/室 as the only words; and the stripping of leading admin names
(province, city, district, street) that dispatchers sometimes type and
sometimes leave out.

Traditional characters (青年南路17號, 春潮花園3棟2單元, 無錫市新吳區) are
converted with OpenCC's ``t2s`` dictionaries rather than a table of our
own: compound and road names use thousands of characters, not only the
address words, and OpenCC's phrase tables settle the characters whose
simplified form depends on the word. Stored and typed text go through the
same conversion (to its fixed point), so a simplified name that OpenCC would
alter still matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gridmap.errors import InvalidInput

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
    """Canonical form: NFKC, simplified, no spaces/punctuation, Arabic numbers, 栋/单元/室 as the only words."""
    s = _JUNK_RE.sub("", simplified(unicodedata.normalize("NFKC", text)).upper().translate(_DASHES))
    for _ in range(4):  # one pass nearly always; a rewrite can expose another (0号0房 → 0号0室 → 0栋0室)
        before = s
        for pattern, replace in _REWRITES:
            s = pattern.sub(replace, s)
        if s == before:
            break
    return s


def simplified(text: str) -> str:
    """Traditional Chinese characters as simplified ones (號→号, 棟→栋, 單元→单元, 區→区, 園→园).

    Converted again until nothing changes: OpenCC's phrase segmentation can leave a character
    that a second pass converts (於單 → 於单 → 于单), and typed and stored text must meet.
    """
    if text.isascii():
        return text
    convert = _t2s().convert
    for _ in range(4):
        done = convert(text)
        if done == text:
            break
        text = done
    return text


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


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
def normalize_name(text: str) -> str:
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
ADMIN_TOKEN_RE = re.compile(r".+?(?:特别行政区|自治区|自治州|街道|省|市|区|县|镇|乡|旗|盟)")
_ROAD_AHEAD = r"(?![东西南北中]?(?:大道|路|街|道|巷|弄|里|桥))"


def admin_variants(prefix: str) -> list[str]:
    """The full form of an admin name and its short form without 省/市/区/街道... (two characters or more)."""
    full = normalize(prefix)
    for suffix in _ADMIN_SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= 2:
            return [full, full[: -len(suffix)]]
    return [full] if full else []


@lru_cache(maxsize=32)
def prefix_regex(prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
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
class Protected:
    """Names (roads, compounds) that must never be cut by prefix stripping."""

    names: frozenset[str]
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, names: Iterable[str]) -> Protected:
        kept = frozenset(n for n in names if n)
        return cls(kept, tuple(sorted({len(n) for n in kept})))

    def starts(self, text: str) -> bool:
        return any(text[:k] in self.names for k in self.lengths)


def strip_admin_prefix(text: str, prefixes: Iterable[str], keep: Iterable[str] = ()) -> str:
    """Remove leading province/city/district/street names (full or short, any order, any subset).

    Returns the normalised text. Names in ``keep`` (known roads and
    compounds) stop the stripping, so 新吴花园 is not cut to 花园.
    """
    pattern = prefix_regex(tuple(sorted(set(prefixes))))
    return strip_with(normalize(text), pattern, Protected.of(normalize(k) for k in keep))


def strip_with(text: str, pattern: re.Pattern[str] | None, protected: Protected) -> str:
    if pattern is None:
        return text
    while (found := pattern.match(text)) and found.end() < len(text) and not protected.starts(text):
        text = text[found.end() :]
    return text


