"""Browser sessions, versions of editable rows, and constraints that make lost edits impossible.

- ``api_session``: a signed-in browser (``POST /v1/session``). Only a hash of the random session id
  is stored, with the API key it was opened with: revoking the key ends its sessions at once (the
  role lookup joins the key and checks ``revoked_at``), deleting the key deletes them.
- ``staff.version`` and ``staff_post.version``: the ETag of a person and of a post
  (``"staff-v3"``). A trigger adds one on every UPDATE that changes the row, whoever makes it (an
  API edit, a roster import, a staffing run), so an If-Match seen before any of them is stale.
- ``staff_post_open_key``: one open post per (person, role, plan, grid, building) — the natural key
  of a post, NULLS NOT DISTINCT — so the same creation sent twice gives one post.
  Existing duplicates are closed first (the oldest stays), with ``changed_by = 'migration 0015'``.
- ``staff_post.replaces_id``: the post a ``PATCH /v1/posts/{id}`` closed to open this one, unique —
  one post is handed on once, never to two people. (A grid may hold several people of one role when
  the staffing engine shares a community's surplus among its grids, so the constraint is on the
  hand-over, not on the role count.)

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-02
"""

from alembic import op

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE api_session (
    id_hash text PRIMARY KEY,
    key_id bigint NOT NULL REFERENCES api_key(id) ON DELETE CASCADE,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    expires_at timestamp with time zone NOT NULL
);
CREATE INDEX api_session_key_idx ON api_session (key_id);

ALTER TABLE staff ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE staff_post ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN replaces_id bigint REFERENCES staff_post(id) ON DELETE SET NULL;
CREATE UNIQUE INDEX staff_post_replaces_key ON staff_post (replaces_id) WHERE replaces_id IS NOT NULL;

CREATE FUNCTION gridmap_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER staff_version BEFORE UPDATE ON staff FOR EACH ROW EXECUTE FUNCTION gridmap_bump_version();
CREATE TRIGGER staff_post_version BEFORE UPDATE ON staff_post FOR EACH ROW
    EXECUTE FUNCTION gridmap_bump_version();

UPDATE staff_post p SET valid_to = greatest(clock_timestamp(), p.valid_from), changed_by = 'migration 0015'
FROM staff_post q
WHERE p.valid_to IS NULL AND q.valid_to IS NULL AND p.id > q.id AND p.staff_id = q.staff_id
  AND p.role = q.role AND p.plan IS NOT DISTINCT FROM q.plan AND p.grid_code IS NOT DISTINCT FROM q.grid_code
  AND p.building_id IS NOT DISTINCT FROM q.building_id;
CREATE UNIQUE INDEX staff_post_open_key ON staff_post (staff_id, role, plan, grid_code, building_id)
    NULLS NOT DISTINCT WHERE valid_to IS NULL;
""")


def downgrade() -> None:
    op.execute("""
DROP INDEX staff_post_open_key;
DROP INDEX staff_post_replaces_key;
DROP TRIGGER staff_post_version ON staff_post;
DROP TRIGGER staff_version ON staff;
DROP FUNCTION gridmap_bump_version();
ALTER TABLE staff_post DROP COLUMN version, DROP COLUMN replaces_id;
ALTER TABLE staff DROP COLUMN version;
DROP TABLE api_session;
""")
