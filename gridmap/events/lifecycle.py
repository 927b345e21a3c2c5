"""The lifecycle of an event (事件流转), as one state table.

上报 reported → 派单 dispatched → 签收 accepted → 处置 in_progress → 反馈 handled → 核查 verified → 办结 closed
→ 回访 visited, plus 退单 return (to the dispatcher: ``returned``), 改派 reassign, 延期 extend (approved),
督办 supervise, 升级 escalate, 重复 duplicate, reopen. :data:`TABLE` says from which states each action may
be taken and the state it leads to (``None``: the state stays); :func:`transition` applies one,
raising :class:`~gridmap.errors.InvalidTransition` (409) for anything the table forbids and
:class:`~gridmap.errors.InvalidInput` (422) for a missing reason, satisfaction or approver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gridmap.errors import InvalidInput, InvalidTransition

STATUSES = ("reported", "dispatched", "accepted", "in_progress", "handled", "verified", "closed", "visited",
            "returned", "duplicate")
STATUS_ZH = {"reported": "上报", "dispatched": "派单", "accepted": "签收", "in_progress": "处置",
             "handled": "反馈", "verified": "核查", "closed": "办结", "visited": "回访", "returned": "退单",
             "duplicate": "重复"}
#: 办结: the states an event counts as closed in; everything else (but duplicate) is open.
CLOSED = ("closed", "visited")
FINAL = (*CLOSED, "duplicate")
OPEN = tuple(s for s in STATUSES if s not in FINAL)
#: States in which the responsible person is working against the time limit.
WORKING = ("dispatched", "accepted", "in_progress")

ACTION_ZH = {"dispatch": "派单", "accept": "签收", "start": "处置", "handle": "反馈", "verify": "核查",
             "close": "办结", "callback": "回访", "return": "退单", "reassign": "改派", "extend": "延期",
             "supervise": "督办", "escalate": "升级", "reopen": "重办", "duplicate": "重复", "warn": "预警",
             "report": "上报"}

#: action → (states it may be taken from, state it leads to; None keeps the state).
TABLE: Mapping[str, tuple[tuple[str, ...], str | None]] = {
    "dispatch": (("reported", "returned"), "dispatched"),
    "accept": (("dispatched",), "accepted"),
    "start": (("accepted",), "in_progress"),
    "handle": (("in_progress",), "handled"),
    "verify": (("handled",), "verified"),
    "close": (("verified",), "closed"),
    "callback": (("closed",), "visited"),  # dissatisfied (1–2) reopens instead: see transition()
    "return": (("dispatched", "accepted"), "returned"),
    "reassign": (("dispatched", "accepted", "in_progress", "returned"), "dispatched"),
    "extend": (WORKING, None),
    "supervise": (OPEN, None),
    "escalate": (OPEN, None),
    "reopen": (("handled", "verified", "closed", "visited"), "dispatched"),
    "duplicate": (("reported", "dispatched"), "duplicate"),
}
ACTIONS = tuple(TABLE)
#: Actions after which the time limit starts again from now (a new dispatch).
REDISPATCH = ("dispatch", "reassign", "reopen")
#: Satisfaction at or below this reopens the event at the callback (1–5 scale).
DISSATISFIED_AT_MOST = 2


@dataclass(frozen=True)
class Step:
    """The outcome of one action: the new status and the record fields it sets."""

    action: str
    from_status: str
    to_status: str
    changes: dict = field(default_factory=dict)


def allowed(action: str, status: str) -> bool:
    froms, _ = TABLE[action]
    return status in froms


def transition(event: Mapping, action: str, *, by: str | None = None, data: Mapping | None = None) -> Step:
    """Apply ``action`` to ``event`` (its ``status``, ``handled_by``) with its ``data`` (reason, satisfaction,
    days, approved_by, duplicate_of); the record's changes, or InvalidTransition / InvalidInput."""
    data = dict(data or {})
    if action not in TABLE:
        raise InvalidInput(f"未知操作 {action!r} — unknown action {action!r}; one of {', '.join(ACTIONS)}")
    status = event["status"]
    froms, to = TABLE[action]
    if status not in froms:
        raise InvalidTransition(
            f"{STATUS_ZH.get(status, status)}状态下不能{ACTION_ZH[action]} — cannot {action} an event that is "
            f"{status}; allowed from: {', '.join(froms)}")
    changes: dict = {}
    to = to or status
    if action == "return":
        if not str(data.get("reason") or data.get("note") or "").strip():
            raise InvalidInput("退单须说明理由 — a return needs a reason")
    elif action == "handle":
        if not by:
            raise InvalidInput("反馈须写明处置人 — handle needs 'by' (who handled it)")
        changes["handled_by"] = by
    elif action == "verify":
        if not by:
            raise InvalidInput("核查须写明核查人 — verify needs 'by' (who verified it)")
        if by == event.get("handled_by"):
            raise InvalidTransition(f"核查人不能是处置人 {by} — the event must be verified by someone other "
                                    f"than its handler ({by})")
    elif action == "close":
        changes["closed"] = True
    elif action == "callback":
        satisfaction = data.get("satisfaction")
        if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
            raise InvalidInput(f"满意度须为 1–5 的整数 — satisfaction must be a whole number 1–5, "
                               f"not {satisfaction!r}")
        changes["satisfaction"] = satisfaction
        if satisfaction <= DISSATISFIED_AT_MOST:
            to = "dispatched"
            changes["reopened"] = True
    elif action == "extend":
        days = data.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30:
            raise InvalidInput(f"延期天数须为 1–30 个工作日 — extend needs days (1–30 working days), not {days!r}")
        if not str(data.get("approved_by") or "").strip():
            raise InvalidInput("延期须经批准，请写明 approved_by — an extension needs approved_by (who approved it)")
        changes["extend_days"] = days
    elif action == "reassign":
        if not str(data.get("assignee_id") or "").strip():
            raise InvalidInput("改派须指定 assignee_id — reassign needs assignee_id (the staff id)")
    elif action == "duplicate":
        if data.get("duplicate_of") is None:
            raise InvalidInput("重复件须指明 duplicate_of — duplicate needs duplicate_of (the first event's id)")
    elif action == "supervise":
        changes["supervised"] = True
    if action == "reopen":
        changes["reopened"] = True
    if to in REDISPATCH_STATES and action in (*REDISPATCH, "callback") and to == "dispatched":
        changes["redispatch"] = True
    if status in CLOSED and to not in CLOSED:
        changes["closed"] = False
    return Step(action, status, to, changes)


REDISPATCH_STATES = ("dispatched",)


def is_open(status: str) -> bool:
    return status in OPEN
