"""Who may see a phone number (号码公开): the one rule every surface applies.

The public sees a person's phone only where the person made it public
(``phone_public``); dispatchers and every role above them see all phones.
The lookup answer, the batch rows, the map cards and popups and the
staffing routes all call :func:`may_see_phone`; nothing else decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gridmap.domain import ROLE_RANK

#: The lowest caller role that sees private phone numbers.
PRIVATE_PHONES_FROM = "dispatcher"
#: The lowest caller role that sees draft plans (their grids, staff, maps and reports).
DRAFTS_FROM = "planner"
#: The lowest caller role that sees the officer roster (every officer and his load, /maps/officers).
ROSTER_FROM = "dispatcher"


def may_see_plan(status: str, role: str) -> bool:
    """Whether a caller of ``role`` may see a plan of ``status``: published (and once-published) plans
    are public, drafts only from :data:`DRAFTS_FROM` up."""
    return status != "draft" or ROLE_RANK.get(role, 0) >= ROLE_RANK[DRAFTS_FROM]


def may_see_phone(person: Mapping[str, Any], role: str) -> bool:
    """Whether a caller of ``role`` may see ``person``'s phone number.

    A phone is public only when ``phone_public`` is a real boolean true (a
    string such as "false" or a missing flag is private); an unknown role is
    treated as the public.
    """
    public = person.get("phone_public")
    if isinstance(public, (bool, np.bool_)) and bool(public):
        return True
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[PRIVATE_PHONES_FROM]


def phone_for(person: Mapping[str, Any], role: str) -> str | None:
    """``person``'s phone as a caller of ``role`` may see it: the number, or None."""
    phone = person.get("phone")
    if phone is None or not may_see_phone(person, role):
        return None
    return str(phone)
