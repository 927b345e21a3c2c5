"""The data a community's partition works on and produces: :class:`CommunityJob` in,
:class:`CommunityOutcome` out (metric CRS), and in between the current plan, the locked
grids and a :class:`Solve`; shared by the engine, the per-community solve and the report,
so that none of them needs another's module for its types."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from gridmap.partition.rules import Reason, Rules
from gridmap.partition.solver import UnitGraph
from gridmap.partition.units import Unit
from gridmap.violations import Violation


@dataclass
class CommunityJob:
    """Everything needed to partition one community (metric CRS)."""

    code: str
    name: str
    geometry: BaseGeometry
    rules: Rules
    compounds: pd.DataFrame  # id, households, geometry
    buildings: pd.DataFrame | None
    barrier: BaseGeometry | None  # union of major barriers near the community
    current: pd.DataFrame | None = None  # code, geometry
    current_members: pd.DataFrame | None = None  # compound_id, building_id, grid_code[, households]
    locked: frozenset[str] = frozenset()
    plan: str = "draft"
    seed: int = 0
    time_limit: float = 5.0


@dataclass
class CommunityOutcome:
    """Grids and reports of one community (metric CRS)."""

    grids: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    grid_report: list[dict] = field(default_factory=list)
    community_report: dict = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    gaps_m2: float = 0.0
    overlaps_m2: float = 0.0


@dataclass(frozen=True)
class Current:
    """The current plan as the units see it (stability mode): grid code per member key
    (compound_id, building_id or None), member keys per grid code, grid code per building of
    a split compound, and households per compound when the plan recorded them."""

    key_code: dict[tuple[str, str | None], str] = field(default_factory=dict)
    members: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)
    by_building: dict[str, dict[str, str]] = field(default_factory=dict)
    old_households: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Locked:
    """Grids of the current plan left as they are: their codes, their rows of ``job.current``
    (None: none locked) and the part of the community outside them, which the solve tiles."""

    codes: list[str]
    rows: pd.DataFrame | None
    container: BaseGeometry


@dataclass(frozen=True)
class Solve:
    """One way of cutting a community's compounds into units, and the labelling found.

    units, member (unit index per piece) and graph (None: no units); labels (region per
    unit); violations of the solve (separate pieces); reasons (region label -> why its
    household bounds gave way)."""

    units: list[Unit]
    member: np.ndarray
    graph: UnitGraph | None
    labels: np.ndarray
    violations: list[Violation] = field(default_factory=list)
    reasons: dict[int, Reason] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Solve:
        """No units: nothing to solve (the community is one grid without compounds, or locked)."""
        return cls([], np.zeros(0, np.int64), None, np.zeros(0, np.int64))
