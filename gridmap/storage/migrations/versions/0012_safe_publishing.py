"""Safe and reversible publishing: plans cover communities, generations record how they began.

- ``plan_community``: the communities a plan covers (filled from the grids of existing plans).
  Publishing a plan replaces the current grids of exactly these communities and carries the
  rest over from the current generation's plan.
- ``generation``: no longer one per plan (a rollback opens a new generation on an earlier
  plan); each row says how it began (``kind`` publish/rollback), the generation it replaced
  (``previous_id``, filled for existing rows in time order), the publish a rollback restores
  (``restores_id``), who (``created_by``), why (``reason``), whether rules were overridden
  (``forced``, which needs a reason) and what the switch did (``record``).

Downgrading refuses a database where a plan has been current twice (the UNIQUE on
generation.plan cannot come back); roll forward instead.

Revision ID: 0012
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE plan_community (
    plan text NOT NULL REFERENCES plan(name) ON DELETE CASCADE,
    community_code varchar(12) NOT NULL REFERENCES community(code),
    PRIMARY KEY (plan, community_code)
);
INSERT INTO plan_community (plan, community_code) SELECT DISTINCT plan, community_code FROM grid;

ALTER TABLE generation DROP CONSTRAINT generation_plan_key;
ALTER TABLE generation
    ADD COLUMN kind text NOT NULL DEFAULT 'publish',
    ADD COLUMN previous_id integer REFERENCES generation(id),
    ADD COLUMN restores_id integer REFERENCES generation(id),
    ADD COLUMN created_by text,
    ADD COLUMN reason text,
    ADD COLUMN forced boolean NOT NULL DEFAULT false,
    ADD COLUMN record jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT generation_kind_check CHECK (kind IN ('publish', 'rollback')),
    ADD CONSTRAINT generation_check1 CHECK ((kind = 'rollback') = (restores_id IS NOT NULL)),
    ADD CONSTRAINT generation_check2 CHECK (NOT forced OR reason IS NOT NULL);
CREATE INDEX generation_plan_idx ON generation (plan);
UPDATE generation g SET previous_id = o.previous
FROM (SELECT id, lag(id) OVER (ORDER BY valid_from) AS previous FROM generation) o
WHERE o.id = g.id AND o.previous IS NOT NULL;
""")


def downgrade() -> None:
    op.execute("""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM generation GROUP BY plan HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'a plan has been current in several generations (a rollback); '
                        'generation.plan cannot be made UNIQUE again';
    END IF;
END $$;
DROP INDEX generation_plan_idx;
ALTER TABLE generation
    DROP CONSTRAINT generation_check2,
    DROP CONSTRAINT generation_check1,
    DROP CONSTRAINT generation_kind_check,
    DROP COLUMN record,
    DROP COLUMN forced,
    DROP COLUMN reason,
    DROP COLUMN created_by,
    DROP COLUMN restores_id,
    DROP COLUMN previous_id,
    DROP COLUMN kind;
ALTER TABLE generation ADD CONSTRAINT generation_plan_key UNIQUE (plan);
DROP TABLE plan_community;
""")
