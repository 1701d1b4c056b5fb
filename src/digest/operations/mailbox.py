"""`digest bounces poll` and the daemon's poll job: the bounce mailbox over IMAP (`imapclient`).

Every message of `[bounces] imap_folder` is read as `digest bounces import` reads a file (`operations.bounces`:
delivery status notifications, ARF complaints, mail to the List-Unsubscribe address). What was read moves to
`[bounces] processed_folder` (made if missing) after its changes are committed; what could not be read stays,
with one log line each. A poll interrupted between the commit and the move reads those messages again next
time, which changes nothing more (the deliveries are bounced already, the readers suppressed or gone).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import ConfigError, InputError
from digest.operations.bounces import BounceSummary, apply_messages
from digest.operations.common import engine_for, require_secret

log = logging.getLogger("digest.bounces")
FETCH_BATCH = 100  # messages fetched (and recorded in one transaction) per IMAP command


def poll_bounce_mailbox(settings: Settings, *, now: datetime, engine: Engine | None = None,
                        ssl_context: ssl.SSLContext | None = None) -> BounceSummary:
    """Read the bounce mailbox once; the summary of what it held (`moved`: how many were moved)."""
    require_secret(settings, "it checks the VERP and unsubscribe tokens of the mail it reads")
    b = settings.bounces
    if not b.imap_host or not b.imap_user:
        raise ConfigError("[bounces] imap_host and imap_user are needed to read the bounce mailbox")
    if not settings.inbound.imap_password:
        raise ConfigError("DIGEST_IMAP_PASSWORD is not set: it is the bounce mailbox's password")
    engine = engine or engine_for(settings)
    try:
        with _connect(settings, ssl_context) as client:
            return _poll(client, engine, settings, now)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"bounce mailbox {b.imap_host}:{b.imap_port}: {exc}") from None
    except _imap_errors() as exc:
        raise InputError(f"bounce mailbox {b.imap_host}:{b.imap_port}: {_text(exc)}") from None


def _imap_errors() -> tuple[type[BaseException], ...]:
    from imapclient.exceptions import IMAPClientError

    return (IMAPClientError,)


def _connect(settings: Settings, context: ssl.SSLContext | None):
    from imapclient import IMAPClient

    b = settings.bounces
    context = context or ssl.create_default_context()
    client = IMAPClient(b.imap_host, port=b.imap_port, ssl=b.imap_tls == "ssl", ssl_context=context, timeout=30)
    if b.imap_tls == "starttls":
        client.starttls(context)
    client.login(b.imap_user, settings.inbound.imap_password)
    return client


def _poll(client, engine: Engine, settings: Settings, now: datetime) -> BounceSummary:
    b = settings.bounces
    if not client.folder_exists(b.processed_folder):
        client.create_folder(b.processed_folder)
    client.select_folder(b.imap_folder)
    uids = sorted(client.search("UNDELETED"))
    summary = BounceSummary()
    for start in range(0, len(uids), FETCH_BATCH):
        batch = uids[start:start + FETCH_BATCH]
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        found = [(uid, fetched.get(uid, {}).get(b"BODY[]")) for uid in batch]
        for uid, data in found:
            if not isinstance(data, bytes):
                log.warning("bounce mailbox: message %s could not be fetched: left in %s", uid, b.imap_folder)
        found = [(uid, data) for uid, data in found if isinstance(data, bytes)]
        outcomes = apply_messages(engine, settings, [data for _, data in found], now=now, summary=summary)
        for (uid, _), read in zip(found, outcomes):
            if not read:
                log.warning("bounce mailbox: message %s is not a bounce, a complaint or an unsubscribe request: "
                            "left in %s", uid, b.imap_folder)
        read = [uid for (uid, _), ok in zip(found, outcomes) if ok]
        if read:
            _move(client, read, b.processed_folder)
            summary.moved += len(read)
    return summary


def _move(client, uids: list[int], folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    client.copy(uids, folder)
    client.delete_messages(uids)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)  # only these: never another client's deleted messages
    else:
        client.expunge()


def poll_job(engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> Callable[[], BounceSummary | None]:
    """The daemon's job (every `[bounces] poll_minutes`): one poll; a failure is logged, never raised."""
    def job() -> BounceSummary | None:
        try:
            summary = poll_bounce_mailbox(settings, now=clock(), engine=engine)
        except (ConfigError, InputError) as exc:
            log.error("bounce mailbox not read: %s", exc)
            return None
        except Exception as exc:  # noqa: BLE001 - the store is down, say: try again next time
            log.error("bounce mailbox not read: %s: %s", type(exc).__name__, exc)
            return None
        log.info("bounce mailbox: %s", describe(summary))
        return summary

    return job


def describe(summary: BounceSummary) -> str:
    """One line for the operator (the CLI prints it too)."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.kinds.items())) or "none"
    line = (f"read {summary.messages} messages: {summary.recorded} deliveries marked bounced ({kinds}), "
            f"{len(summary.complained)} complaints, {len(summary.unsubscribed)} unsubscribed by mail, "
            f"{summary.repeated} already recorded, {summary.unmatched} not ours, {summary.ignored} not a failure, "
            f"{summary.unreadable} unreadable")
    if summary.mismatched:
        line += f", {summary.mismatched} naming another recipient (ignored)"
    return line + (f"; {summary.moved} moved" if summary.moved else "")


def _text(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else exc
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)

