"""What the REST API keeps about its requests: the answers of POSTs sent with an `Idempotency-Key` (replayed
for 24 hours for the same key and body; the same key with another body is refused), and the CSV imports it
runs in the background (`POST /api/v1/imports`: queued, running, then done with the counts of
`digest subscribers import`, or failed with its error).

A job runs in a thread of the web process that took it: a restart while it runs leaves it `running` (the import
itself is one transaction: all its rows or none were stored; send the file again).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import InputError
from digest.operations import subscribers as subscriber_ops
from digest.operations.api_common import ApiProblem, fields, invalid, not_found

log = logging.getLogger("digest.api")
REPLAY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255
IMPORT_FIELDS = ("id", "status", "total", "counts", "error", "created_at", "updated_at")


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str  # JSON


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def request_hash(method: str, path: str, body: bytes) -> str:
    return _sha(method.encode() + b" " + path.encode() + b"\n" + body)


def check_idempotency_key(value: str) -> str:
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise invalid("Idempotency-Key", f"expected 1-{MAX_IDEMPOTENCY_KEY} printable characters")
    return value


def stored_answer(engine: Engine, *, api_key_id: int, key: str, fingerprint: str,
                  now: datetime) -> StoredAnswer | None:
    """The answer given to this API key's request with that Idempotency-Key in the last 24 hours (an older one
    is forgotten); a 422 when that request had another method, path or body."""
    with store.session_scope(engine) as session:
        store.api_keys.forget_requests(session, api_key_id=api_key_id, before=now - REPLAY_WINDOW)
        row = store.api_keys.find_request(session, api_key_id=api_key_id, key_hash=_sha(key))
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise ApiProblem(422, "idempotency_conflict", "Idempotency-Key: used before with another request "
                             "(method, path or body); use a new key for a new request", "Idempotency-Key")
        return StoredAnswer(row.status_code, row.body)


def remember_answer(engine: Engine, *, api_key_id: int, key: str, fingerprint: str, status_code: int, body: str,
                    now: datetime) -> None:
    with store.session_scope(engine) as session:
        store.api_keys.save_request(session, api_key_id=api_key_id, key_hash=_sha(key), request_hash=fingerprint,
                                    status_code=status_code, body=body, now=now)


def queue_import(engine: Engine, *, api_key_id: int, now: datetime) -> dict:
    """A new import job, `queued`: the caller runs `run_import` for it."""
    with store.session_scope(engine) as session:
        return fields(store.api_keys.add_import(session, api_key_id=api_key_id, now=now), IMPORT_FIELDS)


def import_status(engine: Engine, import_id: int) -> dict:
    with store.read_session(engine) as session:
        row = store.api_keys.import_by_id(session, import_id=import_id)
        found = None if row is None else fields(row, IMPORT_FIELDS)
    if found is None:
        raise not_found(f"import {import_id}")
    return found


def run_import(settings: Settings, engine: Engine, import_id: int, body: bytes, *,
               clock: Callable[[], datetime]) -> None:
    """The job: the CSV imported as `digest subscribers import` does (one transaction; a bad row rejects the
    file), its outcome recorded on the job."""
    _set(engine, import_id, clock(), status="running")
    try:
        with tempfile.TemporaryDirectory(prefix="digest-api-import-") as folder:
            path = Path(folder) / f"api-import-{import_id}.csv"
            path.write_bytes(body)
            report = subscriber_ops.import_subscribers(settings, path, now=clock(), engine=engine)
    except InputError as exc:
        lines = str(exc).replace(str(Path(folder)) + "/", "").splitlines()
        _set(engine, import_id, clock(), status="failed", error="\n".join(lines[:20]))
        return
    except Exception as exc:  # noqa: BLE001 - recorded on the job; the web process goes on
        log.exception("API import %s failed", import_id)
        _set(engine, import_id, clock(), status="failed", error=f"internal error: {type(exc).__name__}")
        return
    _set(engine, import_id, clock(), status="done", total=report.total,
         counts={**report.counts, "unknown_topics": report.unknown_topics})


def _set(engine: Engine, import_id: int, now: datetime, **values) -> None:
    with store.session_scope(engine) as session:
        store.api_keys.set_import(session, import_id=import_id, now=now, **values)
