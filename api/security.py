"""API keys, roles and the audit trail as the API uses them.

Keys are stored and resolved by :mod:`wastewater.storage.keys` (also used by the dashboard and
the CLI; the module docstring there says why a SHA-256 digest, not bcrypt); what each role may
see or do is decided by :mod:`wastewater.access`. This module only names them for the routes.
"""

from __future__ import annotations

from wastewater.access import KEY_ROLES, PUBLIC, Principal  # noqa: F401 - THE policy's principal
from wastewater.storage.keys import (  # noqa: F401 - the routes' names for the key store
    BOOTSTRAP_NAME,
    ROLES,
    TOKEN_PREFIX,
    KeyNameTaken,
    LastAdminKey,
    audit,
    bootstrap_matches,
    create_key,
    create_key_record,
    hash_token,
    list_keys,
    load_audit,
    lookup_key,
    new_token,
    resolve_token,
    revoke_key,
)
