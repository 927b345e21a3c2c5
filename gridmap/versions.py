"""Versions of editable resources and their ETags: one rule for every kind (plans, events, staff...).

A resource's ``GET`` answers ``ETag: "<kind>-v<version>"``; a change must name the version the
caller saw (HTTP ``If-Match``, parsed in ``api/etag.py``). Storage compares it with
:func:`check_version` under the row lock of the change, so two changes made from one version give
one success and one :class:`~gridmap.errors.StaleVersion` (412), never a silent overwrite.
"""

from __future__ import annotations

from gridmap.errors import StaleVersion

__all__ = ["etag", "check_version"]


def etag(kind: str, version: int) -> str:
    """The ETag of version ``version`` of a ``kind`` resource, e.g. ``"plan-v7"``."""
    return f'"{kind}-v{int(version)}"'


def check_version(seen: int | None, current: int, *, kind: str) -> None:
    """Raise :class:`StaleVersion` when the caller saw another version than ``current`` (None: any)."""
    if seen is not None and seen != current:
        raise StaleVersion(f"the {kind} changed since you read it (you saw version {seen}, it is now "
                           f"{current}); read it again / 已被他人修改，请刷新后重试",
                           current=etag(kind, current))
