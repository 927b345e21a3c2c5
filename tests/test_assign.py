"""The staffing engine (gridmap.assign) on hand-built lattices of boxes; no database.

A community is a lattice of square compounds (0.001° ≈ 100 m) cut into
vertical strips of grids, communities side by side west→east::

    community 1                 community 2
    +--+--+--+--+--+--+         +--+--+ ...
    |c |c |c |c |c |c |         |  |  |
    +--+--+--+--+--+--+         +--+--+
    |c |c |c |c |c |c |          ...
    +--+--+--+--+--+--+
    | grid 1 | grid 2 | ...
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from gridmap.assign import GAP_KINDS, Assignment, Targets, assign_staff, validate
from gridmap.errors import InvalidInput

STREET = "341002001"
CELL = 0.001
AGENCY_ROLE = {"police": "community_police", "urban_management": "urban_management", "market_regulation": "market_regulation"}


def community_code(i: int) -> str:
    return f"{STREET}{i + 1:03d}"


def district(
    n: int = 1,
    rows: int = 5,
    cols: int = 6,
    strips: int = 2,
    rng: np.random.Generator | None = None,
    street_of: dict[int, str] | None = None,
) -> dict:
    """n communities of rows×cols compounds in ``strips`` grids each, plus communities and streets."""
    comms, grids, comps, buildings = [], [], [], []
    for i in range(n):
        code = community_code(i)
        street = (street_of or {}).get(i, STREET)
        comms.append({"code": code, "name": f"新光{i + 1}社区", "street_code": street})
        x0, y0 = 118.30 + i * (cols + 2) * CELL, 29.70
        width = -(-cols // strips)
        for s in range(strips):
            c0, c1 = s * width, min(cols, (s + 1) * width)
            if c0 >= c1:
                continue
            gcode = f"{code}{s + 1:03d}"
            hh_total = 0
            for r in range(rows):
                for c in range(c0, c1):
                    hh = int(rng.integers(40, 160)) if rng is not None else 100
                    hh_total += hh
                    cid = f"{code}-{r}-{c}"
                    geom = box(x0 + c * CELL, y0 + r * CELL, x0 + (c + 1) * CELL, y0 + (r + 1) * CELL)
                    comps.append(
                        {"id": cid, "name": f"小区{r}{c}", "community_code": code, "households": hh, "grid_code": gcode, "geometry": geom}
                    )
                    buildings.append(
                        {"id": f"B{cid}", "compound_id": cid, "households": hh, "geometry": geom.centroid, "name": "1栋"}
                    )
            geom = box(x0 + c0 * CELL, y0, x0 + c1 * CELL, y0 + rows * CELL)
            grids.append({"code": gcode, "name": f"新光{i + 1}社区第{s + 1}网格", "community_code": code, "households": hh_total, "geometry": geom})
    streets = sorted({c["street_code"] for c in comms})
    return {
        "grids": gpd.GeoDataFrame(grids, crs=4490),
        "compounds": gpd.GeoDataFrame(comps, crs=4490),
        "buildings": gpd.GeoDataFrame(buildings, crs=4490),
        "communities": pd.DataFrame(comms),
        "streets": pd.DataFrame({"code": streets, "name": [f"街道{s[-3:]}" for s in streets]}),
    }


def people(community: str, officers: dict[str, int] | None = None, heads: int = 2, workers: int = 1,
           volunteers: int = 0, chiefs: int = 0, street: str = STREET, prefix: str = "") -> list[dict]:
    """A community roster; community '' makes a street pool."""
    tag = prefix or (community[-3:] if community else "ST")
    rows = []

    def add(role: str, agency: str | None, k: int) -> None:
        for j in range(k):
            rows.append({"id": f"S{tag}-{role[:4]}-{agency or ''}-{j}", "name": f"{role}{j}", "role": role, "agency": agency,
                         "phone": "13800000000", "phone_public": False, "community_code": community or None, "street_code": street})

    for agency, k in (officers or {}).items():
        add(AGENCY_ROLE[agency], agency, k)
    if community:
        add("grid_head", None, heads)
        for role in ("community_worker", "sanitation"):
            add(role, None, workers)
        add("volunteer", None, volunteers)
        add("building_chief", None, chiefs)
    return rows


def run(d: dict, staff: list[dict], **kw) -> Assignment:
    return assign_staff(d["grids"], d["compounds"], pd.DataFrame(staff), d["communities"], d["streets"],
                        buildings=d.get("buildings"), **kw)


FULL = {"police": 5, "urban_management": 5, "market_regulation": 5}


def test_full_roster_meets_every_rule() -> None:
    """30 compounds, 5 officers per agency: everyone holds 6, every compound covered, no gaps."""
    d = district(rng=np.random.default_rng(7))
    result = run(d, people(community_code(0), FULL, volunteers=4, chiefs=3))
    assert validate(result) == []
    assert result.gaps.empty
    loads = result.officer_links.groupby(["staff_id", "agency"]).size()
    assert loads.between(5, 6).all() and len(loads) == 15
    assert len(result.officer_links) == 30 * 3
    per = result.officer_links.groupby(["compound_id", "agency"]).size()
    assert (per == 1).all() and len(per) == 90
    report = result.report()
    assert report["uncovered_compounds"] == 0 and report["overloaded_officers"] == 0
    assert report["officers_by_agency"] == {"police": 5, "urban_management": 5, "market_regulation": 5}
    assert report["compounds_per_officer"] == {"mean": 6.0, "min": 6, "max": 6}
    assert report["grid_branches"] == 2 and report["community_committees"] == 1 and report["street_committees"] == 1
    assert report["building_groups"] == 3
    assert report["staff_by_role"]["grid_head"] == 2 and report["staff_by_role"]["volunteer"] == 4


def test_officers_get_compact_areas() -> None:
    """Six officers on a 6×5 lattice: each officer's compounds lie close together (≤ ~3 cells across)."""
    d = district(rows=5, cols=6)
    result = run(d, people(community_code(0), {"police": 5}))
    comps = d["compounds"].set_index("id").to_crs(4547)
    for _, group in result.officer_links.groupby("staff_id"):
        pts = comps.loc[group["compound_id"]].geometry.centroid
        span = max(pts.x.max() - pts.x.min(), pts.y.max() - pts.y.min())
        assert span <= 350, f"officer area spans {span:.0f} m"


def test_one_post_per_grid_and_party_branch() -> None:
    """1+5+N: a head and five worker roles on each grid; a branch per grid led by its head."""
    d = district(strips=3)
    result = run(d, people(community_code(0), FULL, heads=3, workers=1, volunteers=10))
    posts = result.posts[result.posts["grid_code"].notna()]
    for grid in d["grids"]["code"]:
        roles = set(posts.loc[posts["grid_code"] == grid, "role"])
        assert {"grid_head", *Targets().worker_roles} <= roles
        assert (posts.loc[(posts["grid_code"] == grid), "role"] == "volunteer").sum() <= 3
    branches = result.party_orgs[result.party_orgs["level"] == "grid_branch"].set_index("grid_code")
    heads = posts[posts["role"] == "grid_head"].set_index("grid_code")["staff_id"]
    assert (branches.loc[heads.index, "secretary_staff_id"] == heads).all()
    assert branches.loc[f"{community_code(0)}001", "name"] == "新光1社区第1网格党支部"
    assert set(branches["parent_id"]) == {f"CC-{community_code(0)}"}


def test_existing_committees_are_used() -> None:
    """Given 大工委 and 大党委 are kept and become the parents; nothing is generated for them."""
    d = district()
    orgs = pd.DataFrame([
        {"id": "P1", "name": "街道大工委", "level": "street_committee", "parent_id": None, "street_code": STREET, "community_code": None},
        {"id": "P2", "name": "新光社区大党委", "level": "community_committee", "parent_id": "P1", "street_code": STREET,
         "community_code": community_code(0), "secretary_staff_id": "X9"},
    ])
    result = run(d, people(community_code(0), FULL), party_orgs=orgs)
    org = result.party_orgs.set_index("id")
    assert not org.loc["P2", "generated"] and org.loc["P2", "secretary_staff_id"] == "X9"
    assert set(org.loc[org["level"] == "grid_branch", "parent_id"]) == {"P2"}
    assert len(org) == 4


def test_small_roster_overloads_are_named() -> None:
    """14 compounds, 2 police officers (limit 6): both hold 7, each named with the numbers."""
    d = district(rows=2, cols=7)
    result = run(d, people(community_code(0), {"police": 2, "urban_management": 3, "market_regulation": 3}))
    assert validate(result) == []
    over = result.gaps_of("officer_overloaded")
    assert len(over) == 2 and set(over["agency"]) == {"police"}
    for detail in over["detail"]:
        assert "has 7 compounds, limit 6" in detail
    police = result.officer_links[result.officer_links["agency"] == "police"].groupby("staff_id").size()
    assert sorted(police) == [7, 7]
    assert result.report()["overloaded_officers"] == 2


def test_agency_missing_falls_back_to_street() -> None:
    """No market regulator in community 1: the street's one covers its compounds, reported."""
    d = district(n=2, rows=2, cols=3)
    staff = people(community_code(0), {"police": 1, "urban_management": 1})
    staff += people(community_code(1), FULL)
    staff += people("", {"market_regulation": 1})
    result = run(d, staff)
    assert validate(result) == []
    fb = result.gaps_of("street_fallback")
    assert list(zip(fb["community_code"], fb["agency"])) == [(community_code(0), "market_regulation")]
    links = result.officer_links
    street_links = links[links["street_fallback"].astype(bool)]
    assert len(street_links) == 6 and set(street_links["staff_id"]) == {"SST-mark-market_regulation-0"}
    assert result.gaps_of("uncovered_compound").empty


def test_agency_missing_at_street_too_is_uncovered() -> None:
    """No market regulator in community 1 nor its street: its 6 compounds are reported uncovered."""
    d = district(n=2, rows=2, cols=3)
    staff = people(community_code(0), {"police": 1, "urban_management": 1})
    staff += people(community_code(1), FULL)
    staff += people("", {"market_regulation": 1}, street="341002099")  # another street's pool
    result = run(d, staff)
    assert validate(result) == []
    unc = result.gaps_of("uncovered_compound")
    expected = sorted(d["compounds"].loc[d["compounds"]["community_code"] == community_code(0), "id"])
    assert sorted(unc["compound_id"]) == expected and set(unc["agency"]) == {"market_regulation"}
    assert "none in community 341002001001 nor street 341002001" in unc["detail"].iloc[0]
    assert result.report()["uncovered_compounds"] == 6
    assert result.gaps_of("street_fallback").empty


def test_missing_roles_are_reported() -> None:
    """No grid head and no sanitation worker: every grid reported for both; validate accepts it."""
    d = district()
    staff = [p for p in people(community_code(0), FULL) if p["role"] not in ("grid_head", "sanitation")]
    result = run(d, staff)
    assert validate(result) == []
    assert sorted(result.gaps_of("grid_without_head")["grid_code"]) == sorted(d["grids"]["code"])
    assert set(result.gaps_of("role_unfilled")["role"]) == {"sanitation"}
    assert set(result.gaps["kind"]) <= set(GAP_KINDS)
    branches = result.party_orgs[result.party_orgs["level"] == "grid_branch"]
    assert branches["secretary_staff_id"].isna().all()


def test_short_roster_shares_grids_balanced() -> None:
    """Four grids, two community workers: each serves two grids; households roughly even."""
    d = district(rows=2, cols=8, strips=4, rng=np.random.default_rng(3))
    result = run(d, people(community_code(0), FULL, heads=1, workers=2))
    posts = result.posts[result.posts["role"] == "community_worker"]
    assert sorted(posts.groupby("staff_id").size()) == [2, 2]
    assert result.posts.loc[result.posts["role"] == "grid_head", "grid_code"].nunique() == 4
    assert validate(result) == []


def test_validate_catches_broken_results() -> None:
    """Dropping a link, or linking an officer across communities, is a violation."""
    d = district(n=2, rows=2, cols=3)
    result = run(d, people(community_code(0), FULL) + people(community_code(1), FULL))
    broken = replace(result, officer_links=result.officer_links.iloc[1:])
    assert [v.rule for v in validate(broken)] == ["compound_covered"]
    links = result.officer_links.copy()
    other = links.loc[links["community_code"] == community_code(1), "compound_id"].iloc[0]
    links.loc[links.index[0], "compound_id"] = other
    rules = {v.rule for v in validate(replace(result, officer_links=links))}
    assert {"compound_covered", "officer_in_community"} <= rules


def test_stability_keeps_valid_links() -> None:
    """Rerun after one officer leaves and one compound is removed: other links stay put."""
    d = district(rows=5, cols=6, rng=np.random.default_rng(11))
    staff = people(community_code(0), FULL, volunteers=3)
    first = run(d, staff)
    gone_officer = "S001-comm-police-0"
    gone_compound = d["compounds"]["id"].iloc[0]
    d2 = dict(d, compounds=d["compounds"][d["compounds"]["id"] != gone_compound])
    d2["buildings"] = d["buildings"][d["buildings"]["compound_id"] != gone_compound]
    staff2 = [p for p in staff if p["id"] != gone_officer]
    second = run(d2, staff2, current=first)
    key = ["staff_id", "agency", "compound_id"]
    valid = first.officer_links[(first.officer_links["staff_id"] != gone_officer) & (first.officer_links["compound_id"] != gone_compound)]
    kept = valid.merge(second.officer_links, on=key)
    assert len(kept) == len(valid), f"kept {len(kept)} of {len(valid)} still-valid links"
    assert validate(second) == []
    heads = lambda r: set(map(tuple, r.posts.loc[r.posts["role"] == "grid_head", ["staff_id", "grid_code"]].to_numpy()))
    assert heads(first) == heads(second)


def test_stability_against_a_shifted_roster() -> None:
    """A new officer joins: most links stay, and the newcomer takes a share."""
    d = district(rows=5, cols=6, rng=np.random.default_rng(5))
    staff = people(community_code(0), {"police": 4, "urban_management": 5, "market_regulation": 5})
    first = run(d, staff)
    staff2 = staff + people(community_code(0), {"police": 1}, heads=0, workers=0, prefix="new")
    second = run(d, staff2, current=first)
    police = lambda r: r.officer_links[r.officer_links["agency"] == "police"]
    kept = police(first).merge(police(second), on=["staff_id", "compound_id"])
    assert len(kept) >= 30 - 6 - 2  # the newcomer takes one load (6); few others move
    assert (police(second)["staff_id"] == "Snew-comm-police-0").sum() >= 5
    assert second.gaps_of("officer_overloaded").empty
    fresh = run(d, staff2)  # same roster, no memory: more links move
    assert len(kept) > len(police(first).merge(police(fresh), on=["staff_id", "compound_id"]))


def test_secretary_follows_the_roster() -> None:
    """A head recorded as no party member is not secretary; a named party_secretary wins."""
    d = district(strips=2)
    staff = pd.DataFrame(people(community_code(0), FULL, volunteers=2))
    staff["party_member"] = None
    heads = staff.index[staff["role"] == "grid_head"]
    staff.loc[heads, "party_member"] = False
    staff.loc[staff["role"] == "community_worker", "party_member"] = True
    named = {"id": "SEC", "name": "书记", "role": "party_secretary", "agency": None, "phone": "", "phone_public": False,
             "community_code": community_code(0), "street_code": STREET, "grid_code": f"{community_code(0)}002", "party_member": True}
    staff = pd.concat([staff, pd.DataFrame([named])], ignore_index=True)
    result = run(d, staff.to_dict("records"))
    sec = result.party_orgs.set_index("grid_code")["secretary_staff_id"]
    assert sec[f"{community_code(0)}001"] == "S001-comm--0"
    assert sec[f"{community_code(0)}002"] == "SEC"


def test_officer_without_grid_post_is_listed() -> None:
    """An officer whose role is not a grid post still appears in posts, with no grid."""
    d = district(rows=2, cols=3)
    staff = people(community_code(0), FULL)
    staff[0] = dict(staff[0], role="grid_worker")
    result = run(d, staff)
    row = result.posts[result.posts["staff_id"] == staff[0]["id"]]
    assert len(row) == 1 and row["grid_code"].iloc[0] is None and row["role"].iloc[0] == "grid_worker"


def test_grid_code_derived_from_buildings() -> None:
    """Without grid_code, a compound belongs to the grid holding most of its households."""
    d = district(rows=2, cols=4)
    comps = d["compounds"].drop(columns="grid_code")
    result = assign_staff(d["grids"], comps, pd.DataFrame(people(community_code(0), FULL)), d["communities"], d["streets"],
                          buildings=d["buildings"])
    expected = d["compounds"].set_index("id")["grid_code"]
    got = result.compounds.set_index("id")["grid_code"]
    assert (got.loc[expected.index] == expected).all()


def test_bad_input_is_named() -> None:
    d = district()
    with pytest.raises(InvalidInput, match="unknown values"):
        run(d, [dict(people(community_code(0), FULL)[0], role="boss")])
    with pytest.raises(InvalidInput, match="no CRS"):
        assign_staff(d["grids"], d["compounds"].set_crs(None, allow_override=True), pd.DataFrame(people(community_code(0), FULL)),
                     d["communities"], d["streets"])
    with pytest.raises(InvalidInput, match="compounds_per_officer"):
        Targets(compounds_per_officer=(7, 6))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 6),
    police=st.integers(0, 4),
    street_police=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_coverage_invariant(rows: int, cols: int, police: int, street_police: int, seed: int) -> None:
    """Any roster: every compound has one officer per agency or a named gap; validate is clean."""
    d = district(rows=rows, cols=cols, strips=2, rng=np.random.default_rng(seed))
    staff = people(community_code(0), {"police": police, "urban_management": 1})
    staff += people("", {"police": street_police})
    result = run(d, staff, time_limit=0.5)
    assert validate(result) == []
    n = rows * cols
    limit = Targets().compounds_per_officer[1]
    assert len(result.gaps_of("uncovered_compound")) == n * (1 + (police == 0 and street_police == 0))
    for sid, k in result.officer_links.groupby("staff_id").size().items():
        overloaded = sid in set(result.gaps_of("officer_overloaded")["staff_id"])
        assert overloaded == (k > limit)


def test_many_communities_run() -> None:
    """Performance sanity: 120 communities × 60 compounds (no timing assertion)."""
    rng = np.random.default_rng(2024)
    d = district(n=120, rows=6, cols=10, strips=3, rng=rng)
    staff = []
    for i in range(120):
        k = int(rng.integers(2, 6))
        staff += people(community_code(i), {"police": k, "urban_management": 4, "market_regulation": 3 if i % 10 else 0},
                        heads=3, workers=2, volunteers=4)
    staff += people("", {"market_regulation": 3})
    result = run(d, staff, time_limit=10.0)
    assert validate(result) == []
    assert len(result.officer_links) == 120 * 60 * 3
    report = result.report()
    assert report["grid_branches"] == 360 and report["uncovered_compounds"] == 0
    assert report["street_fallbacks"] == 12


def test_same_input_same_answer() -> None:
    """The solve is deterministic (one CP-SAT worker, deterministic time limit)."""
    d = district(rows=6, cols=10, strips=3, rng=np.random.default_rng(1))
    staff = people(community_code(0), {"police": 10, "urban_management": 11, "market_regulation": 12}, heads=2)
    a, b = run(d, staff), run(d, staff)
    assert a.officer_links.equals(b.officer_links) and a.posts.equals(b.posts)
    assert a.report()["compounds_per_officer"]["max"] <= 6
