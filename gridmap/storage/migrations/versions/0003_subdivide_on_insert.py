"""Subdivide grids per statement, not per row.

The row-level trigger of 0001 cost ~20 ms per grid (ST_Subdivide's set-up
inside a row trigger), so writing 10k grids took minutes. A statement-level
trigger over the transition table does the same work in one query
(999 grids: 16 s -> 0.12 s, measured with EXPLAIN ANALYZE).

Triggers and PL/pgSQL functions live only here (raw SQL): SQLAlchemy's
metadata (gridmap/storage/schema.py) cannot declare them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROW_TRIGGER = """
DROP TRIGGER IF EXISTS grid_subdivide_trg ON grid;
CREATE OR REPLACE FUNCTION grid_subdivide() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM grid_part WHERE grid_id = NEW.id;
    INSERT INTO grid_part (grid_id, geom)
    SELECT NEW.id, (ST_Dump(ST_Subdivide(NEW.geom, 64))).geom;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_subdivide_trg AFTER INSERT OR UPDATE OF geom ON grid
    FOR EACH ROW EXECUTE FUNCTION grid_subdivide();
"""


def upgrade() -> None:
    op.execute("""
DROP TRIGGER IF EXISTS grid_subdivide_trg ON grid;
DROP FUNCTION IF EXISTS grid_subdivide();
CREATE FUNCTION grid_subdivide_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM grid_part p USING new_grids n WHERE p.grid_id = n.id;
    END IF;
    INSERT INTO grid_part (grid_id, geom)
    SELECT n.id, (ST_Dump(ST_Subdivide(n.geom, 64))).geom FROM new_grids n;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_subdivide_ins AFTER INSERT ON grid REFERENCING NEW TABLE AS new_grids
    FOR EACH STATEMENT EXECUTE FUNCTION grid_subdivide_rows();
CREATE TRIGGER grid_subdivide_upd AFTER UPDATE ON grid REFERENCING NEW TABLE AS new_grids
    FOR EACH STATEMENT EXECUTE FUNCTION grid_subdivide_rows();
""")


def downgrade() -> None:
    op.execute("""
DROP TRIGGER IF EXISTS grid_subdivide_ins ON grid;
DROP TRIGGER IF EXISTS grid_subdivide_upd ON grid;
DROP FUNCTION IF EXISTS grid_subdivide_rows();
""" + ROW_TRIGGER)
