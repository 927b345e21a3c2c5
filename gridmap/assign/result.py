"""The result of a staffing run: tables and report (the rule check: :mod:`gridmap.assign.check`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from gridmap.assign.targets import Targets

GAP_KINDS = (
    "uncovered_compound",  # no officer of an agency in the community nor the street
    "officer_overloaded",  # more compounds than compounds_per_officer max
    "grid_without_head",  # nobody in the community's roster is a grid head
    "role_unfilled",  # nobody in the community's roster has a worker role
    "street_fallback",  # an agency's compounds covered by the street's pool
)
GAP_COLUMNS = (
    "kind", "community_code", "street_code", "compound_id", "grid_code", "staff_id", "agency", "role", "detail",
)
POST_COLUMNS = ("staff_id", "role", "grid_code", "building_id", "community_code")
LINK_COLUMNS = ("staff_id", "agency", "compound_id", "community_code", "street_fallback")
ORG_COLUMNS = (
    "id",
    "name",
    "level",
    "parent_id",
    "street_code",
    "community_code",
    "grid_code",
    "building_id",
    "secretary_staff_id",
    "generated",
)


def gap(kind: str, detail: str, **refs: object) -> dict:
    """One gap record; refs name the community, compound, grid, staff, agency or role."""
    if kind not in GAP_KINDS:
        raise ValueError(f"unknown gap kind {kind!r}; allowed: {GAP_KINDS}")
    row = {c: None for c in GAP_COLUMNS}
    row.update(refs, kind=kind, detail=detail)
    return row


def frame(rows: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    """DataFrame with exactly ``columns``, also when ``rows`` is empty."""
    return pd.DataFrame(rows, columns=list(columns)).astype(object).where(lambda f: f.notna(), None)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass
class Assignment:
    """Party organisations, grid posts, officer links and gaps of one staffing run.

    ``compounds``, ``grids`` and ``staff`` are the tidy inputs the run saw,
    kept so that :func:`gridmap.assign.check.validate` and :meth:`report` need nothing else.
    """

    party_orgs: pd.DataFrame = field(default_factory=lambda: _empty(ORG_COLUMNS))
    posts: pd.DataFrame = field(default_factory=lambda: _empty(POST_COLUMNS))
    officer_links: pd.DataFrame = field(default_factory=lambda: _empty(LINK_COLUMNS))
    gaps: pd.DataFrame = field(default_factory=lambda: _empty(GAP_COLUMNS))
    compounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    grids: pd.DataFrame = field(default_factory=pd.DataFrame)
    staff: pd.DataFrame = field(default_factory=pd.DataFrame)
    targets: Targets = field(default_factory=Targets)

    def gaps_of(self, kind: str) -> pd.DataFrame:
        """The gaps of one kind."""
        return self.gaps[self.gaps["kind"] == kind]

    def grids_without_head(self) -> list[str]:
        """Codes of the grids no open grid-head post names (reported as a gap or not)."""
        if self.grids.empty:
            return []
        posts = self.posts
        headed = set(posts.loc[posts["role"] == "grid_head", "grid_code"]) if len(posts) else set()
        return [str(c) for c in self.grids["code"] if c not in headed]

    def report(self) -> dict:
        """Counts in the style of the source reports (大工委, 大党委, 网格党支部, 1+5+N, 5–6 compounds)."""
        level = self.party_orgs["level"].value_counts()
        loads = self._officer_loads()
        return {
            "grids": len(self.grids),
            "compounds": len(self.compounds),
            "street_committees": int(level.get("street_committee", 0)),
            "community_committees": int(level.get("community_committee", 0)),
            "grid_branches": int(level.get("grid_branch", 0)),
            "building_groups": int(level.get("building_group", 0)),
            "staff_by_role": _counts(self.posts.drop_duplicates(["staff_id", "role"])["role"]),
            "officers_by_agency": {a: int((loads["agency"] == a).sum()) for a in self.targets.agencies},
            "households_per_officer": {
                a: _stats(loads.loc[loads["agency"] == a, "households"]) for a in self.targets.agencies
            },
            "compounds_per_officer": _stats(loads["compounds"]),
            "uncovered_compounds": int(self.gaps_of("uncovered_compound")["compound_id"].nunique()),
            "overloaded_officers": int(self.gaps_of("officer_overloaded")["staff_id"].nunique()),
            "street_fallbacks": len(self.gaps_of("street_fallback")),
            # What the posts say, not the gaps of the last run: a plan never staffed has no gaps.
            "grids_without_head": len(self.grids_without_head()),
            "roles_unfilled": len(self.gaps_of("role_unfilled")),
            "grid_branches_without_secretary": int(
                (self.party_orgs["level"].eq("grid_branch") & self.party_orgs["secretary_staff_id"].isna()).sum()
            ),
            **self._officer_targets(),
        }

    def _officer_targets(self) -> dict:
        """Communities whose own roster of officers is outside officers_per_community."""
        low, high = self.targets.officers_per_community
        if self.compounds.empty:
            return {"communities_below_officer_target": 0, "communities_above_officer_target": 0}
        officers = self.staff[self.staff["agency"].isin(self.targets.agencies)]
        count = officers.groupby("community_code").size()
        per = self.compounds["community_code"].drop_duplicates().map(count).fillna(0)
        return {
            "communities_below_officer_target": int((per < low).sum()),
            "communities_above_officer_target": int((per > high).sum()),
        }

    def _officer_loads(self) -> pd.DataFrame:
        """staff_id, agency, compounds, households per linked officer."""
        if self.officer_links.empty:
            return pd.DataFrame({"staff_id": [], "agency": [], "compounds": [], "households": []})
        hh = self.compounds.set_index("id")["households"] if len(self.compounds) else pd.Series(dtype=float)
        links = self.officer_links.assign(households=self.officer_links["compound_id"].map(hh).fillna(0))
        return (
            links.groupby(["staff_id", "agency"])
            .agg(compounds=("compound_id", "size"), households=("households", "sum"))
            .reset_index()
        )


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _stats(values: pd.Series) -> dict:
    if len(values) == 0:
        return {"mean": 0.0, "min": 0, "max": 0}
    return {"mean": round(float(values.mean()), 2), "min": int(values.min()), "max": int(values.max())}
