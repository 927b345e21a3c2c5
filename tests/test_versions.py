"""The one If-Match rule: missing → 428, stale → 412, malformed → 422, '*' → any version."""

from __future__ import annotations

import pytest

from api.errors import body, status_of
from api.etag import expected_version
from gridmap.errors import InvalidInput, PreconditionRequired, StaleVersion
from gridmap.versions import check_version, etag


def test_etag_round_trips_through_if_match() -> None:
    for version in (0, 1, 7, 123456):
        assert expected_version(etag("plan", version), kind="plan") == version
    assert expected_version('W/"plan-v3"', kind="plan") == 3
    assert expected_version('"event-v2", "plan-v5"', kind="plan") == 5
    assert expected_version("*", kind="plan") is None
    assert expected_version(None, kind="plan", required=False) is None


def test_missing_malformed_and_stale_if_match() -> None:
    with pytest.raises(PreconditionRequired) as missing:
        expected_version(None, kind="event")
    assert status_of(missing.value) == 428 and '"event-v1"' in missing.value.detail
    with pytest.raises(PreconditionRequired):
        expected_version("  ", kind="event")
    for bad in ('"event-v1"', "plan-v1", '"plan-vx"', '"plan-v1\x00"'):
        with pytest.raises(InvalidInput):
            expected_version(bad, kind="plan")
    check_version(None, 4, kind="plan")
    check_version(4, 4, kind="plan")
    with pytest.raises(StaleVersion) as stale:
        check_version(3, 4, kind="plan")
    assert status_of(stale.value) == 412
    assert body(stale.value) == {"error": "stale_version", "detail": stale.value.detail, "current": '"plan-v4"'}
