"""API keys: stored as SHA-256 hashes, shown once when created; browser sessions opened with them.

A key is found by its public prefix and its hash compared in constant time
(:func:`hmac.compare_digest`). A session (``api_session``) stores only the hash of
its random id and the key it was opened with: revoking the key ends its sessions
at once, since every session lookup checks the key's ``revoked_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import Connection, delete, func, insert, select, update

from gridmap.errors import InvalidInput, Unauthorized
from gridmap.storage.schema import KEY_ROLES, api_key, api_session

PREFIX = 7


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(conn: Connection, role: str, *, label: str | None = None) -> str:
    """Create a key for ``role`` and return it (the only time it is visible)."""
    if role not in KEY_ROLES:
        raise InvalidInput(f"role {role!r} is unknown; choose one of {list(KEY_ROLES)}")
    key = "gm_" + secrets.token_urlsafe(24)
    conn.execute(insert(api_key).values(prefix=key[:PREFIX], key_hash=_hash(key), role=role, label=label))
    return key


def _live_key(conn: Connection, key: str) -> dict:
    """The unrevoked key row (id, role) matching ``key``; hashes compared in constant time."""
    k = api_key.c
    digest = _hash(key)
    found = None
    for row in conn.execute(select(k.id, k.role, k.key_hash)
                            .where((k.prefix == key[:PREFIX]) & k.revoked_at.is_(None))).mappings():
        if hmac.compare_digest(row["key_hash"], digest):
            found = row
    if found is None:
        raise Unauthorized("API key unknown or revoked / API 密钥无效或已吊销")
    return {"id": found["id"], "role": found["role"]}


def role_for_key(conn: Connection, key: str) -> str:
    return _live_key(conn, key)["role"]


def revoke_key(conn: Connection, prefix: str) -> int:
    k = api_key.c
    result = conn.execute(update(api_key).where((k.prefix == prefix) & k.revoked_at.is_(None))
                          .values(revoked_at=func.now()))
    return result.rowcount


# ---------------------------------------------------------------- browser sessions


def open_session(conn: Connection, key: str, *, ttl_s: float) -> tuple[str, str]:
    """Sign in with ``key``: a new random session id (returned once, never stored) and the key's role."""
    found = _live_key(conn, key)
    session_id = secrets.token_urlsafe(32)
    conn.execute(insert(api_session).values(id_hash=_hash(session_id), key_id=found["id"],
                                            expires_at=func.now() + timedelta(seconds=ttl_s)))
    return session_id, found["role"]


def role_for_session(conn: Connection, session_id: str) -> str:
    """The role of a live session (unexpired, its key unrevoked), else Unauthorized."""
    s, k = api_session.c, api_key.c
    row = conn.execute(select(k.role, s.id_hash).join_from(api_session, api_key, k.id == s.key_id)
                       .where((s.id_hash == _hash(session_id)) & (s.expires_at > func.now())
                              & k.revoked_at.is_(None))).mappings().first()
    if row is None or not hmac.compare_digest(row["id_hash"], _hash(session_id)):
        raise Unauthorized("session expired or signed out; sign in again at /maps/login "
                           "/ 会话已失效，请重新登录")
    return row["role"]


def close_session(conn: Connection, session_id: str) -> int:
    """Sign out: the session is deleted (expired ones of any key too)."""
    s = api_session.c
    conn.execute(delete(api_session).where(s.expires_at <= func.now()))
    return conn.execute(delete(api_session).where(s.id_hash == _hash(session_id))).rowcount
