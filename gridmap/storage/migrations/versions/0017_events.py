"""Events (事件) and their dispatch: the catalogue (versioned), the working-day calendar, events and
their append-only transitions.

- ``event_catalogue`` / ``event_category``: versions of the dispatch catalogue (派单目录), version 1 the
  default of issue #14 (category → role or agency, limit in working days).
- ``work_calendar``: holidays and 调休 make-up working days; 2026 seeded.
- ``event``: one row per reported problem, its routing (grid, assignee, fallback), time limit and state;
  ``version`` is its ETag ("event-v<n>").
- ``event_transition``: who did what when; a trigger refuses UPDATE and DELETE (append-only).

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-02
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE event_catalogue (
	version INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
	created_by TEXT, 
	note TEXT, 
	CONSTRAINT event_catalogue_pkey PRIMARY KEY (version)
);
CREATE TABLE event_category (
	version INTEGER NOT NULL, 
	code TEXT NOT NULL, 
	name TEXT NOT NULL, 
	role TEXT, 
	agency TEXT, 
	limit_working_days INTEGER NOT NULL, 
	CONSTRAINT event_category_pkey PRIMARY KEY (version, code), 
	CONSTRAINT event_category_check CHECK ((role IS NULL) != (agency IS NULL)), 
	CONSTRAINT event_category_limit_working_days_check CHECK (limit_working_days > 0), 
	CONSTRAINT event_category_version_fkey FOREIGN KEY(version) REFERENCES event_catalogue (version) ON DELETE CASCADE
);
CREATE TABLE work_calendar (
	day DATE NOT NULL, 
	kind TEXT NOT NULL, 
	name TEXT, 
	CONSTRAINT work_calendar_pkey PRIMARY KEY (day), 
	CONSTRAINT work_calendar_kind_check CHECK (kind IN ('holiday', 'workday'))
);
CREATE TABLE event (
	id BIGSERIAL NOT NULL, 
	version INTEGER DEFAULT 1 NOT NULL, 
	category TEXT NOT NULL, 
	catalogue_version INTEGER NOT NULL, 
	description TEXT NOT NULL, 
	channel TEXT NOT NULL, 
	address TEXT, 
	location JSONB DEFAULT '{}' NOT NULL, 
	reporter_name TEXT, 
	reporter_phone TEXT, 
	reporters JSONB DEFAULT '[]' NOT NULL, 
	photos JSONB DEFAULT '[]' NOT NULL, 
	reported_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	status TEXT NOT NULL, 
	level TEXT DEFAULT 'grid' NOT NULL, 
	plan TEXT, 
	generation_id INTEGER, 
	grid_code VARCHAR(15), 
	community_code VARCHAR(12), 
	street_code VARCHAR(9), 
	compound_id TEXT, 
	assignee_id TEXT, 
	assignee JSONB, 
	fallback TEXT, 
	dispatched_at TIMESTAMP WITH TIME ZONE, 
	due_at TIMESTAMP WITH TIME ZONE, 
	warned_at TIMESTAMP WITH TIME ZONE, 
	escalated_at TIMESTAMP WITH TIME ZONE, 
	closed_at TIMESTAMP WITH TIME ZONE, 
	closed_on_time BOOLEAN, 
	handled_by TEXT, 
	satisfaction INTEGER, 
	supervised BOOLEAN DEFAULT false NOT NULL, 
	reopened INTEGER DEFAULT 0 NOT NULL, 
	escalations INTEGER DEFAULT 0 NOT NULL, 
	duplicate_of BIGINT, 
	source_id TEXT, 
	attrs JSONB DEFAULT '{}' NOT NULL, 
	geom geometry(POINT,4490) NOT NULL, 
	CONSTRAINT event_pkey PRIMARY KEY (id), 
	CONSTRAINT event_status_check CHECK (status IN ('reported', 'dispatched', 'accepted', 'in_progress', 'handled', 'verified', 'closed', 'visited', 'returned', 'duplicate')), 
	CONSTRAINT event_level_check CHECK (level IN ('grid', 'community', 'street', 'district')), 
	CONSTRAINT event_satisfaction_check CHECK (satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5), 
	CONSTRAINT event_catalogue_version_fkey FOREIGN KEY(catalogue_version) REFERENCES event_catalogue (version), 
	CONSTRAINT event_duplicate_of_fkey FOREIGN KEY(duplicate_of) REFERENCES event (id), 
	CONSTRAINT event_source_id_key UNIQUE (source_id)
);
CREATE INDEX event_community_idx ON event (community_code);
CREATE INDEX event_geom_idx ON event USING gist (geom);
CREATE INDEX event_grid_idx ON event (grid_code);
CREATE INDEX event_open_due_idx ON event (due_at) WHERE (status NOT IN ('closed', 'visited', 'duplicate'));
CREATE INDEX event_reported_idx ON event (reported_at);
CREATE INDEX event_status_idx ON event (status);
CREATE TABLE event_transition (
	id BIGSERIAL NOT NULL, 
	event_id BIGINT NOT NULL, 
	action TEXT NOT NULL, 
	from_status TEXT, 
	to_status TEXT NOT NULL, 
	actor TEXT, 
	role TEXT, 
	at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, 
	note TEXT, 
	data JSONB DEFAULT '{}' NOT NULL, 
	CONSTRAINT event_transition_pkey PRIMARY KEY (id), 
	CONSTRAINT event_transition_event_id_fkey FOREIGN KEY(event_id) REFERENCES event (id)
);
CREATE INDEX event_transition_event_idx ON event_transition (event_id, id);

CREATE FUNCTION event_transition_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_transition is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER event_transition_append_only BEFORE UPDATE OR DELETE ON event_transition
    FOR EACH ROW EXECUTE FUNCTION event_transition_append_only();
"""

SEED = """
INSERT INTO event_catalogue (version, created_by, note) VALUES (1, 'migration 0017', 'default catalogue (issue #14)');
INSERT INTO event_category (version, code, name, role, agency, limit_working_days) VALUES
    (1, 'street_vending', '占道经营', NULL, 'urban_management', 3),
    (1, 'illegal_construction', '违章搭建', NULL, 'urban_management', 5),
    (1, 'food_safety', '食品安全', NULL, 'market_regulation', 2),
    (1, 'price_fraud', '价格欺诈', NULL, 'market_regulation', 5),
    (1, 'public_security', '治安隐患', NULL, 'police', 1),
    (1, 'noise', '噪音扰民', NULL, 'police', 2),
    (1, 'sanitation', '环境卫生', 'sanitation', NULL, 2),
    (1, 'neighbour_dispute', '邻里纠纷', 'grid_worker', NULL, 5),
    (1, 'facility_damage', '设施损坏', 'grid_worker', NULL, 5),
    (1, 'other', '其他', 'grid_head', NULL, 5);
INSERT INTO work_calendar (day, kind, name) VALUES
    ('2026-01-01', 'holiday', '元旦'),
    ('2026-01-02', 'holiday', '元旦'),
    ('2026-01-03', 'holiday', '元旦'),
    ('2026-02-14', 'workday', '春节调休'),
    ('2026-02-15', 'holiday', '春节'),
    ('2026-02-16', 'holiday', '春节'),
    ('2026-02-17', 'holiday', '春节'),
    ('2026-02-18', 'holiday', '春节'),
    ('2026-02-19', 'holiday', '春节'),
    ('2026-02-20', 'holiday', '春节'),
    ('2026-02-21', 'holiday', '春节'),
    ('2026-02-22', 'holiday', '春节'),
    ('2026-02-23', 'holiday', '春节'),
    ('2026-02-28', 'workday', '春节调休'),
    ('2026-04-04', 'holiday', '清明节'),
    ('2026-04-05', 'holiday', '清明节'),
    ('2026-04-06', 'holiday', '清明节'),
    ('2026-05-01', 'holiday', '劳动节'),
    ('2026-05-02', 'holiday', '劳动节'),
    ('2026-05-03', 'holiday', '劳动节'),
    ('2026-05-04', 'holiday', '劳动节'),
    ('2026-05-05', 'holiday', '劳动节'),
    ('2026-05-09', 'workday', '劳动节调休'),
    ('2026-06-19', 'holiday', '端午节'),
    ('2026-06-20', 'holiday', '端午节'),
    ('2026-06-21', 'holiday', '端午节'),
    ('2026-09-20', 'workday', '国庆节调休'),
    ('2026-09-25', 'holiday', '中秋节'),
    ('2026-09-26', 'holiday', '中秋节'),
    ('2026-09-27', 'holiday', '中秋节'),
    ('2026-10-01', 'holiday', '国庆节'),
    ('2026-10-02', 'holiday', '国庆节'),
    ('2026-10-03', 'holiday', '国庆节'),
    ('2026-10-04', 'holiday', '国庆节'),
    ('2026-10-05', 'holiday', '国庆节'),
    ('2026-10-06', 'holiday', '国庆节'),
    ('2026-10-07', 'holiday', '国庆节'),
    ('2026-10-10', 'workday', '国庆节调休');
"""


def upgrade() -> None:
    op.execute(DDL)
    op.execute(SEED)


def downgrade() -> None:
    op.execute("""
DROP TABLE event_transition;
DROP FUNCTION event_transition_append_only();
DROP TABLE event;
DROP TABLE work_calendar;
DROP TABLE event_category;
DROP TABLE event_catalogue;
""")
