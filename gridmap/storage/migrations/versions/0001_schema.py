"""The grid-governance schema: admin hierarchy, compounds, buildings, addresses,
staff, party organisations, service points, plans, generations and grids.

The tables are declared once in gridmap/storage/schema.py (SQLAlchemy Core +
GeoAlchemy2); this DDL is the history that built them, and tests/test_schema.py
checks the two agree. The grid_subdivide trigger and its function are raw SQL
only: SQLAlchemy's metadata has no way to declare triggers or PL/pgSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Geometry columns are CGCS2000 (EPSG:4490) and must be valid.
UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE district (
    code varchar(6) PRIMARY KEY CHECK (code ~ '^\d{6}$'),
    name text NOT NULL,
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom))
);

CREATE TABLE street (
    code varchar(9) PRIMARY KEY CHECK (code ~ '^\d{9}$'),
    name text NOT NULL,
    district_code varchar(6) NOT NULL REFERENCES district(code),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom))
);

CREATE TABLE community (
    code varchar(12) PRIMARY KEY CHECK (code ~ '^\d{12}$'),
    name text NOT NULL,
    street_code varchar(9) NOT NULL REFERENCES street(code),
    kind text NOT NULL CHECK (kind IN ('urban', 'rural')),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom))
);

CREATE TABLE compound (
    id text PRIMARY KEY,
    name text NOT NULL,
    community_code varchar(12) NOT NULL REFERENCES community(code),
    households integer NOT NULL CHECK (households >= 0),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX compound_community_idx ON compound (community_code);
CREATE INDEX compound_name_trgm ON compound USING gin (name gin_trgm_ops);

CREATE TABLE building (
    id text PRIMARY KEY,
    compound_id text NOT NULL REFERENCES compound(id) ON DELETE CASCADE,
    households integer NOT NULL CHECK (households >= 0),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(Geometry, 4490) NOT NULL
        CHECK (ST_IsValid(geom) AND GeometryType(geom) IN ('POLYGON', 'POINT'))
);
CREATE INDEX building_compound_idx ON building (compound_id);

CREATE TABLE barrier (
    id bigserial PRIMARY KEY,
    source_key text NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('road', 'water', 'rail', 'wall')),
    class text,
    name text,
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(Geometry, 4490) NOT NULL CHECK (ST_IsValid(geom))
);

CREATE TABLE address (
    id text PRIMARY KEY,
    address text NOT NULL CHECK (length(address) > 0),
    compound_id text REFERENCES compound(id) ON DELETE CASCADE,
    building_id text REFERENCES building(id) ON DELETE CASCADE,
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(Point, 4490) NOT NULL
);
CREATE INDEX address_text_trgm ON address USING gin (address gin_trgm_ops);
CREATE INDEX address_building_idx ON address (building_id);

CREATE TABLE service_point (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    hours text,
    community_code varchar(12) REFERENCES community(code),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(Point, 4490) NOT NULL
);

CREATE TABLE staff (
    id text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('grid_head', 'grid_worker', 'community_police',
        'community_worker', 'urban_management', 'market_regulation', 'sanitation',
        'volunteer', 'building_chief', 'party_secretary')),
    agency text,
    phone text,
    phone_public boolean NOT NULL DEFAULT false,
    community_code varchar(12) REFERENCES community(code),
    street_code varchar(9) REFERENCES street(code),
    attrs jsonb NOT NULL DEFAULT '{}',
    CHECK (community_code IS NOT NULL OR street_code IS NOT NULL)
);
CREATE INDEX staff_community_idx ON staff (community_code);

CREATE TABLE plan (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'retired')),
    created_at timestamptz NOT NULL DEFAULT now(),
    params jsonb NOT NULL DEFAULT '{}',
    report jsonb NOT NULL DEFAULT '{}'
);

-- A generation is a published plan with the period it was current (mapit style).
CREATE TABLE generation (
    id serial PRIMARY KEY,
    plan text NOT NULL UNIQUE REFERENCES plan(name),
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    EXCLUDE USING gist (tstzrange(valid_from, valid_to) WITH &&)
);
CREATE UNIQUE INDEX generation_one_current ON generation ((true)) WHERE valid_to IS NULL;

CREATE TABLE grid (
    id bigserial PRIMARY KEY,
    plan text NOT NULL REFERENCES plan(name) ON DELETE CASCADE,
    code varchar(15) NOT NULL CHECK (code ~ '^\d{15}$'),
    name text NOT NULL,
    community_code varchar(12) NOT NULL REFERENCES community(code),
    households integer NOT NULL CHECK (households >= 0),
    attrs jsonb NOT NULL DEFAULT '{}',
    geom geometry(MultiPolygon, 4490) NOT NULL CHECK (ST_IsValid(geom)),
    UNIQUE (plan, code),
    CHECK (left(code, 12) = community_code)
);
CREATE INDEX grid_geom_idx ON grid USING gist (geom);
CREATE INDEX grid_community_idx ON grid (community_code);

-- Subdivided grid polygons for fast point lookup (ST_Subdivide, as mapit does).
CREATE TABLE grid_part (
    id bigserial PRIMARY KEY,
    grid_id bigint NOT NULL REFERENCES grid(id) ON DELETE CASCADE,
    geom geometry(Polygon, 4490) NOT NULL
);
CREATE INDEX grid_part_geom_idx ON grid_part USING gist (geom);
CREATE INDEX grid_part_grid_idx ON grid_part (grid_id);

CREATE FUNCTION grid_subdivide() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM grid_part WHERE grid_id = NEW.id;
    INSERT INTO grid_part (grid_id, geom)
    SELECT NEW.id, (ST_Dump(ST_Subdivide(NEW.geom, 64))).geom;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_subdivide_trg AFTER INSERT OR UPDATE OF geom ON grid
    FOR EACH ROW EXECUTE FUNCTION grid_subdivide();

-- Which compound (or building of a split compound) belongs to which grid of a plan.
CREATE TABLE grid_member (
    plan text NOT NULL,
    grid_code varchar(15) NOT NULL,
    compound_id text NOT NULL REFERENCES compound(id) ON DELETE CASCADE,
    building_id text REFERENCES building(id) ON DELETE CASCADE,
    households integer NOT NULL CHECK (households >= 0),
    FOREIGN KEY (plan, grid_code) REFERENCES grid(plan, code) ON DELETE CASCADE
);
CREATE UNIQUE INDEX grid_member_unit ON grid_member (plan, compound_id, coalesce(building_id, ''));
CREATE INDEX grid_member_grid ON grid_member (plan, grid_code);

-- Party organisations as a hierarchy: 大工委 > 大党委 > 网格党支部 > 楼栋党小组 > 党员中心户.
CREATE TABLE party_org (
    id text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL CHECK (level IN ('street_committee', 'community_committee',
        'grid_branch', 'building_group', 'member_household')),
    parent_id text REFERENCES party_org(id) ON DELETE CASCADE,
    street_code varchar(9) REFERENCES street(code),
    community_code varchar(12) REFERENCES community(code),
    plan text REFERENCES plan(name) ON DELETE CASCADE,
    grid_code varchar(15),
    building_id text REFERENCES building(id) ON DELETE SET NULL,
    secretary_staff_id text REFERENCES staff(id) ON DELETE SET NULL,
    attrs jsonb NOT NULL DEFAULT '{}',
    CHECK ((level = 'street_committee') = (parent_id IS NULL)),
    CHECK (level NOT IN ('grid_branch', 'building_group') OR (plan IS NOT NULL AND grid_code IS NOT NULL))
);
CREATE INDEX party_org_grid_idx ON party_org (plan, grid_code);

-- Who held which post when: rows are closed (valid_to) instead of deleted.
CREATE TABLE staff_post (
    id bigserial PRIMARY KEY,
    staff_id text NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    role text NOT NULL,
    plan text REFERENCES plan(name) ON DELETE CASCADE,
    grid_code varchar(15),
    building_id text REFERENCES building(id) ON DELETE CASCADE,
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz,
    changed_by text,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX staff_post_grid_idx ON staff_post (plan, grid_code) WHERE valid_to IS NULL;

-- Enforcement officers linked to compounds (属地兜底), with history.
CREATE TABLE officer_link (
    id bigserial PRIMARY KEY,
    staff_id text NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    agency text NOT NULL CHECK (agency IN ('police', 'urban_management', 'market_regulation')),
    compound_id text NOT NULL REFERENCES compound(id) ON DELETE CASCADE,
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz,
    changed_by text
);
CREATE UNIQUE INDEX officer_link_current ON officer_link (compound_id, agency) WHERE valid_to IS NULL;

CREATE TABLE api_key (
    id bigserial PRIMARY KEY,
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('dispatcher', 'planner', 'admin')),
    label text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS api_key, officer_link, staff_post, party_org, grid_member, grid_part,
    grid, generation, plan, staff, service_point, address, barrier, building, compound,
    community, street, district CASCADE;
DROP FUNCTION IF EXISTS grid_subdivide();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
