"""What a broken relay costs: 1,500 readers against smtp-sink refusing every RCPT (550 5.1.1, 500 5.3.0) or
dropping after every message, a closed port, a listener that never greets (100 readers, 2 s timeout) and a
421 greeting. Prints, for each, the seconds `run_day` took, the delivery and reader statuses, and its one line.

    .venv/bin/python benchmarks/relay_faults.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import select  # noqa: E402

from tests.sink import SmtpSink  # noqa: E402
from digest import store  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.models import Subscriber  # noqa: E402
from tests.conftest import NOW, ROOT  # noqa: E402
from tests.factories import edition_counts, seed, send_day  # noqa: E402
from tests.relays import TcpRelay, closed_port  # noqa: E402

STORMS = [("550 5.1.1 on every RCPT", ["-f", "RCPT", "-B", "550 5.1.1 <x>: Recipient address rejected: User unknown"]),
          ("500 5.3.0 on every RCPT", ["-f", "RCPT"]), ("a drop after every final dot", ["-q", "."])]


def fresh(readers: int = 1500):
    folder = tempfile.mkdtemp(prefix="relay-faults-")
    settings = load_settings(None, environ={
        "DIGEST_STORE_URL": f"sqlite:///{folder}/digest.db", "DIGEST_SECRET_KEY": "k" * 32,
        "DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_TLS": "none",
        "DIGEST_SMTP_TIMEOUT": "2", "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email")})
    engine = store.open_engine(settings.store.url)
    seed(engine, NOW, subscribers=readers)
    return engine, settings


def run(label: str, engine, settings, port: int) -> None:
    settings = replace(settings, smtp=replace(settings.smtp, port=port))
    started = time.monotonic()
    try:
        send_day(engine, settings)
        line = "(no stop)"
    except Exception as exc:  # noqa: BLE001 — the run's one line is what we show
        line = str(exc)
    took = time.monotonic() - started
    with store.read_session(engine) as session:
        found = [str(s) for s in session.exec(select(Subscriber.status))]
    print(f"{label}: {took:.1f} s, deliveries {edition_counts(engine)}, readers "
          f"{ {s: found.count(s) for s in sorted(set(found))} }\n    {line[:200]}", flush=True)


def main() -> None:
    for label, options in STORMS:
        engine, settings = fresh()
        with SmtpSink(options) as sink:
            run(label, engine, settings, sink.port)
    engine, settings = fresh()
    run("connection refused", engine, settings, closed_port())
    engine, settings = fresh(100)
    with TcpRelay() as silent:
        run("a listener that never greets (100 readers, 2 s timeout)", engine, settings, silent.port)
    print(f"    connections it accepted: {silent.accepted}")
    engine, settings = fresh()
    with TcpRelay(b"421 4.3.2 Service not available") as busy:
        run("421 greeting", engine, settings, busy.port)
    print(f"    connections it accepted: {busy.accepted}")


if __name__ == "__main__":
    main()
