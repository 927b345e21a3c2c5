"""Noisy renderings of standard addresses, as dispatchers type them (for tests and benchmarks)."""

from __future__ import annotations

import re

import numpy as np

from gridmap.address.normalize import ADMIN_TOKEN_RE, int_to_chinese
from gridmap.address.parse import ROAD_RE

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
    while found := ADMIN_TOKEN_RE.match(rest):
        if ROAD_RE.match(found.group()) or len(found.group()) > 8:
            break
        tokens.append(found.group())
        rest = rest[found.end() :]
    if not tokens:
        return address
    keep_from = int(rng.integers(1, len(tokens) + 1))
    return "".join(tokens[keep_from:]) + rest


def _drop_road(address: str) -> str:
    found = ROAD_RE.search(address)
    if not found or found.end() == len(address):
        return address
    return address[: found.start()] + address[found.end() :]


def _add_spaces(text: str, rng: np.random.Generator) -> str:
    cuts = sorted(set(int(c) for c in rng.integers(1, max(len(text), 2), size=3)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return " ".join(p for p in pieces if p)
