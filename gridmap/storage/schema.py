"""The gridmap schema, declared once: SQLAlchemy Core tables with GeoAlchemy2 geometry columns.

The migrations create it (``migrations/versions``); Alembic compares them
against :data:`metadata` (``tests/test_schema.py`` fails on any drift), and
the queries of :mod:`gridmap.storage` are built from these tables. Names of
constraints and indexes are PostgreSQL's own defaults (``<table>_<column>_check``,
``_fkey``, ``_key``, ``_pkey``) so that the metadata and the migrated database
read alike. What only raw SQL can say (the trigger that subdivides grids)
lives in the migrations alone.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint

from gridmap.domain import BARRIER_KINDS, COMMUNITY_KINDS, ENFORCEMENT_AGENCIES, ROLES, STORAGE_EPSG

#: PostgreSQL's default names, so that a table made from the metadata matches a migrated one.
NAMING = {
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
}
metadata = MetaData(naming_convention=NAMING)

PARTY_LEVELS = ("street_committee", "community_committee", "grid_branch", "building_group",
                "member_household")
PLAN_STATUSES = ("draft", "published", "retired")
#: How a generation began: a plan published, or an earlier generation's plan made current again.
GENERATION_KINDS = ("publish", "rollback")
KEY_ROLES = ("dispatcher", "planner", "approver", "admin")
#: Where a plan is in review (NULL: being edited).
REVIEW_STATES = ("submitted", "approved", "rejected")
#: What a plan_edit row records (``rewrite``: a partition or an import wrote the grids).
EDIT_OPS = ("rewrite", "copy", "move", "split", "merge", "rebalance", "lock", "unlock", "undo", "redo", "submit", "approve",
            "reject")


def _geom(geometry_type: str) -> Column:
    """A CGCS2000 geometry column; its GiST index, where there is one, is declared by name."""
    return Column("geom", Geometry(geometry_type=geometry_type, srid=STORAGE_EPSG, spatial_index=False),
                  nullable=False)


def _attrs() -> Column:
    """Layer columns without a table column of their own (extra columns are kept, DESIGN §4)."""
    return Column("attrs", JSONB, nullable=False, server_default=text("'{}'"))


def _one_of(table: str, column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(literal_column(column).in_(values), name=f"{table}_{column}_check")


def _digits(table: str, n: int) -> CheckConstraint:
    return CheckConstraint(literal_column("code").regexp_match(rf"^\d{{{n}}}$"), name=f"{table}_code_check")


def _valid(table: str) -> CheckConstraint:
    return CheckConstraint(func.ST_IsValid(literal_column("geom")), name=f"{table}_geom_check")


def _not_negative(table: str) -> CheckConstraint:
    return CheckConstraint(literal_column("households") >= 0, name=f"{table}_households_check")


def _gist(table: str) -> Index:
    return Index(f"{table}_geom_idx", "geom", postgresql_using="gist")


def _now() -> object:
    return func.now()


# ---------------------------------------------------------------- admin hierarchy and the atoms

district = Table(
    "district", metadata,
    Column("code", String(6), primary_key=True),
    Column("name", Text, nullable=False),
    _attrs(),
    _geom("MULTIPOLYGON"),
    _digits("district", 6), _valid("district"), _gist("district"),
)

street = Table(
    "street", metadata,
    Column("code", String(9), primary_key=True),
    Column("name", Text, nullable=False),
    Column("district_code", String(6), ForeignKey("district.code"), nullable=False),
    _attrs(),
    _geom("MULTIPOLYGON"),
    _digits("street", 9), _valid("street"), _gist("street"),
)

community = Table(
    "community", metadata,
    Column("code", String(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("street_code", String(9), ForeignKey("street.code"), nullable=False),
    Column("kind", Text, nullable=False),
    _attrs(),
    _geom("MULTIPOLYGON"),
    _digits("community", 12), _one_of("community", "kind", COMMUNITY_KINDS), _valid("community"),
    _gist("community"),
)

compound = Table(
    "compound", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("community_code", String(12), ForeignKey("community.code"), nullable=False),
    Column("households", Integer, nullable=False),
    _attrs(),
    _geom("MULTIPOLYGON"),
    _not_negative("compound"), _valid("compound"),
    Index("compound_community_idx", "community_code"),
    # Trigram index: compound names are matched by similarity (pg_trgm) when typed by hand.
    Index("compound_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
    _gist("compound"),
)

building = Table(
    "building", metadata,
    Column("id", Text, primary_key=True),
    Column("compound_id", Text, ForeignKey("compound.id", ondelete="CASCADE"), nullable=False),
    Column("households", Integer, nullable=False),
    _attrs(),
    _geom("GEOMETRY"),
    _not_negative("building"),
    CheckConstraint(func.ST_IsValid(literal_column("geom"))
                    & func.GeometryType(literal_column("geom")).in_(("POLYGON", "POINT")),
                    name="building_geom_check"),
    Index("building_compound_idx", "compound_id"),
    _gist("building"),
)

barrier = Table(
    "barrier", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("source_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("class", Text),
    Column("name", Text),
    _attrs(),
    _geom("GEOMETRY"),
    _one_of("barrier", "kind", BARRIER_KINDS), _valid("barrier"), _gist("barrier"),
)

address = Table(
    "address", metadata,
    Column("id", Text, primary_key=True),
    Column("address", Text, nullable=False),
    Column("compound_id", Text, ForeignKey("compound.id", ondelete="CASCADE")),
    Column("building_id", Text, ForeignKey("building.id", ondelete="CASCADE")),
    _attrs(),
    _geom("POINT"),
    CheckConstraint(func.length(literal_column("address")) > 0, name="address_address_check"),
    Index("address_text_trgm", "address", postgresql_using="gin", postgresql_ops={"address": "gin_trgm_ops"}),
    Index("address_building_idx", "building_id"),
    _gist("address"),
)

service_point = Table(
    "service_point", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("hours", Text),
    Column("community_code", String(12), ForeignKey("community.code")),
    _attrs(),
    _geom("POINT"),
    _gist("service_point"),
)

staff = Table(
    "staff", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("agency", Text),
    Column("phone", Text),
    Column("phone_public", Boolean, nullable=False, server_default=text("false")),
    Column("community_code", String(12), ForeignKey("community.code")),
    Column("street_code", String(9), ForeignKey("street.code")),
    _attrs(),
    # The ETag's version; a trigger (migration 0015) adds one on every UPDATE that changes the row.
    Column("version", Integer, nullable=False, server_default=text("1")),
    _one_of("staff", "role", ROLES),
    CheckConstraint(literal_column("community_code").is_not(None) | literal_column("street_code").is_not(None),
                    name="staff_check"),
    Index("staff_community_idx", "community_code"),
)

# ---------------------------------------------------------------- plans, generations and grids

plan = Table(
    "plan", metadata,
    Column("name", Text, primary_key=True),
    Column("status", Text, nullable=False, server_default=text("'draft'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("params", JSONB, nullable=False, server_default=text("'{}'")),
    Column("report", JSONB, nullable=False, server_default=text("'{}'")),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("review", Text),
    CheckConstraint(literal_column("name").regexp_match(r"^[A-Za-z0-9_.:-]{1,64}$"), name="plan_name_check"),
    _one_of("plan", "status", PLAN_STATUSES),
    _one_of("plan", "review", REVIEW_STATES),
)

# The append-only log of a plan's changes: one row per version, with the inverse (what the
# affected grids and memberships were before), written in the transaction of the change.
plan_edit = Table(
    "plan_edit", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("op", Text, nullable=False),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'")),
    Column("inverse", JSONB, nullable=False, server_default=text("'{}'")),
    Column("author", Text, nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("households_moved", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("plan", "version"),
    _one_of("plan_edit", "op", EDIT_OPS),
    CheckConstraint(literal_column("households_moved") >= 0, name="plan_edit_households_moved_check"),
)

# Short leases on the grids an edit touched (renewed by each edit of the same author).
grid_lease = Table(
    "grid_lease", metadata,
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE"), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

# The communities a plan covers (its own grids; publishing replaces exactly these communities).
plan_community = Table(
    "plan_community", metadata,
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE"), primary_key=True),
    Column("community_code", String(12), ForeignKey("community.code"), primary_key=True),
)

# A generation is a period in which one complete plan was current (mapit style). A plan may be
# current in several generations (a rollback opens a new one on an earlier plan); history is kept.
generation = Table(
    "generation", metadata,
    Column("id", Integer, primary_key=True),
    Column("plan", Text, ForeignKey("plan.name"), nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("kind", Text, nullable=False, server_default=text("'publish'")),
    Column("previous_id", Integer, ForeignKey("generation.id")),  # the generation it replaced
    Column("restores_id", Integer, ForeignKey("generation.id")),  # a rollback: the publish it restores
    Column("created_by", Text),
    Column("reason", Text),
    Column("forced", Boolean, nullable=False, server_default=text("false")),
    Column("record", JSONB, nullable=False, server_default=text("'{}'")),
    CheckConstraint(literal_column("valid_to").is_(None) | (literal_column("valid_to") > literal_column("valid_from")),
                    name="generation_check"),
    _one_of("generation", "kind", GENERATION_KINDS),
    CheckConstraint((literal_column("kind") == "rollback") == literal_column("restores_id").is_not(None),
                    name="generation_check1"),
    # A forced publish (rules overridden) always says why.
    CheckConstraint(~literal_column("forced") | literal_column("reason").is_not(None), name="generation_check2"),
    # Periods never overlap. Alembic's autogenerate does not compare exclusion constraints;
    # tests/test_schema.py compares this one with the migrated database's.
    ExcludeConstraint((func.tstzrange(literal_column("valid_from"), literal_column("valid_to")), "&&"),
                      using="gist", name="generation_tstzrange_excl"),
    # At most one current generation: a unique index over a constant, for the open rows only.
    Index("generation_one_current", literal_column("(true)"), unique=True,
          postgresql_where=literal_column("valid_to").is_(None)),
    Index("generation_plan_idx", "plan"),
)

grid = Table(
    "grid", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE"), nullable=False),
    Column("code", String(15), nullable=False),
    Column("name", Text, nullable=False),
    Column("community_code", String(12), ForeignKey("community.code"), nullable=False),
    Column("households", Integer, nullable=False),
    _attrs(),
    _geom("MULTIPOLYGON"),
    UniqueConstraint("plan", "code"),
    _digits("grid", 15), _not_negative("grid"), _valid("grid"),
    # A grid code is its community's code plus a 3-digit sequence (DESIGN §2).
    CheckConstraint(func.left(literal_column("code"), 12) == literal_column("community_code"), name="grid_check"),
    _gist("grid"),
    Index("grid_community_idx", "community_code"),
)

# Subdivided grid polygons for fast point lookup (ST_Subdivide, as mapit does); filled by
# the trigger of migration 0003, never written by the application.
grid_part = Table(
    "grid_part", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("grid_id", BigInteger, ForeignKey("grid.id", ondelete="CASCADE"), nullable=False),
    _geom("POLYGON"),
    Index("grid_part_geom_idx", "geom", postgresql_using="gist"),
    Index("grid_part_grid_idx", "grid_id"),
)

# Which compound (or building of a split compound) belongs to which grid of a plan.
grid_member = Table(
    "grid_member", metadata,
    Column("plan", Text, nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("compound_id", Text, ForeignKey("compound.id", ondelete="CASCADE"), nullable=False),
    Column("building_id", Text, ForeignKey("building.id", ondelete="CASCADE")),
    Column("households", Integer, nullable=False),
    ForeignKeyConstraint(["plan", "grid_code"], ["grid.plan", "grid.code"], ondelete="CASCADE"),
    _not_negative("grid_member"),
    # A unit is in one grid per plan; a whole compound has no building (NULL, hence coalesce).
    Index("grid_member_unit", "plan", "compound_id", func.coalesce(literal_column("building_id"), ""),
          unique=True),
    Index("grid_member_grid", "plan", "grid_code"),
)

# ---------------------------------------------------------------- party organisations and staffing

# Party organisations as a hierarchy: 大工委 > 大党委 > 网格党支部 > 楼栋党小组 > 党员中心户.
party_org = Table(
    "party_org", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("parent_id", Text, ForeignKey("party_org.id", ondelete="CASCADE")),
    Column("street_code", String(9), ForeignKey("street.code")),
    Column("community_code", String(12), ForeignKey("community.code")),
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE")),
    Column("grid_code", String(15)),
    Column("building_id", Text, ForeignKey("building.id", ondelete="SET NULL")),
    Column("secretary_staff_id", Text, ForeignKey("staff.id", ondelete="SET NULL")),
    _attrs(),
    _one_of("party_org", "level", PARTY_LEVELS),
    CheckConstraint((literal_column("level") == "street_committee") == literal_column("parent_id").is_(None),
                    name="party_org_check"),
    CheckConstraint(literal_column("level").not_in(("grid_branch", "building_group"))
                    | (literal_column("plan").is_not(None) & literal_column("grid_code").is_not(None)),
                    name="party_org_check1"),
    Index("party_org_grid_idx", "plan", "grid_code"),
)

# Who held which post when: rows are closed (valid_to) instead of deleted.
staff_post = Table(
    "staff_post", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("staff_id", Text, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, nullable=False),
    Column("plan", Text, ForeignKey("plan.name", ondelete="CASCADE")),
    Column("grid_code", String(15)),
    Column("building_id", Text, ForeignKey("building.id", ondelete="CASCADE")),
    Column("valid_from", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("valid_to", DateTime(timezone=True)),
    Column("changed_by", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # The post this one took over (PATCH /v1/posts/{id}): a post is handed on once, never twice.
    Column("replaces_id", BigInteger, ForeignKey("staff_post.id", ondelete="SET NULL")),
    CheckConstraint(literal_column("valid_to").is_(None) | (literal_column("valid_to") >= literal_column("valid_from")),
                    name="staff_post_check"),
    Index("staff_post_grid_idx", "plan", "grid_code", postgresql_where=literal_column("valid_to").is_(None)),
    # A post's natural key: the same creation twice is one post.
    Index("staff_post_open_key", "staff_id", "role", "plan", "grid_code", "building_id", unique=True,
          postgresql_nulls_not_distinct=True, postgresql_where=literal_column("valid_to").is_(None)),
    Index("staff_post_replaces_key", "replaces_id", unique=True,
          postgresql_where=literal_column("replaces_id").is_not(None)),
)

# Enforcement officers linked to compounds (属地兜底), with history.
officer_link = Table(
    "officer_link", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("staff_id", Text, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("agency", Text, nullable=False),
    Column("compound_id", Text, ForeignKey("compound.id", ondelete="CASCADE"), nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("valid_to", DateTime(timezone=True)),
    Column("changed_by", Text),
    _one_of("officer_link", "agency", ENFORCEMENT_AGENCIES),
    # One current officer per compound and agency.
    Index("officer_link_current", "compound_id", "agency", unique=True,
          postgresql_where=literal_column("valid_to").is_(None)),
)

api_key = Table(
    "api_key", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("label", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("revoked_at", DateTime(timezone=True)),
    _one_of("api_key", "role", KEY_ROLES),
)

# A signed-in browser: the hash of its random session id and the key it signed in with.
api_session = Table(
    "api_session", metadata,
    Column("id_hash", Text, primary_key=True),
    Column("key_id", BigInteger, ForeignKey("api_key.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("api_session_key_idx", "key_id"),
)

# ---------------------------------------------------------------- events (事件) and their dispatch

EVENT_STATUSES = ("reported", "dispatched", "accepted", "in_progress", "handled", "verified", "closed", "visited",
                  "returned", "duplicate")
EVENT_LEVELS = ("grid", "community", "street", "district")
CALENDAR_KINDS = ("holiday", "workday")

# A version of the dispatch catalogue (派单目录); the highest is current.
event_catalogue = Table(
    "event_catalogue", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("created_by", Text),
    Column("note", Text),
)

event_category = Table(
    "event_category", metadata,
    Column("version", Integer, ForeignKey("event_catalogue.version", ondelete="CASCADE"), primary_key=True),
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text),
    Column("agency", Text),
    Column("limit_working_days", Integer, nullable=False),
    # Exactly one of role and agency says who is responsible.
    CheckConstraint(literal_column("role").is_(None) != literal_column("agency").is_(None),
                    name="event_category_check"),
    CheckConstraint(literal_column("limit_working_days") > 0, name="event_category_limit_working_days_check"),
)

# The working-day calendar: holidays and 调休 make-up working days; unlisted days go by the weekday.
work_calendar = Table(
    "work_calendar", metadata,
    Column("day", Date, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text),
    _one_of("work_calendar", "kind", CALENDAR_KINDS),
)

event = Table(
    "event", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("category", Text, nullable=False),
    Column("catalogue_version", Integer, ForeignKey("event_catalogue.version"), nullable=False),
    Column("description", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("address", Text),
    Column("location", JSONB, nullable=False, server_default=text("'{}'")),
    Column("reporter_name", Text),
    Column("reporter_phone", Text),
    Column("reporters", JSONB, nullable=False, server_default=text("'[]'")),
    Column("photos", JSONB, nullable=False, server_default=text("'[]'")),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("level", Text, nullable=False, server_default=text("'grid'")),
    Column("plan", Text),
    Column("generation_id", Integer),
    Column("grid_code", String(15)),
    Column("community_code", String(12)),
    Column("street_code", String(9)),
    Column("compound_id", Text),
    Column("assignee_id", Text),
    Column("assignee", JSONB),
    Column("fallback", Text),
    Column("dispatched_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("warned_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_on_time", Boolean),
    Column("handled_by", Text),
    Column("satisfaction", Integer),
    Column("supervised", Boolean, nullable=False, server_default=text("false")),
    Column("reopened", Integer, nullable=False, server_default=text("0")),
    Column("escalations", Integer, nullable=False, server_default=text("0")),
    Column("duplicate_of", BigInteger, ForeignKey("event.id")),
    Column("source_id", Text, unique=True),
    _attrs(),
    _geom("POINT"),
    _one_of("event", "status", EVENT_STATUSES),
    _one_of("event", "level", EVENT_LEVELS),
    CheckConstraint(literal_column("satisfaction").is_(None)
                    | literal_column("satisfaction").between(1, 5), name="event_satisfaction_check"),
    _gist("event"),
    Index("event_status_idx", "status"),
    Index("event_grid_idx", "grid_code"),
    Index("event_community_idx", "community_code"),
    Index("event_reported_idx", "reported_at"),
    Index("event_open_due_idx", "due_at",
          postgresql_where=literal_column("status").not_in(("closed", "visited", "duplicate"))),
)

# Every transition of an event, append-only (a trigger of migration 0017 refuses UPDATE and DELETE).
event_transition = Table(
    "event_transition", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", BigInteger, ForeignKey("event.id"), nullable=False),
    Column("action", Text, nullable=False),
    Column("from_status", Text),
    Column("to_status", Text, nullable=False),
    Column("actor", Text),
    Column("role", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("note", Text),
    Column("data", JSONB, nullable=False, server_default=text("'{}'")),
    Index("event_transition_event_idx", "event_id", "id"),
)
