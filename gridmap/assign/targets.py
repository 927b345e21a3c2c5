"""Load targets and solver weights of the staffing engine."""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.domain import ENFORCEMENT_AGENCIES, FIVE_WORKER_ROLES
from gridmap.errors import InvalidInput


@dataclass(frozen=True)
class Targets:
    """Staffing targets (defaults from the Ningguo and Qilin reports).

    compounds_per_officer: (min, max) compounds linked to one enforcement officer.
    officers_per_community: (min, max) officers of all agencies per community
        (reported, not enforced: the roster is what it is).
    agencies: agencies of which every compound needs one officer (属地兜底).
    worker_roles: the five worker roles filled on every grid.
    volunteers_per_grid: N, the most volunteers posted to one grid.
    """

    compounds_per_officer: tuple[int, int] = (5, 6)
    officers_per_community: tuple[int, int] = (9, 12)
    agencies: tuple[str, ...] = ENFORCEMENT_AGENCIES
    worker_roles: tuple[str, ...] = FIVE_WORKER_ROLES
    volunteers_per_grid: int = 3

    def __post_init__(self) -> None:
        for name in ("compounds_per_officer", "officers_per_community"):
            low, high = getattr(self, name)
            if not 0 <= low <= high or high < 1:
                raise InvalidInput(f"Targets.{name}={(low, high)!r}: need 0 <= min <= max and max >= 1")
        if self.volunteers_per_grid < 0:
            raise InvalidInput(f"Targets.volunteers_per_grid={self.volunteers_per_grid}: need >= 0")
        if not self.agencies:
            raise InvalidInput("Targets.agencies is empty: name at least one agency")


@dataclass(frozen=True)
class Weights:
    """Objective weights, all in metres of travel so that they add up.

    move_m: extra cost of a link that is not in ``current`` (stability).
    household_m: cost of one household of deviation from the mean load.
    underload_m: cost of one compound below the minimum load.
    overflow_m: cost of the first compound above the maximum load; the
        k-th one costs k times as much, so overflow is spread evenly.
    """

    move_m: int = 500
    household_m: int = 1
    underload_m: int = 5_000
    overflow_m: int = 1_000_000
