"""Chinese column names and values accepted as aliases in rosters and the staff layer (pure).

A roster made in Excel by a community office says 姓名, 角色 and 社区民警, not
name, role and community_police. These tables turn such headers and values
into the interchange names (DESIGN.md §4); the Chinese role and agency names
come from the glossary in :mod:`gridmap.domain`.
"""

from __future__ import annotations

import re

from gridmap.domain import AGENCY_ZH, ROLE_ZH, ROLES

#: Chinese (and common alternative) roster headers → interchange column.
HEADER_ALIASES = {
    "编号": "id", "人员编号": "id", "工号": "id",
    "姓名": "name", "名字": "name",
    "角色": "role", "岗位": "role", "职务": "role",
    "条线": "agency", "单位": "agency", "所属单位": "agency", "部门": "agency",
    "电话": "phone", "手机": "phone", "手机号": "phone", "联系电话": "phone",
    "电话公开": "phone_public", "公开电话": "phone_public", "是否公开电话": "phone_public",
    "电话是否公开": "phone_public",
    "社区代码": "community_code", "社区编码": "community_code", "社区编号": "community_code",
    "街道代码": "street_code", "街道编码": "street_code", "街道编号": "street_code",
    "党员": "party_member", "是否党员": "party_member",
    "楼栋编号": "building_id", "网格代码": "grid_code", "网格编码": "grid_code",
}

#: Role names people write → role. Every glossary name (ROLE_ZH) plus a few everyday variants.
ROLE_ALIASES = {
    **{zh: role for role, zh in ROLE_ZH.items()},
    "网格员": "grid_worker", "专职网格员": "grid_worker", "社区工作人员": "community_worker",
    "民警": "community_police", "社区警务": "community_police", "城管": "urban_management",
    "市场监管员": "market_regulation", "环卫工": "sanitation", "保洁员": "sanitation",
    "义工": "volunteer", "楼长": "building_chief", "党支部书记": "party_secretary", "支部书记": "party_secretary",
}

#: Agency names people write → agency.
AGENCY_ALIASES = {
    **{zh: agency for agency, zh in AGENCY_ZH.items()},
    "派出所": "police", "公安局": "police", "城管局": "urban_management", "综合执法": "urban_management",
    "市场监管局": "market_regulation", "市监": "market_regulation", "社区": "community",
}

#: Yes/no as written in Chinese spreadsheets (the English forms are handled by the readers).
YES = frozenset({"是", "公开", "√", "对"})
NO = frozenset({"否", "不公开", "×", "不"})


def column_name(header: object) -> str:
    """The interchange name of a header: Chinese aliases mapped, English trimmed and lower-cased."""
    text = str(header).strip()
    if text in HEADER_ALIASES:
        return HEADER_ALIASES[text]
    return text.lower() if re.fullmatch(r"[A-Za-z_ ]+", text) else text


def role_code(value: str) -> str:
    """The role for a written role name (网格长 → grid_head, 'Grid Head' → grid_head); unknown text unchanged."""
    text = value.strip()
    if text in ROLE_ALIASES:
        return ROLE_ALIASES[text]
    english = re.sub(r"[\s-]+", "_", text.lower())
    return english if english in ROLES else text


def agency_code(value: str) -> str:
    """The agency for a written agency name (公安 → police); unknown text unchanged."""
    text = value.strip()
    return AGENCY_ALIASES.get(text, text)


def allowed_roles() -> str:
    """The roles for an error message, each with its Chinese name."""
    return ", ".join(f"{role} ({ROLE_ZH[role]})" if role in ROLE_ZH else role for role in ROLES)
