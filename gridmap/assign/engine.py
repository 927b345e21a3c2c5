"""assign_staff: the staffing engine's one entry point (validate → compute → assemble)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridmap.assign.inputs import (
    tidy_buildings,
    tidy_communities,
    tidy_compounds,
    tidy_grids,
    tidy_staff,
)
from gridmap.assign.officers import link_officers
from gridmap.assign.party import party_orgs as build_party_orgs
from gridmap.assign.posts import building_chiefs, fill_posts
from gridmap.assign.result import GAP_COLUMNS, LINK_COLUMNS, ORG_COLUMNS, POST_COLUMNS, Assignment, frame
from gridmap.assign.targets import Targets, Weights
from gridmap.errors import InvalidInput

#: Share of ``time_limit`` spent on officer links; the rest goes to sharing grid posts.
OFFICER_SHARE = 0.8


def assign_staff(
    grids: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    staff: pd.DataFrame,
    communities: pd.DataFrame,
    streets: pd.DataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    party_orgs: pd.DataFrame | None = None,
    targets: Targets = Targets(),
    current: Assignment | None = None,
    time_limit: float = 10.0,
    weights: Weights = Weights(),
) -> Assignment:
    """Staff every grid "1+5+N", build its party branch and link officers to compounds.

    ``time_limit`` (seconds) bounds the CP-SAT refinement over all solves; the
    min-cost-flow stage always runs, so coverage never depends on it. With
    ``current``, still-valid posts and links are kept unless moving them is
    worth more than ``weights.move_m`` metres.
    """
    if time_limit < 0:
        raise InvalidInput(f"time_limit={time_limit}: need >= 0 seconds")
    comm, st = tidy_communities(communities, streets)
    known = set(comm["code"])
    g = tidy_grids(grids, known)
    c = tidy_compounds(compounds, grids, buildings, known)
    street_of = dict(zip(comm["code"], comm["street_code"]))
    c["street_code"] = c["community_code"].map(street_of)
    _check_grid_codes(c, g)
    b = tidy_buildings(buildings, c)
    s = tidy_staff(staff)
    s.loc[s["street_code"] == "", "street_code"] = s["community_code"].map(street_of).fillna("")

    links, link_gaps = link_officers(
        c, s, targets=targets, weights=weights, current=None if current is None else current.officer_links,
        time_limit=time_limit * OFFICER_SHARE,
    )
    old_posts = None if current is None else current.posts
    posts, post_gaps = fill_posts(g, s, targets=targets, weights=weights, current=old_posts,
                                  time_limit=time_limit * (1 - OFFICER_SHARE))
    posts += building_chiefs(b, s, old_posts)
    posts += _officer_posts(links, posts, s)
    posts_frame = frame(posts, POST_COLUMNS)
    orgs = build_party_orgs(g, posts_frame, given=party_orgs, communities=comm, streets=st, staff=s, buildings=b)
    return Assignment(
        party_orgs=frame(orgs, ORG_COLUMNS),
        posts=posts_frame,
        officer_links=frame(links, LINK_COLUMNS),
        gaps=frame(post_gaps + link_gaps, GAP_COLUMNS),
        compounds=c.drop(columns=["x", "y"]),
        grids=g,
        staff=s,
        targets=targets,
    )


def _check_grid_codes(compounds: pd.DataFrame, grids: pd.DataFrame) -> None:
    """A compound's grid must exist and lie in the compound's community."""
    grid_comm = dict(zip(grids["code"], grids["community_code"]))
    bad = compounds[
        (compounds["grid_code"] != "") & (compounds["grid_code"].map(grid_comm) != compounds["community_code"])
    ]
    if len(bad):
        row = bad.iloc[0]
        raise InvalidInput(
            f"compound {row['id']} of community {row['community_code']} names grid {row['grid_code']}, "
            f"which is unknown or in another community ({len(bad)} such compounds)"
        )


def _officer_posts(links: list[dict], posts: list[dict], staff: pd.DataFrame) -> list[dict]:
    """A post without grid for each linked officer who holds no grid post (compound-only duty)."""
    posted = {p["staff_id"] for p in posts}
    role = dict(zip(staff["id"], staff["role"]))
    home = dict(zip(staff["id"], staff["community_code"]))
    linked = sorted({link["staff_id"] for link in links} - posted)
    return [
        {"staff_id": sid, "role": role[sid], "grid_code": None, "building_id": None, "community_code": home[sid] or None}
        for sid in linked
    ]
