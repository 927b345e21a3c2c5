"""A plan handed in and approved (publishing needs an approved plan), for tests that publish."""

from __future__ import annotations

from sqlalchemy import Connection


def approve(conn: Connection, plan: str) -> None:
    """Submit ``plan`` and approve it, as a planner and the street office would."""
    from gridmap.services import editing

    editing.submit(conn, plan, author="test:planner")
    editing.decide(conn, plan, approve=True, author="test:approver")
