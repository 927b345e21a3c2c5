"""One vocabulary (gridmap.domain): the staffing engine, the coverage answer and the demo
builder name the same roles and agencies (the builder: tests/test_demo_data.py)."""

from __future__ import annotations

from gridmap.assign import Targets
from gridmap.coverage.answer import officers_for, staff_groups
from gridmap.domain import (
    AGENCY_ZH,
    ENFORCEMENT_AGENCIES,
    FIVE_WORKER_ROLES,
    ROLE_ZH,
    ROLES,
    WORKER_ROLES,
)
from test_assign import FULL, community_code, district, people, run


def test_every_grid_post_of_the_engine_shows_in_the_coverage_answer() -> None:
    """1+5+N as the engine fills it and as the dispatcher reads it: every post the engine
    makes on a grid (head, the five workers, volunteers) appears in that grid's answer."""
    d = district(strips=2)
    result = run(d, people(community_code(0), FULL, heads=2, workers=1, volunteers=4))
    posts = result.posts[result.posts["grid_code"].notna() & result.posts["building_id"].isna()]
    assert set(posts["role"]) >= {"grid_head", *FIVE_WORKER_ROLES, "volunteer"}
    for grid, group in posts.groupby("grid_code"):
        rows = [{"id": p.staff_id, "role": p.role, "name": p.staff_id} for p in group.itertuples()]
        shown = staff_groups(rows, None)
        ids = {shown["grid_head"]["id"]} | {p["id"] for ps in shown["workers"].values() for p in ps}
        ids |= {p["id"] for p in shown["volunteers"]}
        assert ids == set(group["staff_id"]), f"grid {grid}: posts missing from the answer"


def test_worker_roles_are_the_engines_five_and_the_grid_worker() -> None:
    assert Targets().worker_roles == FIVE_WORKER_ROLES
    assert tuple(staff_groups([], None)["workers"]) == WORKER_ROLES == ("grid_worker", *FIVE_WORKER_ROLES)
    assert set(WORKER_ROLES) | {"grid_head", "volunteer", "building_chief", "party_secretary"} == set(ROLES)
    assert set(ROLE_ZH) == set(ROLES)


def test_agencies_are_one_tuple() -> None:
    assert Targets().agencies == ENFORCEMENT_AGENCIES == tuple(AGENCY_ZH)
    assert tuple(officers_for({}, "c1")) == ENFORCEMENT_AGENCIES


def test_one_violation_record() -> None:
    """Partition and staffing report rules that gave way with the same record."""
    import gridmap.assign
    import gridmap.partition
    from gridmap.violations import Violation

    assert gridmap.partition.Violation is gridmap.assign.Violation is Violation
