"""The one privacy rule (号码公开): who may see a phone number — tested once, then on every surface.

The rule (:func:`gridmap.coverage.privacy.may_see_phone`): a phone marked
public is shown to anyone; any other phone only to dispatchers and the roles
above them. Every surface that shows people must ask that function: the
lookup answer, its ambiguous choices, the grid staff route and the map
pages. The surface tests run on tests/test_maps.py's data (王芳's phone is
private, 李强's public, the officers' private).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from gridmap.coverage import privacy
from gridmap.coverage.answer import present
from gridmap.domain import CALLER_ROLES
from tests.test_maps import G1, G2, PLAN, PRIVATE_PHONE, PUBLIC_PHONE, map_data  # noqa: F401 (fixture)

OFFICER_PHONES = ("19900000003", "19900000004", "19900000005")
PRIVATE = (PRIVATE_PHONE, *OFFICER_PHONES)
SEES_PRIVATE = {"dispatcher", "planner", "approver", "admin"}


def strict(body: str):
    """json.loads that refuses NaN and Infinity."""
    def refuse(word: str):
        raise ValueError(f"{word} in JSON")
    return json.loads(body, parse_constant=refuse)


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("role", [*CALLER_ROLES, "approver", "", "nobody"])
@pytest.mark.parametrize("flag, public", [
    (True, True), (np.True_, True),
    (False, False), (np.False_, False), (None, False),
    ("true", False), ("false", False), (1, False), ("是", False),  # only a real boolean makes a phone public
])
def test_may_see_phone(role: str, flag, public: bool) -> None:
    person = {"name": "王芳", "phone": "13900000000", "phone_public": flag}
    expected = public or role in SEES_PRIVATE
    assert privacy.may_see_phone(person, role) is expected
    assert privacy.phone_for(person, role) == ("13900000000" if expected else None)


def test_a_missing_flag_is_private_and_a_missing_phone_is_none() -> None:
    assert privacy.may_see_phone({"phone": "1"}, "public") is False
    assert privacy.may_see_phone({"phone": "1"}, "dispatcher") is True
    assert privacy.phone_for({"phone_public": True}, "admin") is None


def test_roles_rank_as_the_api_checks_them() -> None:
    from api.deps import ROLE_RANK

    assert list(ROLE_RANK) == list(CALLER_ROLES) and ROLE_RANK["public"] < ROLE_RANK[privacy.PRIVATE_PHONES_FROM]


people = st.fixed_dictionaries({"id": st.text(max_size=3), "phone": st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
                                "phone_public": st.sampled_from([True, False, None, "true", np.True_])})
answers = st.recursive(people | st.floats(allow_nan=True) | st.integers() | st.none(),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                           st.sampled_from(["staff", "grid_head", "workers", "officers", "secretary", "x"]),
                           inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(answers, st.sampled_from([*CALLER_ROLES, "nobody"]))
def test_present_keeps_exactly_the_phones_the_role_may_see(value, role: str) -> None:
    """Anywhere in an answer: a person's phone survives iff the rule allows it; the rest is strict JSON."""
    shown = present(value, role)
    strict(json.dumps(shown, allow_nan=False))

    def walk(before, after) -> None:
        if isinstance(before, dict):
            if "phone" in before:
                allowed = privacy.may_see_phone(before, role)
                assert after["phone"] == (before["phone"] if allowed else None)
            for key in before:
                walk(before[key], after[key])
        elif isinstance(before, list):
            for b, a in zip(before, after):
                walk(b, a)
        elif isinstance(before, float) and not math.isfinite(before):
            assert after is None

    walk(value, shown)


# ---------------------------------------------------------------- every surface asks it


def _split_c1(conn: Connection) -> None:
    """Let the plan's membership put part of 春潮花园 (C1) in G2 too: a split compound."""
    conn.execute(text("INSERT INTO grid_member (plan, grid_code, compound_id, building_id, households) "
                      "VALUES (:p, :g, 'C1', 'C1-B1', 100)"), {"p": PLAN, "g": G2})


SURFACES = [
    ("/v1/lookup", {"lon": 120.302, "lat": 31.502, "crs": "wgs84"}),
    ("/v1/lookup", {"address": "春潮花园"}),  # 300: the choices carry grid heads and officers
    (f"/v1/grids/{G1}/staff", {}),
    ("/maps/lookup", {"lon": 120.302, "lat": 31.502, "crs": "wgs84", "tiles": "none"}),
    ("/maps/lookup", {"address": "春潮花园", "tiles": "none"}),
    ("/maps/coverage", {"tiles": "none"}),
    ("/maps/data/grids", {"bbox": "120,31,121,32", "tiles": "none"}),
    ("/maps/service-points", {"tiles": "none"}),
    ("/maps/officers", {"tiles": "none"}),
]


@pytest.mark.parametrize("path, params", SURFACES)
def test_public_never_gets_a_private_phone(client, map_data: Connection, path: str, params: dict) -> None:
    from gridmap.storage.keys import create_key

    _split_c1(map_data)
    public = client.get(path, params=params)
    roster = path == "/maps/officers"  # the officer roster: dispatchers only (docs/access.md)
    assert public.status_code in ((403,) if roster else (200, 300)), public.text[:300]
    assert not any(phone in public.text for phone in PRIVATE)
    dispatcher = client.get(path, params=params, headers={"X-API-Key": create_key(map_data, "dispatcher")})
    assert dispatcher.status_code == (200 if roster else public.status_code)
    if path != "/maps/service-points":  # a public page: no private phone for anyone
        assert any(phone in dispatcher.text for phone in PRIVATE), path
    if public.headers["content-type"].startswith("application/"):
        strict(public.text)


@pytest.mark.parametrize("path, params", SURFACES)
def test_every_surface_asks_the_one_rule(client, map_data: Connection, monkeypatch: pytest.MonkeyPatch,
                                         path: str, params: dict) -> None:
    """With the rule replaced by 'nobody sees any phone', a dispatcher sees none either — on every
    surface: none of them decides by itself."""
    from gridmap.storage.keys import create_key

    _split_c1(map_data)
    key = {"X-API-Key": create_key(map_data, "dispatcher")}
    asked: list[str] = []

    def nobody(person, role: str) -> bool:
        asked.append(role)
        return False

    monkeypatch.setattr(privacy, "may_see_phone", nobody)
    r = client.get(path, params=params, headers=key)
    assert r.status_code in (200, 300), r.text[:300]
    assert asked, f"{path} never asked the privacy rule"
    assert not any(phone in r.text for phone in (*PRIVATE, PUBLIC_PHONE)), path
