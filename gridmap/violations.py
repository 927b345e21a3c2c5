"""The one record of a rule that gave way or does not hold (partition and staffing alike).

``rule`` names the rule (``min_households``, ``contiguity``, ``compound_covered``, ...);
``kind`` says why, as a machine code callers may branch on (``proved``, ``counting``,
``locked``, ...), so that nobody has to parse ``detail``, the English text for people.
A plan's stored report holds these records as JSON (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Violation:
    """A rule that gave way, and why."""

    rule: str
    detail: str
    kind: str = ""
    community_code: str | None = None
    grid_code: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
