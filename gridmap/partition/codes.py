"""Grid codes (网格编码): 12-digit community code + 3-digit sequence.

Sequence order: west→east, then north→south. Grids are put in columns
(bands of x one typical grid width wide, from the community's west edge)
by their representative point (metric CRS); columns are numbered west to
east and, inside a column, north to south (larger y first). Under stability mode
grids whose member set is unchanged keep their code; every other grid takes
the next free sequence after the highest one known for the community, so a
code is never reused for a different area.
"""

from __future__ import annotations

import re

import numpy as np

from gridmap.errors import InvalidInput

CODE_RE = re.compile(r"^\d{15}$")


def sequence_order(xy: np.ndarray, *, width: float | None = None) -> np.ndarray:
    """Indices of grids in numbering order: column (x band) west→east, then y descending."""
    if len(xy) == 0:
        return np.zeros(0, np.int64)
    if width is None:
        span = np.ptp(xy, axis=0)
        width = max(float(np.sqrt(max(span[0] * span[1], 1.0) / len(xy))), 1.0)
    band = np.floor((xy[:, 0] - xy[:, 0].min()) / width)
    return np.lexsort((xy[:, 0], -xy[:, 1], band))


def sequence(code: str) -> int:
    """The 3-digit sequence of a grid code."""
    if not CODE_RE.match(code):
        raise InvalidInput(f"grid code must be 15 digits, got {code!r}")
    return int(code[12:])


def assign_codes(community_code: str, xy: np.ndarray, kept: list[str | None], used: set[str], *,
                 width: float | None = None) -> list[str]:
    """Codes for the grids at ``xy``: ``kept`` where given, otherwise new sequences
    after the largest used in ``used`` (codes of this community already issued)."""
    if not re.fullmatch(r"\d{12}", community_code):
        raise InvalidInput(f"community code must be 12 digits, got {community_code!r}")
    seqs = [sequence(c) for c in used if c.startswith(community_code)]
    nxt = max(seqs, default=0) + 1
    out = list(kept)
    for i in sequence_order(xy, width=width):
        if out[i] is None:
            if nxt > 999:
                raise InvalidInput(f"community {community_code} would need more than 999 grid codes")
            out[i] = f"{community_code}{nxt:03d}"
            nxt += 1
    return out


def grid_name(community_name: str, code: str) -> str:
    """Display name, e.g. '新光社区第3网格'."""
    return f"{community_name}第{int(code[12:])}网格"
