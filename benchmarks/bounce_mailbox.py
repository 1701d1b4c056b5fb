"""Bounce mailbox speed: N Postfix-shaped DSNs (each to its own VERP address) read by `digest bounces import` from
an mbox, and by `digest bounces poll` from a real Dovecot over IMAP (fetched, recorded, moved).

    .venv/bin/python benchmarks/bounce_mailbox.py              # 500 reports
    .venv/bin/python benchmarks/bounce_mailbox.py --reports 100

Prints reports per second for each path (a fresh SQLite store each, one `sent` delivery per reader).
"""

from __future__ import annotations

import argparse
import mailbox
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
from digest import store  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.config.sections import InboundSecrets  # noqa: E402
from digest.ingest.bounces import read_mailbox  # noqa: E402
from digest.models import Delivery, DeliveryStatus  # noqa: E402
from digest.operations.bounces import import_bounces  # noqa: E402
from digest.operations.mailbox import poll_bounce_mailbox  # noqa: E402
from digest.tokens import make_token  # noqa: E402
from tests.factories import subscriber  # noqa: E402

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)
FIXTURE = (ROOT / "tests" / "data" / "postfix-dsn.mbox")


def fresh_store(root: Path, name: str, readers: int):
    settings = load_settings(ROOT / "config.toml", environ={"DIGEST_STORE_URL": f"sqlite:///{root / name}.db",
                                                           "DIGEST_SECRET_KEY": "bench-secret-key-0123456789abcdef"})
    engine = store.open_engine(settings.store.url)
    store.migrate.upgrade(engine)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[subscriber(f"r{i}@remote.example")
                                                                   for i in range(readers)], now=NOW)
        edition = store.editions.ensure_edition(session, key="digest:2026-11-26", period="daily", date="2026-11-26",
                                                cutoff_at=NOW, now=NOW, newsletter="digest")
        for i in range(readers):
            sub = store.subscribers.find_subscriber(session, email=f"r{i}@remote.example")
            session.add(Delivery(edition_id=edition.id, subscriber_id=sub.id, status=DeliveryStatus.sent,
                                 message_id=f"<b{i}@news.example.com>", variant_key="v", created_at=NOW,
                                 updated_at=NOW, sent_at=NOW))
    return settings, engine


def reports(settings, engine, count: int) -> list[bytes]:
    template = next(read_mailbox(FIXTURE)).replace(b"5.3.0", b"5.1.1")
    out = []
    with store.read_session(engine) as session:
        for delivery_id in range(1, count + 1):
            ident = store.deliveries.delivery_token_key(session, delivery_id=delivery_id) or ""
            verp = f"bounces+{make_token(settings.secret_key, 'bounce', delivery_id, settings.sender.list_id, ident=ident)}@news.example.com"
            email = store.deliveries.delivery_recipient(session, delivery_id=delivery_id)
            out.append(template.replace(b"root@localhost", verp.encode()).replace(b"reader@remote.example",
                                                                                  email.encode()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=500)
    n = parser.parse_args(argv).reports
    print(f"python {platform.python_version()}, {n} reports")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings, engine = fresh_store(root, "import", n)
        box = mailbox.mbox(str(root / "bounces.mbox"))
        for data in reports(settings, engine, n):
            box.add(data)
        box.flush()
        started = time.perf_counter()
        summary = import_bounces(engine, settings, read_mailbox(root / "bounces.mbox"), now=NOW)
        took = time.perf_counter() - started
        print(f"bounces import (mbox): {summary.recorded} recorded in {took:.2f} s = {n / took:,.0f} reports/s")
        poll(root, n)
    return 0


def poll(root: Path, n: int) -> None:
    from imapclient import IMAPClient

    from tests.dovecot import DOVECOT, Dovecot

    if DOVECOT is None:
        print("bounces poll (IMAP): skipped, dovecot not installed")
        return
    settings, engine = fresh_store(root, "poll", n)
    with Dovecot({"bounces": "pw"}) as server:
        with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
            client.login("bounces", "pw")
            for data in reports(settings, engine, n):
                client.append("INBOX", data)
        imap = replace(settings, inbound=InboundSecrets(imap_password="pw"),
                       bounces=replace(settings.bounces, imap_host="127.0.0.1", imap_port=server.port,
                                       imap_user="bounces", imap_tls="none"))
        started = time.perf_counter()
        summary = poll_bounce_mailbox(imap, now=NOW, engine=engine)
        took = time.perf_counter() - started
    print(f"bounces poll (Dovecot IMAP): {summary.recorded} recorded, {summary.moved} moved in {took:.2f} s "
          f"= {n / took:,.0f} reports/s")


if __name__ == "__main__":
    raise SystemExit(main())
