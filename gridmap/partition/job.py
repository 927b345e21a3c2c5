"""The data a community's partition works on and produces: :class:`CommunityJob` in,
:class:`CommunityOutcome` out (metric CRS), shared by the engine, the per-community
solve and the report, so that none of them needs another's module for its types."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from shapely.geometry.base import BaseGeometry

from gridmap.partition.rules import Rules
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
