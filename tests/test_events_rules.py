"""The pure rules of events: the 2026 calendar with 调休, the state table, the catalogue CSV, routing fallbacks."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from gridmap.errors import InvalidInput, InvalidTransition
from gridmap.events import lifecycle, routing
from gridmap.events.calendar import CALENDAR_2026, CST
from gridmap.events.catalogue import category, default_catalogue, read_csv, write_csv


def test_calendar_holidays_and_make_up_days() -> None:
    cal = CALENDAR_2026
    assert not cal.is_working_day(date(2026, 1, 1)) and not cal.is_working_day(date(2026, 10, 7))
    assert cal.is_working_day(date(2026, 2, 14)) and cal.is_working_day(date(2026, 2, 28))  # Saturdays, 调休
    assert cal.is_working_day(date(2026, 5, 9)) and cal.is_working_day(date(2026, 9, 20))
    assert cal.is_working_day(date(2026, 10, 10)) and not cal.is_working_day(date(2026, 10, 11))
    assert not cal.is_working_day(date(2026, 2, 23)) and cal.is_working_day(date(2026, 2, 24))
    # Friday 2/13 + 1 working day = Saturday 2/14 (make-up); + 2 = Tuesday 2/24 after 春节.
    fri = datetime(2026, 2, 13, 10, tzinfo=CST)
    assert cal.add_working_days(fri, 1) == datetime(2026, 2, 14, 10, tzinfo=CST)
    assert cal.add_working_days(fri, 2) == datetime(2026, 2, 24, 10, tzinfo=CST)
    assert cal.add_working_days(datetime(2026, 9, 30, 10, tzinfo=CST), 1) == datetime(2026, 10, 8, 10, tzinfo=CST)
    assert cal.add_working_days(datetime(2026, 10, 3, 10, tzinfo=CST), 1) == datetime(2026, 10, 8, 18, tzinfo=CST)


def test_state_table() -> None:
    ev = {"status": "dispatched", "handled_by": None}
    for action, to in (("accept", "accepted"), ("start", "in_progress"), ("handle", "handled")):
        step = lifecycle.transition(ev, action, by="a")
        assert step.to_status == to
        ev = {**ev, "status": to, **({"handled_by": "a"} if action == "handle" else {})}
    with pytest.raises(InvalidTransition):
        lifecycle.transition(ev, "verify", by="a")  # the handler may not verify
    assert lifecycle.transition(ev, "verify", by="b").to_status == "verified"
    with pytest.raises(InvalidTransition):
        lifecycle.transition({"status": "closed"}, "accept")
    with pytest.raises(InvalidInput):
        lifecycle.transition({"status": "dispatched"}, "return")  # a return needs a reason
    assert lifecycle.transition({"status": "closed"}, "callback", data={"satisfaction": 5}).to_status == "visited"
    assert lifecycle.transition({"status": "closed"}, "callback", data={"satisfaction": 2}).to_status == "dispatched"
    with pytest.raises(InvalidInput):
        lifecycle.transition({"status": "accepted"}, "extend", data={"days": 2})  # not approved
    assert lifecycle.transition({"status": "accepted"}, "extend",
                                data={"days": 2, "approved_by": "主任"}).to_status == "accepted"
    # Every action is reachable from some state and every state but the final ones has a way out.
    assert all(froms for froms, _ in lifecycle.TABLE.values())
    for status in lifecycle.OPEN:
        assert any(status in froms for froms, _ in lifecycle.TABLE.values())


def test_catalogue_csv_round_trip_and_errors() -> None:
    cats = default_catalogue()
    assert read_csv(write_csv(cats)) == cats
    assert category("x", "X", "police officer", 1).agency == "police"
    assert category("y", "Y", "sanitation worker", 2).role == "sanitation"
    with pytest.raises(InvalidInput) as bad:
        read_csv("code,name,responsible,limit_working_days\nother,其他,grid head,0\nz,Z,astronaut,2\n")
    assert "row 2" in bad.value.detail and "row 3" in bad.value.detail


def test_routing_fallbacks() -> None:
    cats = {c.code: c for c in default_catalogue()}
    answer = {"officers": {"police": [], "urban_management": [{"id": "U1", "name": "城", "role": "urban_management",
                                                               "agency": "urban_management"}]},
              "staff": {"grid_head": None, "workers": {"sanitation": []}}}
    assert routing.route(answer, cats["street_vending"], community_staff=[], street_staff=[]).fallback is None
    street = [{"id": "P9", "name": "警", "role": "community_police", "agency": "police"},
              {"id": "S1", "name": "书记", "role": "party_secretary", "agency": None}]
    got = routing.route(answer, cats["noise"], community_staff=[], street_staff=street)
    assert (got.fallback, got.assignee["id"]) == ("street", "P9")
    got = routing.route(answer, cats["sanitation"], community_staff=[], street_staff=street)
    assert (got.fallback, got.assignee["id"]) == ("street_holder", "S1")
    assert routing.route(answer, cats["other"], community_staff=[], street_staff=[]).fallback == "district"
    assert routing.escalation_holder("community", community_staff=[], street_staff=street)["id"] == "S1"
    assert routing.escalation_holder("district", community_staff=[], street_staff=street)["id"] is None
