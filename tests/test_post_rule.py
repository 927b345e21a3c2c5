""""A post stays in its community" is one rule (gridmap.assign.rules.post_stays_in_community),
checked in two places: storage refuses such a post (open_post), the engine's validation reports
one already stored (rules.post_in_community). Both must answer alike for every person and grid.

The tiny dataset of tests/test_staffing.py: grids G1 (community 1) and G3 (community 2);
people of community 1, of community 2, and SM of the street pool (no community).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, insert

from gridmap.assign.rules import post_in_community, post_stays_in_community
from gridmap.errors import InvalidInput
from gridmap.storage import staffing
from gridmap.storage.schema import staff_post
from tests.test_staffing import COMM1, COMM2, G1, G2, G3, full_roster, load, partition, person

PEOPLE = {"H1": COMM1, "W1": COMM1, "H3": COMM2, "W2": COMM2, "SM": None}


def test_the_rule_itself() -> None:
    assert post_stays_in_community(COMM1, COMM1)
    assert not post_stays_in_community(COMM2, COMM1)
    assert not post_stays_in_community(None, COMM1)
    assert not post_stays_in_community("", COMM1)


def refused_by_storage(conn: Connection, sid: str, grid_code: str) -> bool:
    """Whether open_post refuses the post for the community rule (nothing kept either way)."""
    savepoint = conn.begin_nested()
    try:
        staffing.open_post(conn, sid, "p1", changed_by="test", role="volunteer", grid_code=grid_code)
        return False
    except InvalidInput as exc:
        assert "posts stay in the community" in exc.detail
        return True
    finally:
        savepoint.rollback()


def flagged_by_engine(conn: Connection, sid: str, grid_code: str) -> bool:
    """Whether validating the stored assignment reports the post, written past storage's check."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(insert(staff_post).values(staff_id=sid, role="volunteer", plan="p1", grid_code=grid_code,
                                               changed_by="test"))
        found = post_in_community(staffing.read_assignment(conn, "p1"))
        return any(sid in str(v) and grid_code in str(v) for v in found)
    finally:
        savepoint.rollback()


@pytest.mark.parametrize("grid_code", [G1, G2, G3])
def test_storage_and_engine_agree(conn: Connection, grid_code: str) -> None:
    load(conn, [*full_roster(), person("SM", "market_regulation", None)])
    partition(conn, publish=False)
    answers = {}
    for sid, home in PEOPLE.items():
        refused, flagged = refused_by_storage(conn, sid, grid_code), flagged_by_engine(conn, sid, grid_code)
        assert refused == flagged, (sid, grid_code)
        answers[sid] = not refused
        assert answers[sid] == post_stays_in_community(home, grid_code[:12])
    assert any(answers.values()) and not all(answers.values())  # both kinds of case were seen
