"""GiST indexes on every geometry column that maps and lookups query by area.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("district", "street", "community", "compound", "building", "barrier", "address", "service_point")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {table}_geom_idx ON {table} USING gist (geom)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP INDEX IF EXISTS {table}_geom_idx")
