"""Party organisations: 大工委 → 大党委 → 网格党支部 → 楼栋党小组 ("支部建在网格上").

Street and community committees are taken from ``party_orgs``; one missing
for a street or community that has grids is generated (``generated`` True,
ids 'SC-'/'CC-' + code). Every grid gets a branch 'PB-' + grid code whose
secretary is the roster's party_secretary for that grid (staff.grid_code),
else the grid's head unless staff.party_member says he is not a member, else
the first party member posted on the grid, else nobody (reported by count). Every building with a chief gets a party group
'BG-' + building id under its grid's branch, led by the chief.
"""

from __future__ import annotations

import pandas as pd

from gridmap.assign.inputs import code, require


def party_orgs(
    grids: pd.DataFrame,
    posts: pd.DataFrame,
    *,
    given: pd.DataFrame | None,
    communities: pd.DataFrame,
    streets: pd.DataFrame,
    staff: pd.DataFrame,
    buildings: pd.DataFrame,
) -> list[dict]:
    """All party organisations of ``grids`` and their ``posts`` as rows (see the module
    docstring); ``given``: the roster's committees."""
    orgs = _existing(given)
    street_of = dict(zip(communities["code"], communities["street_code"]))
    used = sorted(set(grids["community_code"]))
    streets_used = sorted({street_of[c] for c in used})
    sc = _committees(orgs, "street_committee", "street_code", streets_used)
    for street in streets_used:
        if street not in sc:
            name = dict(zip(streets["code"], streets["name"])).get(street, street)
            sc[street] = _org(f"SC-{street}", f"{name}大工委", "street_committee", parent=None, street=street,
                              community=None, generated=True)
            orgs.append(sc[street])
    cc = _committees(orgs, "community_committee", "community_code", used)
    names = dict(zip(communities["code"], communities["name"]))
    for community in used:
        if community not in cc:
            parent = sc[street_of[community]]["id"]
            cc[community] = _org(
                f"CC-{community}", f"{names[community]}大党委", "community_committee", parent=parent,
                street=street_of[community], community=community, generated=True,
            )
            orgs.append(cc[community])
    branches = _branches(grids, cc=cc, street_of=street_of, names=names, staff=staff, posts=posts)
    return orgs + branches + _groups(posts, buildings, street_of)


def _org(
    oid: str,
    name: str,
    level: str,
    *,
    parent: str | None,
    street: str | None,
    community: str | None,
    grid: str | None = None,
    building: str | None = None,
    secretary: str | None = None,
    generated: bool = False,
) -> dict:
    return {
        "id": oid,
        "name": name,
        "level": level,
        "parent_id": parent,
        "street_code": street,
        "community_code": community,
        "grid_code": grid,
        "building_id": building,
        "secretary_staff_id": secretary,
        "generated": generated,
    }


def _existing(given: pd.DataFrame | None) -> list[dict]:
    """The given street and community committees (older branches and groups are rebuilt)."""
    if given is None or given.empty:
        return []
    require(given, "party_orgs", ("id", "name", "level", "parent_id", "street_code", "community_code"))
    keep = given[given["level"].isin(("street_committee", "community_committee"))]
    out = []
    for row in keep.itertuples():
        secretary = getattr(row, "secretary_staff_id", None)
        out.append(
            _org(
                str(row.id), str(row.name), row.level, parent=_text(row.parent_id), street=_text(row.street_code),
                community=_text(row.community_code), secretary=_text(secretary),
            )
        )
    return out


def _text(value: object) -> str | None:
    text = code(pd.Series([value])).iloc[0]
    return text or None


def _committees(orgs: list[dict], level: str, key: str, wanted: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for org in orgs:
        if org["level"] == level and org[key] in wanted and org[key] not in out:
            out[org[key]] = org
    return out


def _branches(
    grids: pd.DataFrame,
    *,
    cc: dict[str, dict],
    street_of: dict[str, str],
    names: dict[str, str],
    staff: pd.DataFrame,
    posts: pd.DataFrame,
) -> list[dict]:
    """One 网格党支部 per grid."""
    chosen = _secretaries(staff, posts)
    out = []
    for grid in grids.itertuples():
        label = grid.name or f"{names[grid.community_code]}第{int(grid.code[-3:])}网格"
        out.append(
            _org(
                f"PB-{grid.code}", f"{label}党支部", "grid_branch", parent=cc[grid.community_code]["id"],
                street=street_of[grid.community_code], community=grid.community_code, grid=grid.code,
                secretary=chosen.get(grid.code), generated=True,
            )
        )
    return out


def _secretaries(staff: pd.DataFrame, posts: pd.DataFrame) -> dict[str, str]:
    """Branch secretary per grid: the roster's party_secretary for the grid, else the grid
    head unless the roster says he is not a party member, else the first party member
    posted on the grid (head, then worker roles, then volunteers)."""
    member = dict(zip(staff["id"], staff["party_member"]))
    out: dict[str, str] = {}
    rank = {"grid_head": 0, "volunteer": 2}
    ordered = posts[posts["grid_code"].notna()].assign(rank=lambda p: p["role"].map(rank).fillna(1))
    for grid, group in ordered.sort_values(["rank", "staff_id"], kind="stable").groupby("grid_code", sort=False):
        for post in group.itertuples():
            if member.get(post.staff_id) is True or (post.role == "grid_head" and member.get(post.staff_id) is None):
                out[grid] = post.staff_id
                break
    named = staff[(staff["role"] == "party_secretary") & (staff["grid_code"] != "")]
    out.update(zip(named["grid_code"], named["id"]))
    return out


def _groups(posts: pd.DataFrame, buildings: pd.DataFrame, street_of: dict[str, str]) -> list[dict]:
    """One 楼栋党小组 per building with a chief, under the branch of its grid."""
    chiefs = posts[(posts["role"] == "building_chief") & posts["building_id"].notna() & posts["grid_code"].notna()]
    names = dict(zip(buildings["id"], buildings["name"]))
    out = []
    for post in chiefs.drop_duplicates("building_id").itertuples():
        out.append(
            _org(
                f"BG-{post.building_id}", f"{names.get(post.building_id, post.building_id)}党小组", "building_group",
                parent=f"PB-{post.grid_code}", street=street_of.get(post.community_code),
                community=post.community_code,
                grid=post.grid_code, building=post.building_id, secretary=post.staff_id, generated=True,
            )
        )
    return out
