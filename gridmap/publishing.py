"""When a plan may be published (发布): the rules, as pure functions over what storage read.

A plan is published only when it is approved (submitted, then approved by an approver), every grid of its own has a grid head (网格长) and every rule
that gave way in it carries a proved reason; otherwise publishing is refused with the list,
unless forced with a recorded reason. Storage (:func:`gridmap.storage.plans.publish`) reads
the plan and applies these; nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: Why a rule gave way, when the reason is shown rather than merely asserted: the community is
#: too small, counting or adjacency rules out every split, an exhaustive search found none, a
#: unit over the maximum cannot be split, no compounds, a grid locked by the planner, a grid in
#: separate pieces because its community or compound is.
PROVED_KINDS = frozenset({"small_community", "small_piece", "counting", "stranded", "proved", "oversize_unit",
                          "no_compounds", "locked", "multipart",
                          # facts of the input, shown by its geometry and counts: the community's units in
                          # separate pieces, a compound over the maximum with one building (or all at one
                          # spot), a building alone over it, a building outside its compound where no grid
                          # of that compound can reach it, a compound drawn over another
                          "separate_pieces", "unsplittable_compound", "oversize_building", "building_off_compound",
                          "overlapping_compounds"})
#: Rules that never hold for a reason: grids that leave gaps or overlap, compounds in no grid, grids without area.
DEFECT_RULES = frozenset({"tiling", "membership", "non_empty"})
#: Stored reports written before violations had a ``kind`` say it in their text.
_UNPROVED_TEXT = ("not proved", "no feasible split found", "no reason recorded", "drawn by hand")
#: How many grids or violations an error message names before it only counts the rest.
LISTED = 10


@dataclass(frozen=True)
class GridRef:
    """A grid as a planner recognises it."""

    code: str
    name: str


@dataclass(frozen=True)
class Readiness:
    """What stands in the way of publishing a plan (empty lists: nothing)."""

    plan: str
    grids_without_head: list[GridRef] = field(default_factory=list)
    unproved: list[dict] = field(default_factory=list)
    scope: tuple[str, str] | None = None  # where the plan was drawn, e.g. ('street', '320214053')
    review: str | None = "approved"  # the plan's review state; only an approved plan is published

    @property
    def approved(self) -> bool:
        return self.review == "approved"

    @property
    def ready(self) -> bool:
        return not self.grids_without_head and not self.unproved and self.approved

    def record(self, *, limit: int = LISTED) -> dict:
        """A JSON summary (counts and the first ``limit`` of each) for the generation's record."""
        return {"grids_without_head": len(self.grids_without_head),
                "grids_without_head_listed": [vars(g) for g in self.grids_without_head[:limit]],
                "unproved_violations": len(self.unproved),
                "unproved_listed": [_violation_ref(v) for v in self.unproved[:limit]],
                "review": self.review}


def is_proved(violation: dict) -> bool:
    """Whether a stored violation (the partition report's JSON) carries a proved reason."""
    if violation.get("rule") in DEFECT_RULES:
        return False
    kind = violation.get("kind")
    if kind:
        return kind in PROVED_KINDS
    detail = str(violation.get("detail") or "")
    return not any(text in detail for text in _UNPROVED_TEXT)


def unproved(violations: Iterable[dict]) -> list[dict]:
    """The violations that carry no proved reason, in their order."""
    return [v for v in violations if not is_proved(v)]


def refusal(readiness: Readiness, *, limit: int = LISTED) -> str:
    """The planner's message: what is missing, the first ``limit`` of each, how to go on."""
    parts = [f"方案 {readiness.plan} 不能发布 (plan {readiness.plan!r} cannot be published):"]
    if not readiness.approved:
        state = {"submitted": "已提交，待审批 (submitted, awaiting approval)",
                 "rejected": "已被驳回 (rejected)"}.get(readiness.review or "", "未提交审批 (not submitted for approval)")
        parts.append(f"方案未经审批 (the plan is not approved): {state}; "
                     f"gridmap plan submit {readiness.plan}, then an approver: gridmap plan approve {readiness.plan}.")
    missing = readiness.grids_without_head
    if missing:
        named = "; ".join(f"{g.code} {g.name}" for g in missing[:limit])
        more = f" … 另有 {len(missing) - limit} 个 (and {len(missing) - limit} more)" if len(missing) > limit else ""
        where = f"--{readiness.scope[0]} {readiness.scope[1]}" if readiness.scope else "--street CODE"
        parts.append(f"{len(missing)} 个网格没有网格长 ({len(missing)} grids without a grid head): {named}{more}; "
                     f"先配备人员 (staff it first): gridmap assign --plan {readiness.plan} {where}.")
    bad = readiness.unproved
    if bad:
        named = "; ".join(_violation_text(v) for v in bad[:limit])
        more = f" … 另有 {len(bad) - limit} 条 (and {len(bad) - limit} more)" if len(bad) > limit else ""
        parts.append(f"{len(bad)} 条规则违反没有经过证明的原因 ({len(bad)} violations without a proved reason): "
                     f"{named}{more}; 见 (see) gridmap plans {readiness.plan}.")
    parts.append("确需发布时请写明原因 (to publish anyway): --force --reason TEXT.")
    return " ".join(parts)


def _violation_ref(v: dict) -> dict:
    return {k: v.get(k) for k in ("rule", "kind", "community_code", "grid_code", "detail")}


def _violation_text(v: dict) -> str:
    where = v.get("grid_code") or v.get("community_code") or ""
    return f"{v.get('rule')} {where}: {v.get('detail')}".strip()
