"""Grid posts "1+5+N": a grid head, the five worker roles and N volunteers per grid.

Posts come from the community's own roster. With at least as many people of
a role as grids, every grid gets one and the rest go where households per
person are highest; with fewer, people serve several grids, shared by an
allocation that balances households (:mod:`gridmap.assign.allocate`). A
grid head short roster is shared the same way: 属地兜底 prefers a shared head
to a headless grid; only a community with no head at all is reported.
Current posts still valid are kept first (stability).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gridmap.assign.allocate import Budget, Problem, allocate
from gridmap.assign.result import gap
from gridmap.assign.targets import Targets, Weights

Held = dict[str, set[str]]  # staff_id -> grid codes held now


def fill_posts(
    grids: pd.DataFrame,
    staff: pd.DataFrame,
    *,
    targets: Targets,
    weights: Weights,
    current: pd.DataFrame | None,
    time_limit: float,
) -> tuple[list[dict], list[dict]]:
    """Posts (staff_id, role, grid_code, building_id, community_code) and gaps."""
    roles = ("grid_head", *targets.worker_roles)
    budget = Budget(time_limit, max(1, len(grids["community_code"].unique()) * len(roles)))
    posts: list[dict] = []
    gaps: list[dict] = []
    for community, cg in grids.groupby("community_code", sort=True):
        roster = staff[staff["community_code"] == community]
        for role in roles:
            people = list(roster.loc[roster["role"] == role, "id"])
            if not people:
                gaps += _unfilled(cg, role, community)
                continue
            held = _held(current, role)
            for sid, grid in _share(cg, people, held, weights=weights, seconds=budget.take()):
                posts.append(_post(sid, role, grid, community))
        volunteers = list(roster.loc[roster["role"] == "volunteer", "id"])
        for sid, grid in _spread(cg, volunteers, _held(current, "volunteer"), targets.volunteers_per_grid):
            posts.append(_post(sid, "volunteer", grid, community))
    return posts, gaps


def _post(sid: str, role: str, grid: str | None, community: str, *, building: str | None = None) -> dict:
    return {"staff_id": sid, "role": role, "grid_code": grid, "building_id": building, "community_code": community}


def _held(current: pd.DataFrame | None, role: str) -> Held:
    if current is None or current.empty:
        return {}
    rows = current[(current["role"] == role) & current["grid_code"].notna()]
    out: Held = {}
    for sid, grid in zip(rows["staff_id"].astype(str), rows["grid_code"].astype(str)):
        out.setdefault(sid, set()).add(grid)
    return out


def _unfilled(cg: pd.DataFrame, role: str, community: str) -> list[dict]:
    kind = "grid_without_head" if role == "grid_head" else "role_unfilled"
    return [
        gap(
            kind,
            f"grid {code} has no {role}: community {community} has nobody in that role for its {len(cg)} grids",
            community_code=community,
            grid_code=code,
            role=role,
        )
        for code in cg["code"]
    ]


def _share(cg: pd.DataFrame, people: list[str], held: Held, *, weights: Weights,
           seconds: float) -> list[tuple[str, str]]:
    """(staff_id, grid_code) pairs covering every grid with one or more of ``people``."""
    codes = list(cg["code"])
    if len(people) >= len(codes):
        return _one_each(cg, people, held)
    households = cg["households"].to_numpy(dtype=float)
    index = {sid: i for i, sid in enumerate(people)}
    now = np.array([next((index[s] for s in people if code in held.get(s, ())), -1) for code in codes])
    problem = Problem(
        xy=np.zeros((len(codes), 2)),
        households=households,
        holders=len(people),
        cap_min=len(codes) // len(people),
        cap_max=math.ceil(len(codes) / len(people)),
        current=now,
    )
    owner = allocate(problem, weights=weights, time_limit=seconds)
    return [(people[h], code) for code, h in zip(codes, owner)]


def _one_each(cg: pd.DataFrame, people: list[str], held: Held) -> list[tuple[str, str]]:
    """Enough people: one per grid (current holders first), extras where households per person peak."""
    order = cg.sort_values(["households", "code"], ascending=[False, True], kind="stable")
    households = dict(zip(order["code"], order["households"]))
    seats: dict[str, list[str]] = {code: [] for code in order["code"]}
    free = list(people)
    for sid in people:  # keep current posts, one person per grid
        grid = next((g for g in sorted(held.get(sid, ())) if g in seats and not seats[g]), None)
        if grid is not None:
            seats[grid].append(sid)
            free.remove(sid)
    for grid in seats:
        if not seats[grid]:
            seats[grid].append(free.pop(0))
    for sid in free:  # extras: keep a current grid, else the one with most households per person
        mine = [g for g in sorted(held.get(sid, ())) if g in seats]
        grid = mine[0] if mine else max(seats, key=lambda g: households[g] / len(seats[g]))
        seats[grid].append(sid)
    return [(sid, grid) for grid, ids in seats.items() for sid in ids]


def _spread(cg: pd.DataFrame, volunteers: list[str], held: Held, cap: int) -> list[tuple[str, str]]:
    """Up to ``cap`` volunteers per grid, to the grids with most households per volunteer."""
    if cap == 0 or not volunteers:
        return []
    households = dict(zip(cg["code"], cg["households"]))
    seats: dict[str, list[str]] = {code: [] for code in cg["code"]}
    free = []
    for sid in volunteers:
        grid = next((g for g in sorted(held.get(sid, ())) if g in seats and len(seats[g]) < cap), None)
        if grid is None:
            free.append(sid)
        else:
            seats[grid].append(sid)
    for sid in free:
        open_ = [g for g in seats if len(seats[g]) < cap]
        if not open_:
            break
        grid = max(open_, key=lambda g: (households[g] / (len(seats[g]) + 1), g))
        seats[grid].append(sid)
    return [(sid, grid) for grid, ids in seats.items() for sid in ids]


def building_chiefs(
    buildings: pd.DataFrame, staff: pd.DataFrame, current: pd.DataFrame | None
) -> list[dict]:
    """楼栋长 posts: the roster's building_id when it names a known building, else the
    current post, else the largest building of the community still without a chief."""
    chiefs = staff[staff["role"] == "building_chief"]
    by_id = buildings.set_index("id")
    before = {}
    if current is not None and len(current):
        rows = current[(current["role"] == "building_chief") & current["building_id"].notna()]
        before = dict(zip(rows["staff_id"].astype(str), rows["building_id"].astype(str)))
    taken: set[str] = set()
    posts, waiting = [], []
    for chief in chiefs.itertuples():
        want = chief.building_id or before.get(chief.id, "")
        b = by_id.loc[want] if want in by_id.index and want not in taken else None
        if b is not None and b["community_code"] == chief.community_code:
            taken.add(want)
            posts.append(_post(chief.id, "building_chief", b["grid_code"] or None, chief.community_code, building=want))
        else:
            waiting.append(chief)
    for chief in waiting:
        pool = buildings[(buildings["community_code"] == chief.community_code) & ~buildings["id"].isin(taken)]
        if pool.empty:
            continue
        b = pool.sort_values(["households", "id"], ascending=[False, True], kind="stable").iloc[0]
        taken.add(b["id"])
        posts.append(_post(chief.id, "building_chief", b["grid_code"] or None, chief.community_code,
                           building=b["id"]))
    return posts
