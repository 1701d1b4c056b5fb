"""The REST API's tables: its keys (`apikey`: add, find by the hash of a key, list, revoke, the last use), the
stored answers of idempotent POSTs (`apirequest`) and the import jobs (`apiimport`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from digest.models import ApiImport, ApiKey, ApiRequest


def add_key(session: Session, *, name: str, key_hash: str, scopes: str, now: datetime) -> ApiKey | None:
    """A new key; None when a key (revoked or not) has that name already."""
    if find_key(session, name=name) is not None:
        return None
    row = ApiKey(name=name, key_hash=key_hash, scopes=scopes, created_at=now)
    try:
        with session.begin_nested():  # two creates of one name at once: the unique index decides
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def find_key(session: Session, *, name: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.name == name)).first()


def key_by_hash(session: Session, *, key_hash: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.name)))


def revoke_key(session: Session, *, name: str, now: datetime) -> bool:
    """False when no unrevoked key has that name."""
    result = session.exec(update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                          .values(revoked_at=now))
    return result.rowcount > 0


def touch_key(session: Session, *, key_id: int, now: datetime, before: datetime) -> None:
    """Record a use at `now`, unless one was recorded after `before` (not a write on every request)."""
    session.exec(update(ApiKey).where(ApiKey.id == key_id,
                                      (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < before))
                 .values(last_used_at=now))


def find_request(session: Session, *, api_key_id: int, key_hash: str) -> ApiRequest | None:
    return session.exec(select(ApiRequest).where(ApiRequest.api_key_id == api_key_id,
                                                 ApiRequest.key_hash == key_hash)).first()


def forget_requests(session: Session, *, api_key_id: int, key_hash: str | None = None,
                    before: datetime) -> int:
    """Delete the stored answers made before `before` (of one Idempotency-Key, or all of the API key's)."""
    query = delete(ApiRequest).where(ApiRequest.api_key_id == api_key_id, ApiRequest.created_at < before)
    if key_hash is not None:
        query = query.where(ApiRequest.key_hash == key_hash)
    return session.exec(query).rowcount


def save_request(session: Session, *, api_key_id: int, key_hash: str, request_hash: str, status_code: int,
                 body: str, now: datetime) -> bool:
    """Store an answer; False when one is stored for that key already (two requests at once: the first stays)."""
    row = ApiRequest(api_key_id=api_key_id, key_hash=key_hash, request_hash=request_hash, status_code=status_code,
                     body=body, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def add_import(session: Session, *, api_key_id: int, now: datetime) -> ApiImport:
    row = ApiImport(api_key_id=api_key_id, status="queued", created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def set_import(session: Session, *, import_id: int, now: datetime, **values) -> None:
    """status, total, counts, error of an import job."""
    session.exec(update(ApiImport).where(ApiImport.id == import_id).values(updated_at=now, **values))


def import_by_id(session: Session, *, import_id: int) -> ApiImport | None:
    return session.get(ApiImport, import_id)
