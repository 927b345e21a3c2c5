"""API keys: stored as SHA-256 hashes, shown once when created."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection, text

from gridmap.errors import InvalidInput, Unauthorized
from gridmap.storage.schema import KEY_ROLES



def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, role: str, label: str | None = None) -> str:
    """Create a key for ``role`` and return it (the only time it is visible)."""
    if role not in KEY_ROLES:
        raise InvalidInput(f"role {role!r} is unknown; choose one of {list(KEY_ROLES)}")
    key = "gm_" + secrets.token_urlsafe(24)
    conn.execute(
        text("INSERT INTO api_key (prefix, key_hash, role, label) VALUES (:p, :h, :r, :l)"),
        {"p": key[:7], "h": _hash(key), "r": role, "l": label},
    )
    return key


def role_for_key(conn: Connection, key: str) -> str:
    row = conn.execute(
        text("SELECT role FROM api_key WHERE key_hash = :h AND revoked_at IS NULL"), {"h": _hash(key)}
    ).first()
    if row is None:
        raise Unauthorized("API key unknown or revoked")
    return row.role


def revoke_key(conn: Connection, prefix: str) -> int:
    result = conn.execute(
        text("UPDATE api_key SET revoked_at = now() WHERE prefix = :p AND revoked_at IS NULL"), {"p": prefix}
    )
    return result.rowcount
