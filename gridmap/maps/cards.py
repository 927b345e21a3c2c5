"""Popup cards in Chinese: grid card, staff card, compound, service point. HTML is escaped here.

Whether a phone number is shown is decided by :func:`gridmap.coverage.privacy.may_see_phone` for the
viewer's ``role``; a number the viewer may not see shows as 内部号码.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gridmap.coverage import privacy
from gridmap.domain import AGENCY_ZH, KIND_ZH, ROLE_ZH
from gridmap.maps.base import escape

STATUS_ZH = {"under": "户数低于下限", "within": "户数在范围内", "over": "户数超过上限"}
RULE_ZH = {
    "min_households": "户数低于下限",
    "max_households": "户数超过上限",
    "contiguity": "网格不连续",
    "compound_split": "小区被拆分",
    "no_compounds": "无住宅小区",
    "tiling": "未做到不重不漏",
    "barrier_crossing": "跨越主干道或水系",
}
#: Post order on a grid card: 1 (head) + 5 (workers) + N (volunteers).
POST_ORDER = ("grid_head", "grid_worker", "community_police", "community_worker", "urban_management",
              "market_regulation", "sanitation", "volunteer", "building_chief")
HIDDEN_PHONE = "（内部号码）"


def phone_text(person: Mapping[str, Any], role: str) -> str:
    """The phone if a viewer of ``role`` may see it, else a placeholder ("" when there is none)."""
    phone = person.get("phone")
    if not phone:
        return ""
    return str(phone) if privacy.may_see_phone(person, role) else HIDDEN_PHONE


def person_html(person: Mapping[str, Any], role: str) -> str:
    """Name and phone (or the hidden-phone placeholder), escaped."""
    phone = phone_text(person, role)
    return escape(str(person.get("name", ""))) + (f" <span class=gm-phone>{escape(phone)}</span>" if phone else "")


def _row(label: str, value_html: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value_html}</td></tr>"


def _people(people: Iterable[Mapping[str, Any]], role: str, limit: int = 6) -> str:
    people = list(people)
    shown = "、".join(person_html(p, role) for p in people[:limit])
    more = f" 等{len(people)}人" if len(people) > limit else ""
    return shown + more if shown else "<span class=gm-missing>未配备</span>"


def grid_card(grid: Mapping[str, Any], card: Mapping[str, Any] | None, *, role: str = "public") -> str:
    """网格卡片: name, code, households, bounds status, head, workers, party branch, officers."""
    card = card or {}
    rows = [_row("网格编码", escape(str(grid.get("code", "")))),
            _row("户数", f"{int(grid.get('households') or 0)} 户"
                 + (f"（{escape(STATUS_ZH[grid['status']])}）" if grid.get("status") in STATUS_ZH else ""))]
    posts = card.get("posts") or []
    for post in POST_ORDER:
        holders = [p for p in posts if p.get("role") == post]
        if holders or post in ("grid_head", "grid_worker"):
            rows.append(_row(ROLE_ZH[post], _people(holders, role)))
    branch = card.get("branch")
    if branch:
        sec = branch.get("secretary")
        text = escape(str(branch.get("name", "")))
        if sec:
            text += "，书记 " + person_html({"name": sec, "phone": branch.get("phone"),
                                        "phone_public": branch.get("phone_public")}, role)
        rows.append(_row("网格党支部", text))
    else:
        rows.append(_row("网格党支部", "<span class=gm-missing>未建立</span>"))
    rows.extend(_officer_rows(card.get("officers") or [], role))
    violations = grid.get("violations") or []
    if violations:
        rows.append(_row("规则提示", "<span class=gm-warn>" + "；".join(escape(v) for v in violations) + "</span>"))
    title = escape(str(grid.get("name") or grid.get("code") or "网格"))
    return f"<div class=gm-card><h4>{title}</h4><table>{''.join(rows)}</table></div>"


def _officer_rows(officers: Iterable[Mapping[str, Any]], role: str) -> list[str]:
    rows = []
    officers = list(officers)
    for agency, label in AGENCY_ZH.items():
        people = [o for o in officers if o.get("agency") == agency]
        if people:
            rows.append(_row(f"{label}执法人员", _people(people, role, limit=4)))
    return rows


def staff_card(grid: Mapping[str, Any], card: Mapping[str, Any] | None, compound: Mapping[str, Any] | None,
               officers: Iterable[Mapping[str, Any]], *, role: str, edge_note: str = "") -> str:
    """调度卡片 for a looked-up point: the grid card led by the compound and its own officers."""
    head = ""
    if compound:
        households = compound.get("households")
        head = (f"<p class=gm-compound>小区：{escape(str(compound.get('name') or compound.get('id') or ''))}"
                + (f"（{int(households)} 户）" if households is not None else "") + "</p>")
    own = _officer_rows(officers, role)
    extra = f"<table class=gm-officers>{''.join(own)}</table>" if own else ""
    note = f"<p class=gm-warn>{escape(edge_note)}</p>" if edge_note else ""
    return f"<div class=gm-staff>{note}{head}{extra}{grid_card(grid, card, role=role)}</div>"


def compound_popup(row: Mapping[str, Any]) -> str:
    """小区: name, households, grid."""
    grid = f"<br>所属网格：{escape(str(row['grid_code']))}" if row.get("grid_code") else ""
    return (f"<div class=gm-card><h4>{escape(str(row.get('name', '')))}</h4>"
            f"{int(row.get('households') or 0)} 户{grid}</div>")


def service_point_popup(row: Mapping[str, Any]) -> str:
    """服务点: name, kind, opening hours, services, public phone."""
    services = row.get("services")
    if isinstance(services, (list, tuple)):
        services = "、".join(str(s) for s in services)
    rows = [_row("类型", escape(KIND_ZH.get(str(row.get("kind")), str(row.get("kind"))))),
            _row("开放时间", escape(str(row.get("hours") or "未公布")))]
    if services:
        rows.append(_row("服务内容", escape(str(services))))
    if row.get("phone") and row.get("phone_public", True):
        rows.append(_row("电话", escape(str(row["phone"]))))
    return f"<div class=gm-card><h4>{escape(str(row.get('name', '')))}</h4><table>{''.join(rows)}</table></div>"


def officer_popup(officer: Mapping[str, Any], compounds: Iterable[str], *, role: str) -> str:
    """执法人员 load: agency, compounds, households."""
    names = list(compounds)
    listed = "、".join(escape(n) for n in names[:12]) + (f" 等{len(names)}个" if len(names) > 12 else "")
    rows = [_row("单位", escape(AGENCY_ZH.get(str(officer.get("agency")), str(officer.get("agency"))))),
            _row("联系小区", f"{len(names)} 个：{listed}"),
            _row("户数", f"{int(officer.get('households') or 0)} 户")]
    phone = phone_text(officer, role)
    if phone:
        rows.append(_row("电话", escape(phone)))
    return f"<div class=gm-card><h4>{escape(str(officer.get('name', '')))}</h4><table>{''.join(rows)}</table></div>"
