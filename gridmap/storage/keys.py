"""API keys: stored as SHA-256 hashes, shown once when created."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection, func, insert, select, update

from gridmap.errors import InvalidInput, Unauthorized
from gridmap.storage.schema import KEY_ROLES, api_key


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, role: str, *, label: str | None = None) -> str:
    """Create a key for ``role`` and return it (the only time it is visible)."""
    if role not in KEY_ROLES:
        raise InvalidInput(f"role {role!r} is unknown; choose one of {list(KEY_ROLES)}")
    key = "gm_" + secrets.token_urlsafe(24)
    conn.execute(insert(api_key).values(prefix=key[:7], key_hash=_hash(key), role=role, label=label))
    return key


def role_for_key(conn: Connection, key: str) -> str:
    k = api_key.c
    role = conn.execute(select(k.role).where((k.key_hash == _hash(key)) & k.revoked_at.is_(None))).scalar()
    if role is None:
        raise Unauthorized("API key unknown or revoked")
    return role


def revoke_key(conn: Connection, prefix: str) -> int:
    k = api_key.c
    result = conn.execute(update(api_key).where((k.prefix == prefix) & k.revoked_at.is_(None))
                          .values(revoked_at=func.now()))
    return result.rowcount
