"""API keys, site scopes and the audit trail: the stored side (tables ``api_keys``, ``audit_log``).

Keys are random tokens (``ww_`` + 32 bytes from :func:`secrets.token_urlsafe`, 256 bits of
entropy). The database stores only their SHA-256 digest. A slow password hash (bcrypt,
argon2) exists to make guessing *low-entropy* human passwords expensive; a 256-bit random
token cannot be guessed whatever the hash, so a fast digest is as safe here, lets the key
table be looked up by an indexed digest (a salted bcrypt hash cannot be), and keeps every
request free of a ~100 ms bcrypt cost.

What each role may see or do is decided by :mod:`wastewater.access` (one policy table for
every path); this module only stores keys, resolves tokens to a
:class:`wastewater.access.Principal` and writes the audit log. The API (``api.security``), the
dashboard and the CLI all call it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from wastewater.access import KEY_ROLES, Principal
from wastewater.storage import tables

ROLES = ("public", "viewer", "lab", "analyst", "admin")
"""Roles of a caller with a valid key or none (``wastewater.access.ROLES`` adds ``revoked``)."""
TOKEN_PREFIX = "ww_"
BOOTSTRAP_NAME = "bootstrap-admin"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (see module docstring for why not bcrypt)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token, 256 bits of entropy."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# -- table access (tables: wastewater.storage.tables.api_keys / audit_log) --------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_sites(raw: Any) -> frozenset[str] | None:
    """``sites_json`` → scope; ``[]``/null means no scope (all sites)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not raw:
        return None
    return frozenset(str(s) for s in raw)


def create_key(engine: sa.Engine, name: str, role: str, sites: Iterable[str] | None = None,
               *, actor: str | None = None) -> str:
    """Create an API key and return its token (shown once; only its SHA-256 digest is stored).

    Parameters
    ----------
    engine : sqlalchemy.Engine
    name : str
        Human-readable key name (1-100 characters); it is the actor in the audit log.
    role : {"viewer", "lab", "analyst", "admin"}
    sites : iterable of str, optional
        Site scope; ``None`` or empty = all sites.
    actor : str, optional
        Who creates the key, for the audit log (default ``"cli"``).

    Returns
    -------
    str
        The token to give to the client.
    """
    return create_key_record(engine, name, role, sites, actor=actor)[0]


def create_key_record(engine: sa.Engine, name: str, role: str, sites: Iterable[str] | None = None,
                      *, actor: str | None = None) -> tuple[str, dict[str, Any]]:
    """As :func:`create_key`, returning ``(token, key metadata)``; writes an audit row."""
    if role not in KEY_ROLES:
        raise ValueError(f"role must be one of {KEY_ROLES}, not {role!r}")
    if not name or len(name) > 100:
        raise ValueError("key name must be 1-100 characters")
    token = new_token()
    key_id = "k_" + secrets.token_hex(8)
    scope = sorted(set(sites)) if sites else []
    now = _now()
    with engine.begin() as conn:
        taken = conn.execute(sa.select(tables.api_keys.c.key_id).where(
            tables.api_keys.c.name == name, tables.api_keys.c.revoked_at.is_(None))).first()
        if taken is not None:
            raise KeyNameTaken(name)
        conn.execute(
            tables.api_keys.insert().values(
                key_id=key_id, name=name, key_hash=hash_token(token), role=role,
                sites_json=json.dumps(scope), created_at=now,
            )
        )
        _audit(conn, actor or "cli", "key_created", key_id, {"name": name, "role": role, "sites": scope})
    meta = {"id": key_id, "name": name, "role": role, "sites": scope or None, "created_at": now,
            "revoked": False}
    return token, meta


def _key_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    scope = _parse_sites(m["sites_json"])
    return {
        "id": m["key_id"],
        "name": m["name"],
        "role": m["role"],
        "sites": sorted(scope) if scope else None,
        "created_at": m["created_at"],
        "revoked": m["revoked_at"] is not None,
    }


@functools.lru_cache(maxsize=1)
def _lookup_query() -> sa.Select[Any]:
    """The key lookup statement, built once (it runs on every request with a key)."""
    t = tables.api_keys
    return sa.select(t).where(t.c.key_hash == sa.bindparam("digest"))


def lookup_key(engine: sa.Engine, token: str) -> Principal | None:
    """The principal of an active key, or ``None`` when unknown or revoked."""
    with engine.connect() as conn:
        row = conn.execute(_lookup_query(), {"digest": hash_token(token)}).first()
    if row is None:
        return None
    m = row._mapping
    return key_principal(m["key_id"], m["name"], m["role"], m["sites_json"], m["revoked_at"])


def key_principal(key_id: str | None, name: str | None, role: str | None, sites_json: Any,
                  revoked_at: Any) -> Principal | None:
    """The principal of one stored key row; ``None`` for no row (``key_id`` null) or a revoked key."""
    if key_id is None or revoked_at is not None:
        return None
    scope = _parse_sites(sites_json)
    return Principal(name=str(name), role=str(role), sites=scope, key_id=key_id)


def list_keys(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every key, oldest first (never the token or its digest)."""
    t = tables.api_keys
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.created_at, t.c.key_id)).all()
    return [_key_dict(r) for r in rows]


class KeyNameTaken(ValueError):
    """An active key already has this name (names identify keys in lists and the audit log)."""

    def __init__(self, name: str) -> None:
        self.message_sv = f"det finns redan en aktiv nyckel med namnet {name!r}; välj ett annat namn"
        self.message_en = f"an active key is already named {name!r}; choose another name"
        super().__init__(self.message_en)


class LastAdminKey(ValueError):
    """Revoking this key would leave no active admin key (nobody could manage keys any more)."""

    def __init__(self, key_id: str) -> None:
        self.message_sv = (f"{key_id} är den sista aktiva admin-nyckeln och kan inte återkallas; "
                           "skapa först en ny admin-nyckel")
        self.message_en = (f"{key_id} is the last active admin key and cannot be revoked; "
                           "create another admin key first")
        super().__init__(self.message_en)


def revoke_key(engine: sa.Engine, key_id: str, *, actor: str = "cli") -> bool:
    """Revoke a key (the row stays for the audit trail). ``False`` when unknown or already revoked.

    Raises :class:`LastAdminKey` for the last active admin key.
    """
    t = tables.api_keys
    with engine.begin() as conn:
        row = conn.execute(sa.select(t.c.role).where(t.c.key_id == key_id, t.c.revoked_at.is_(None))).first()
        if row is not None and row._mapping["role"] == "admin":
            n_admins = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.role == "admin", t.c.revoked_at.is_(None))).scalar_one()
            if n_admins <= 1:
                raise LastAdminKey(key_id)
        res = conn.execute(
            sa.update(t).where(t.c.key_id == key_id, t.c.revoked_at.is_(None)).values(revoked_at=_now())
        )
        if res.rowcount:
            _audit(conn, actor, "key_revoked", key_id, {})
    return res.rowcount > 0


def _audit(conn: sa.Connection, actor: str, action: str, target: str | None, detail: Any) -> None:
    t = tables.audit_log
    conn.execute(
        t.insert().values(at=_now(), actor=actor[:200], action=action[:64],
                          target=None if target is None else str(target)[:256],
                          detail_json=json.dumps(detail if detail is not None else {}, default=str))
    )


def audit(engine: sa.Engine, actor: str, action: str, target: str | None, detail: Any = None) -> None:
    """Append one row to ``audit_log`` (every write goes there; after [Prichard2014]_)."""
    with engine.begin() as conn:
        _audit(conn, actor, action, target, detail)


def load_audit(engine: sa.Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Newest audit rows first."""
    t = tables.audit_log
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def bootstrap_matches(configured: str | None, token: str) -> bool:
    """Constant-time comparison with the bootstrap admin token."""
    if not configured:
        return False
    return hmac.compare_digest(configured.encode(), token.encode())


def resolve_token(engine: sa.Engine, token: str | None, bootstrap_token: str | None = None) -> Principal | None:
    """The caller of a request: no token → :data:`wastewater.access.PUBLIC`; the configured
    bootstrap token → admin ``bootstrap-admin``; an active key → its principal; an unknown or
    revoked key → ``None`` (the API answers 401, the dashboard falls back to public).

    The API and the dashboard both resolve keys here.
    """
    known = token_principal(token, bootstrap_token)
    return known if known is not None else lookup_key(engine, token or "")


def token_principal(token: str | None, bootstrap_token: str | None = None) -> Principal | None:
    """The principal a token names without reading the key table: no token →
    :data:`wastewater.access.PUBLIC`, the bootstrap token → admin ``bootstrap-admin``; ``None``
    when the key table must be asked (:func:`lookup_key`, or in one query with a series'
    state: :func:`wastewater.storage.series.key_and_series_state`).
    """
    from wastewater.access import PUBLIC

    if not token:
        return PUBLIC
    if bootstrap_matches(bootstrap_token, token):
        return Principal(name=BOOTSTRAP_NAME, role="admin")
    return None
