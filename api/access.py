"""Who may see what, applied at the edge: drafts for planners, the officer roster for dispatchers.

The rules themselves are written once in :mod:`gridmap.coverage.privacy`; these helpers raise
:class:`~gridmap.errors.Forbidden` (403) for a route. Anonymous callers see the published plan and
public fields only.
"""

from __future__ import annotations

from sqlalchemy import Connection

from gridmap.coverage import privacy
from gridmap.domain import ROLE_RANK
from gridmap.errors import Forbidden
from gridmap.storage.plans import plan_status

__all__ = ["check_plan", "check_roster"]


def check_plan(conn: Connection, plan: str | None, role: str) -> None:
    """A named draft plan must be open to ``role`` (403); an unknown plan is left to the route's own
    answer (404 or 409)."""
    if plan is None:
        return
    status = plan_status(conn, plan)
    if status is not None and not privacy.may_see_plan(status, role):
        raise Forbidden(f"plan {plan!r} is a draft; drafts need the {privacy.DRAFTS_FROM} role "
                        "/ 草案仅对规划员开放")


def check_roster(role: str) -> None:
    """The officer roster needs the dispatcher role (403 otherwise)."""
    if ROLE_RANK.get(role, 0) < ROLE_RANK[privacy.ROSTER_FROM]:
        raise Forbidden(f"the officer roster needs the {privacy.ROSTER_FROM} role; you are {role} "
                        "/ 执法人员名册仅对调度员开放")
