"""Partitioning rules (网格划分规则) and the reasons a rule gives way."""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.errors import InvalidInput
from gridmap.domain import MAJOR_ROAD_CLASSES


@dataclass(frozen=True)
class Rules:
    """Size and shape rules for the grids of one kind of community.

    ``target_households`` is the load the solver aims at when choosing the
    number of grids (default: the middle of the bounds). The weights trade
    off the soft goals; the household bounds are hard unless infeasible.
    """

    min_households: int = 300
    max_households: int = 500
    target_households: int | None = None
    major_road_classes: tuple[str, ...] = MAJOR_ROAD_CLASSES
    barrier_kinds: tuple[str, ...] = ("water", "rail")  # always major, whatever their class
    penalise_water: bool = True
    crossing_weight: float = 1.0  # cost of a major barrier inside a grid, per crossing
    compactness_weight: float = 1.0  # cost per grid-side length of shared boundary cut
    balance_weight: float = 2.0  # cost of a grid off the mean load by 100 %
    stability_weight: float = 4.0  # cost of moving a grid's worth of households

    def __post_init__(self) -> None:
        if not 0 <= self.min_households <= self.max_households or self.max_households <= 0:
            raise InvalidInput(
                f"household bounds must satisfy 0 <= min <= max and max > 0, "
                f"got min={self.min_households}, max={self.max_households}"
            )

    @property
    def target(self) -> float:
        """Households per grid the number of grids is chosen for."""
        if self.target_households is not None:
            return float(self.target_households)
        return (self.min_households + self.max_households) / 2


#: Default urban rules (DESIGN.md §2: 300-500 households per grid).
URBAN = Rules()
#: Default rural rules: a village is one grid, however small (no minimum), and is
#: cut into several grids only when it exceeds 1000 households; the target equal to
#: the maximum means "as few grids as possible".
RURAL = Rules(min_households=1, max_households=1000, target_households=1000)
DEFAULT_RULES: dict[str, Rules] = {"urban": URBAN, "rural": RURAL}


def rules_for(rules: Rules | dict[str, Rules] | None, kind: str) -> Rules:
    """The rules that apply to a community of ``kind`` ('urban' or 'rural')."""
    if rules is None:
        return DEFAULT_RULES.get(kind, URBAN)
    if isinstance(rules, Rules):
        return rules
    if kind in rules:
        return rules[kind]
    return DEFAULT_RULES.get(kind, URBAN)


@dataclass(frozen=True)
class Reason:
    """Why a grid's household bounds gave way: ``kind`` (one of BOUNDS_KINDS) for code,
    ``text`` (English, naming the values) for people; it becomes the violation's kind and
    the end of its detail."""

    kind: str
    text: str


#: Why grids out of bounds: the community alone is under the minimum; a separate piece of it is;
#: its households admit no grid count within bounds; units that fit with no neighbour; an
#: exhaustive search proved no split exists; none was found (not proved); a unit over the
#: maximum that cannot be split; a community without compounds; a locked grid; no reason known.
BOUNDS_KINDS = ("small_community", "small_piece", "counting", "stranded", "proved", "unproved",
                "oversize_unit", "no_compounds", "locked", "unrecorded")
#: Reasons that leave a split within bounds possible by counting, but not by adjacency or search.
NO_SPLIT = frozenset({"stranded", "proved", "unproved"})
