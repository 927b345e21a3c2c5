"""Staffing rules as small functions: each returns the Violations it finds.

A rule that gave way is not a violation when the result reports it as a gap.
:func:`gridmap.assign.check.validate` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable

from gridmap.assign.result import Assignment
from gridmap.violations import Violation

#: A staffing rule: the violations it finds in a result.
Rule = Callable[[Assignment], list[Violation]]


def _reported(a: Assignment, kind: str, *keys: str) -> set[tuple]:
    g = a.gaps[a.gaps["kind"] == kind]
    return set(zip(*(g[k] for k in keys))) if len(g) else set()


def compound_covered(a: Assignment) -> list[Violation]:
    """属地兜底: every compound has exactly one officer per agency, or is reported uncovered."""
    counts = a.officer_links.groupby(["compound_id", "agency"]).size() if len(a.officer_links) else {}
    uncovered = _reported(a, "uncovered_compound", "compound_id", "agency")
    out = []
    for cid in a.compounds["id"]:
        for agency in a.targets.agencies:
            n = int(counts.get((cid, agency), 0))
            if n > 1 or (n == 0 and (cid, agency) not in uncovered):
                out.append(Violation(rule="compound_covered", kind="duplicate" if n > 1 else "uncovered",
                                     detail=f"compound {cid} has {n} {agency} officers, need 1"))
    return out


def grid_headed(a: Assignment) -> list[Violation]:
    """Every grid has a grid head, or is reported without one."""
    posts = a.posts
    headed = set(posts.loc[posts["role"] == "grid_head", "grid_code"])
    reported = {g for (g,) in _reported(a, "grid_without_head", "grid_code")}
    return [
        Violation(rule="grid_headed", kind="unreported", grid_code=g,
                  detail=f"grid {g} has no grid head and none is reported")
        for g in a.grids["code"]
        if g not in headed and g not in reported
    ]


def officer_in_community(a: Assignment) -> list[Violation]:
    """An officer serves his own community's compounds, or his street's under a reported fallback."""
    staff = a.staff.set_index("id")
    comp = a.compounds.set_index("id")
    fallback = _reported(a, "street_fallback", "community_code", "agency")
    out = []
    for link in a.officer_links.itertuples():
        if link.staff_id not in staff.index or link.compound_id not in comp.index:
            out.append(Violation(rule="officer_in_community", kind="unknown_rows",
                                 detail=f"link {link.staff_id}→{link.compound_id} names unknown rows"))
            continue
        s, c = staff.loc[link.staff_id], comp.loc[link.compound_id]
        if s["agency"] != link.agency:
            out.append(Violation(rule="officer_in_community", kind="wrong_agency",
                                 detail=f"officer {link.staff_id} is {s['agency']}, linked as {link.agency}"))
        elif s["community_code"] == c["community_code"]:
            continue
        elif s["community_code"] == "" and s["street_code"] == c["street_code"] and (
            (c["community_code"], link.agency) in fallback
        ):
            continue
        else:
            home = s["community_code"] or f"(street {s['street_code']})"
            out.append(
                Violation(
                    rule="officer_in_community",
                    kind="other_community",
                    community_code=c["community_code"],
                    detail=f"officer {link.staff_id} of community {home} "
                    f"is linked to compound {link.compound_id} of community {c['community_code']}",
                )
            )
    return out


def overload_reported(a: Assignment) -> list[Violation]:
    """An officer over the compound limit is reported as overloaded."""
    limit = a.targets.compounds_per_officer[1]
    loads = a.officer_links.groupby(["staff_id", "agency"]).size() if len(a.officer_links) else {}
    reported = _reported(a, "officer_overloaded", "staff_id", "agency")
    return [
        Violation(rule="overload_reported", kind="unreported",
                  detail=f"officer {sid} ({agency}) has {n} compounds, limit {limit}, unreported")
        for (sid, agency), n in dict(loads).items()
        if n > limit and (sid, agency) not in reported
    ]


def post_in_community(a: Assignment) -> list[Violation]:
    """A grid post goes to someone on that grid's community roster."""
    staff = a.staff.set_index("id")["community_code"]
    grid = a.grids.set_index("code")["community_code"]
    posts = a.posts[a.posts["grid_code"].notna()]
    return [
        Violation(rule="post_in_community", kind="other_community", grid_code=p.grid_code,
                  detail=f"{p.role} {p.staff_id} posted to grid {p.grid_code} of another community")
        for p in posts.itertuples()
        if p.grid_code in grid.index and not post_stays_in_community(staff.get(p.staff_id), grid[p.grid_code])
    ]


RULES: tuple[Rule, ...] = (
    compound_covered,
    grid_headed,
    officer_in_community,
    overload_reported,
    post_in_community,
)


def post_stays_in_community(staff_community: str | None, grid_community: str) -> bool:
    """A grid post goes to someone on that grid's community roster (street-pool people, with no
    community, hold none). Written once: the engine's check above and storage's open_post use it."""
    return bool(staff_community) and staff_community == grid_community
