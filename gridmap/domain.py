"""The vocabulary of the domain (DESIGN.md §2): roles, agencies, kinds, their Chinese names, the storage CRS.

Written once: the importer, the engines, storage, the maps, the API and the
demo builder all read these names from here.
"""

from __future__ import annotations

#: Storage CRS: CGCS2000 geographic (DESIGN.md §3).
STORAGE_EPSG = 4490


COMMUNITY_KINDS = ("urban", "rural")
BARRIER_KINDS = ("road", "water", "rail", "wall")

#: Staff roles (DESIGN.md §2). 1+5+N: grid_head + five worker roles + volunteers.
ROLES = (
    "grid_head",
    "grid_worker",
    "community_police",
    "community_worker",
    "urban_management",
    "market_regulation",
    "sanitation",
    "volunteer",
    "building_chief",
    "party_secretary",
)
#: The "5" of 1+5+N (Qilin): the five kinds of grid worker the staffing engine posts to
#: every grid, next to its grid head (社区民警, 社区工作者, 城管, 市场监管, 环卫).
FIVE_WORKER_ROLES = (
    "community_police",
    "community_worker",
    "urban_management",
    "market_regulation",
    "sanitation",
)
#: Every worker role of a grid, as a coverage answer lists them under ``workers``: the
#: full-time grid worker (专职网格员, posted by planners, not by the engine) and the five.
#: The grid head (the "1"), volunteers (the "N") and building chiefs have places of their own.
WORKER_ROLES = ("grid_worker", *FIVE_WORKER_ROLES)
#: Agencies whose officers are linked to compounds (属地兜底: one of each per compound).
ENFORCEMENT_AGENCIES = ("police", "urban_management", "market_regulation")

#: OSM highway classes treated as major barriers a grid should not straddle.
MAJOR_ROAD_CLASSES = ("motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link")

SERVICE_POINT_KINDS = (
    "party_service_centre",  # 党群服务中心
    "red_station",  # 红色驿站
    "grid_service_station",  # 网格党群服务站
    "convenience_centre",  # 便民服务中心
)

#: Chinese names of the roles, agencies and service-point kinds, for labels users read.
ROLE_ZH = {
    "grid_head": "网格长",
    "grid_worker": "专职网格员",
    "community_police": "社区民警",
    "community_worker": "社区工作者",
    "urban_management": "城管执法",
    "market_regulation": "市场监管",
    "sanitation": "环卫",
    "volunteer": "志愿者",
    "building_chief": "楼栋长",
    "party_secretary": "党支部书记",
}
AGENCY_ZH = {"police": "公安", "urban_management": "城管", "market_regulation": "市场监管"}
KIND_ZH = {
    "party_service_centre": "党群服务中心",
    "red_station": "红色驿站",
    "grid_service_station": "网格党群服务站",
    "convenience_centre": "便民服务中心",
}

#: Roles of API callers (DESIGN.md §4), lowest first: each may do what the ones before it may.
#: An approver (审批人, the street office) may also do what a planner may, and approves or rejects plans.
CALLER_ROLES = ("public", "dispatcher", "planner", "approver", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(CALLER_ROLES)}
