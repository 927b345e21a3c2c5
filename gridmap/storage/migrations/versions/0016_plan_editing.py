"""Editing plans by hand: versions, the edit log, review, grid leases and the approver role.

- ``plan.version``: bumped by every recorded change (an edit, undo, redo, a review step); its
  ETag is ``"plan-v<version>"``. ``plan.review``: where the plan is in review (NULL while it is
  being edited, ``submitted``, ``approved``, ``rejected``); an edit after review clears it.
- ``plan_edit``: the append-only log: one row per version with the operation, its payload, its
  inverse (the affected grids and memberships before the change), author, reason, time and the
  households it moved. Written in the transaction that changes the grids.
- ``grid_lease``: a short lease on the grids an edit touched, renewed by each edit; another
  author's edit touching a leased grid is refused (423).
- ``api_key.role`` admits ``approver`` (the street office that approves plans).
- The grid subdivision trigger (0003) deletes an updated grid's parts by index: its
  ``DELETE … USING new_grids`` hash-joined the whole of ``grid_part`` (the transition table has
  no statistics), and runs without JIT: ST_Subdivide's row estimate (a million) made PostgreSQL
  JIT-compile the INSERT, 40-70 ms per edited grid for one row.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-02
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE plan
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN review text,
    ADD CONSTRAINT plan_review_check CHECK (review IN ('submitted', 'approved', 'rejected'));

CREATE TABLE plan_edit (
    id bigserial PRIMARY KEY,
    plan text NOT NULL REFERENCES plan(name) ON DELETE CASCADE,
    version integer NOT NULL,
    op text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    inverse jsonb NOT NULL DEFAULT '{}',
    author text NOT NULL,
    reason text,
    at timestamptz NOT NULL DEFAULT now(),
    households_moved integer NOT NULL DEFAULT 0,
    CONSTRAINT plan_edit_plan_version_key UNIQUE (plan, version),
    CONSTRAINT plan_edit_op_check CHECK (op IN ('rewrite', 'copy', 'move', 'split', 'merge', 'rebalance', 'lock', 'unlock',
                                               'undo', 'redo', 'submit', 'approve', 'reject')),
    CONSTRAINT plan_edit_households_moved_check CHECK (households_moved >= 0)
);

CREATE TABLE grid_lease (
    plan text NOT NULL REFERENCES plan(name) ON DELETE CASCADE,
    grid_code varchar(15) NOT NULL,
    holder text NOT NULL,
    until timestamptz NOT NULL,
    PRIMARY KEY (plan, grid_code)
);

ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
ALTER TABLE api_key ADD CONSTRAINT api_key_role_check CHECK (role IN ('dispatcher', 'planner', 'approver', 'admin'));
""" + SUBDIVIDE.format(delete="DELETE FROM grid_part WHERE grid_id = ANY (ARRAY(SELECT id FROM new_grids));",
                    options="SET jit = off"))


SUBDIVIDE = """
CREATE OR REPLACE FUNCTION grid_subdivide_rows() RETURNS trigger LANGUAGE plpgsql {options} AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        {delete}
    END IF;
    INSERT INTO grid_part (grid_id, geom)
    SELECT n.id, (ST_Dump(ST_Subdivide(n.geom, 64))).geom FROM new_grids n;
    RETURN NULL;
END $$;
"""


def downgrade() -> None:
    op.execute("""
DELETE FROM api_key WHERE role = 'approver';
ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
ALTER TABLE api_key ADD CONSTRAINT api_key_role_check CHECK (role IN ('dispatcher', 'planner', 'admin'));
DROP TABLE grid_lease;
DROP TABLE plan_edit;
ALTER TABLE plan DROP CONSTRAINT plan_review_check, DROP COLUMN review, DROP COLUMN version;
""" + SUBDIVIDE.format(delete="DELETE FROM grid_part p USING new_grids n WHERE p.grid_id = n.id;", options=""))
