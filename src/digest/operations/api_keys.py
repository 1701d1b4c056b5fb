"""The REST API's keys: `digest api-keys create | list | revoke`, and what every API request asks first: whose
key is this, and may it do that.

A key is `dk_` and 32 random bytes (URL-safe base64), shown once when it is made; the store keeps its SHA-256
only (models/api.py says why that is enough for a random key, where a password needs argon2). A key is found
by the hash of the key presented, so a wrong key costs one index lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.models import API_SCOPES, ApiKey
from digest.operations.common import engine_for

PREFIX = "dk_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_KEY = 200  # longer bearer tokens are not ours: refused before hashing
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def doc(self) -> dict:
        """What `digest api-keys list --json` prints (never the key, nor its hash)."""
        return {"name": self.name, "scopes": list(self.scopes), "created_at": self.created_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at}

    def may(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class CreatedKey:
    info: ApiKeyInfo
    key: str  # shown once, never stored


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(row.id, row.name, tuple(s for s in row.scopes.split(",") if s), row.created_at,
                      row.last_used_at, row.revoked_at)


def parse_scopes(value: str) -> tuple[str, ...]:
    """`--scopes a,b`: each a known scope; one line naming a wrong one (InputError)."""
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    for name in names:
        if name not in API_SCOPES:
            raise InputError(f"--scopes: unknown scope {name!r} (choose from {', '.join(API_SCOPES)})")
    if not names:
        raise InputError(f"--scopes: name at least one of {', '.join(API_SCOPES)}")
    return names


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InputError(f"--name: expected 1-64 letters, digits, '.', '_' or '-', got {name!r}")
    return name


def create_key(settings: Settings, *, name: str, scopes: str, now: datetime,
               engine: Engine | None = None) -> CreatedKey:
    """A new key named `name` with `scopes`; a duplicate name (even of a revoked key) is one line."""
    name, chosen = check_name(name), parse_scopes(scopes)
    key = PREFIX + secrets.token_urlsafe(32)
    with store.session_scope(engine or engine_for(settings)) as session:
        row = store.api_keys.add_key(session, name=name, key_hash=key_hash(key), scopes=",".join(chosen), now=now)
        if row is None:
            raise InputError(f"--name: a key named {name!r} exists already (names are never reused)")
        return CreatedKey(_info(row), key)


def list_keys(settings: Settings, *, engine: Engine | None = None) -> list[ApiKeyInfo]:
    with store.read_session(engine or engine_for(settings, readonly=True)) as session:
        return [_info(row) for row in store.api_keys.list_keys(session)]


def revoke_key(settings: Settings, name: str, *, now: datetime, engine: Engine | None = None) -> str:
    with store.session_scope(engine or engine_for(settings)) as session:
        if not store.api_keys.revoke_key(session, name=name, now=now):
            raise InputError(f"NAME: no key named {name!r} that is not revoked already")
    return name


def authenticate(engine: Engine, key: str, *, now: datetime) -> ApiKeyInfo | None:
    """The unrevoked key presented, its use recorded (at most once a minute); None for anything else."""
    if not key.startswith(PREFIX) or len(key) > MAX_KEY:
        return None
    with store.session_scope(engine) as session:
        row = store.api_keys.key_by_hash(session, key_hash=key_hash(key))
        if row is None or row.revoked_at is not None:
            return None
        if row.last_used_at is None or row.last_used_at < now - TOUCH_EVERY:
            store.api_keys.touch_key(session, key_id=row.id, now=now, before=now - TOUCH_EVERY)
        return _info(row)
