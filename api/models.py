"""Response models of the lookup API (documentation in /docs; the tests validate answers against them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Staff(BaseModel):
    """A person on a post. ``phone`` is null for the public unless ``phone_public``."""

    id: str
    name: str
    role: str | None = Field(None, description="grid_head, community_police, building_chief, ...")
    agency: str | None = None
    phone: str | None = None
    phone_public: bool = False


class PartyOrg(BaseModel):
    """A party organisation (党组织) and its secretary (书记)."""

    id: str
    name: str
    level: str = Field(description="grid_branch 网格党支部, community_committee 大党委, street_committee 大工委")
    secretary: Staff | None = None


class PartyChain(BaseModel):
    grid_branch: PartyOrg | None = None
    community_committee: PartyOrg | None = None
    street_committee: PartyOrg | None = None


class StaffGroups(BaseModel):
    """The grid's 1+5+N: one grid head (网格长), workers by role, N volunteers, and the building chief (楼栋长)."""

    grid_head: Staff | None = None
    workers: dict[str, list[Staff]] = Field(description="role → staff: grid_worker, community_police, "
                                            "community_worker, urban_management, market_regulation, sanitation")
    volunteers: list[Staff] = []
    building_chief: Staff | None = None


class Candidate(BaseModel):
    """One of several standard addresses that fit an ambiguous text about equally well."""

    address_id: str
    address: str
    score: float
    lon: float | None = None
    lat: float | None = None
    grid_code: str | None = None


class Location(BaseModel):
    """The point the answer is for (EPSG:4490) and how it was found."""

    lon: float
    lat: float
    crs: str = "EPSG:4490"
    method: str = Field(description="coordinate, exact_address, parsed_address, fuzzy_match or compound_name")
    confidence: float = Field(ge=0, le=1)
    input: dict[str, Any]
    address: str | None = None
    address_id: str | None = None
    candidates: list[Candidate] = []


class Generation(BaseModel):
    id: int
    plan: str
    valid_from: str
    valid_to: str | None = None


class Grid(BaseModel):
    code: str = Field(description="15 digits: community code + 3-digit sequence")
    name: str
    households: int
    community_code: str
    plan: str
    generation: Generation


class Area(BaseModel):
    code: str
    name: str
    kind: str | None = None


class Compound(BaseModel):
    id: str
    name: str | None = None


class ServicePoint(BaseModel):
    id: str
    name: str
    kind: str
    hours: str | None = None
    community_code: str | None = None
    lon: float
    lat: float
    distance_m: float


class Neighbour(BaseModel):
    code: str
    name: str
    distance_m: float


class LookupAnswer(BaseModel):
    """Who covers a point: grid, party chain, grid staff, enforcement officers, service points."""

    location: Location
    grid: Grid
    community: Area | None = None
    street: Area | None = None
    district: Area | None = None
    compound: Compound | None = None
    building_id: str | None = None
    party: PartyChain
    staff: StaffGroups
    officers: dict[str, list[Staff]] = Field(description="agency → officers linked to the compound: "
                                             "police, urban_management, market_regulation")
    service_points: list[ServicePoint]
    edge: bool = Field(description="within the edge distance of the grid boundary: check the neighbours")
    boundary_distance_m: float
    neighbours: list[Neighbour]


class GridChoice(BaseModel):
    """One of the grids an ambiguous address names, with the part of the compound it holds."""

    code: str = Field(description="15 digits: community code + 3-digit sequence")
    name: str
    households: int = Field(description="households of the whole grid")
    community_code: str
    compound_households: int | None = Field(None, description="households of the compound in this grid "
                                            "(null when the grids come from address candidates)")
    buildings: list[str] = Field([], description="ids of the compound's buildings in this grid")
    grid_head: Staff | None = None


class AmbiguousAnswer(BaseModel):
    """HTTP 300: the address names no single grid — a compound named alone that the plan splits over
    several grids, or candidate addresses in different grids. Choose one of ``grids`` (or ask again
    with the building, 栋, or a coordinate); ``officers`` are the compound's, the same in every grid."""

    error: str = Field("ambiguous", description="always 'ambiguous'")
    detail: str = Field(description="what is ambiguous and how to narrow it, Chinese first")
    location: Location
    plan: str | None = Field(None, description="the plan the grids belong to")
    compound: Compound | None = None
    grids: list[GridChoice] = Field(description="the grids to choose from, by code")
    officers: dict[str, list[Staff]] | None = Field(None, description="agency → officers linked to the compound")


class BatchRow(BaseModel):
    """One line of a batch answer (NDJSON) or CSV row; ``error`` is set instead of the grid on failure."""

    row: int
    id: Any = None
    method: str | None = None
    confidence: float | None = None
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    grid_code: str | None = None
    grid_name: str | None = None
    community_code: str | None = None
    community_name: str | None = None
    street_code: str | None = None
    street_name: str | None = None
    edge: bool | None = None
    error: str | None = Field(None, description="set instead of the grid: e.g. address_not_found, "
                              "no_covering_grid, ambiguous")
    detail: str | None = None
    nearest: dict[str, Any] | None = None
    grids: list[dict[str, Any]] | None = Field(None, description="with error 'ambiguous': the grids "
                                               "(code, name) the address names")


class ErrorBody(BaseModel):
    error: str
    detail: str
    nearest: dict[str, Any] | None = None
