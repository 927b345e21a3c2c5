"""Versions of editable resources as ETags, and the If-Match rule every change follows.

A resource's ``GET`` sends ``ETag: "<kind>-v<version>"``; a change (``PATCH``, ``DELETE``, a state
change) must send the version the caller saw as ``If-Match``: missing → 428
(:class:`~gridmap.errors.PreconditionRequired`), stale → 412 (:class:`~gridmap.errors.StaleVersion`, raised by :func:`gridmap.versions.check_version`).
The stale check itself belongs in storage, under the row lock of the change (``expected_version=``),
so two changes made with one ETag give one success and one 412, never two successes.
"""

from __future__ import annotations

import re

from gridmap.errors import InvalidInput, PreconditionRequired
from gridmap.versions import check_version, etag

__all__ = ["etag", "expected_version", "check_version"]

_TAG = re.compile(r'^(?:W/)?"([a-z][a-z0-9_]*)-v(\d+)"$')


def expected_version(if_match: str | None, *, kind: str, required: bool = True) -> int | None:
    """The version named by an ``If-Match`` header for a ``kind`` resource.

    ``None`` for ``*`` (any version) or, when not ``required``, for a missing header; a missing header
    where it is required is a 428, a tag of another kind or shape a 422 naming the expected form.
    """
    if if_match is None or not if_match.strip():
        if required:
            raise PreconditionRequired(f'this change needs If-Match: the ETag of the {kind} you saw '
                                       f'(e.g. {etag(kind, 1)}); GET it first / 请先读取版本再修改')
        return None
    if if_match.strip() == "*":
        return None
    for part in if_match.split(","):
        found = _TAG.match(part.strip())
        if found and found[1] == kind:
            return int(found[2])
    raise InvalidInput(f"If-Match {if_match.strip()[:80]} is not an ETag of a {kind} "
                       f"(e.g. {etag(kind, 1)})")
