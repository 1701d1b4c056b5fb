"""The dry run is the real send path on a scratch store through a recording mailer: it gives every reader
the variant and the articles a real send gives them, and leaves the store exactly as it was."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlmodel import select

from digest import store
from digest.lock import exclusive
from digest.models import Delivery, DeliveryItem, Subscriber
from digest.pipeline import DryRunMailer, dry_run_day, run_day
from digest.pipeline.plan import edition_plans, plan_edition
from digest.send import RecordingMailer
from tests.conftest import NOW, store_state
from tests.factories import seed, subscriber

pytestmark = pytest.mark.store

READERS = [  # different preferences: formats, topics, countries, caps; one matches nothing and is skipped
    subscriber("html@example.com", name="Html Reader"),
    subscriber("text@example.com", name="Text Reader", format="text"),
    subscriber("sport@example.com", topics=["sport"]),
    subscriber("three@example.com", max_items=3),
    subscriber("japan@example.com", countries=["Japan"], topics=["science", "politics"]),
    subscriber("nothing@example.com", topics=["gardening"]),
    subscriber("held@example.com", name="Held Reader"),
]


def seeded(engine, *, planned_first: bool, settings) -> None:
    seed(engine, NOW, subscribers=0)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, subscribers=[s.model_copy() for s in READERS], now=NOW)
    if planned_first:  # rows already planned, and one reader unsubscribes before the send: held at send time
        plan_edition(engine, settings, edition_plans(settings, NOW.date())[0], now=NOW)
        with store.session_scope(engine) as session:
            sub = session.exec(select(Subscriber).where(Subscriber.email == "held@example.com")).one()
            sub.status = "unsubscribed"


def dry(engine, settings):
    mailer, lines = DryRunMailer(), []
    reports = dry_run_day(engine, settings, NOW.date(), clock=lambda: NOW, on_line=lines.append, mailer=mailer)
    sent = {r.recipient: (r.variant, list(r.article_ids)) for r in mailer.sent}
    skipped = {line.email: line.skipped for line in lines if line.skipped}
    return reports, lines, sent, skipped


def real_rows(engine):
    """email → (status, variant, article ids in order, error) of every delivery of the edition."""
    with store.read_session(engine) as session:
        rows = session.exec(select(Delivery, Subscriber.email).join(Subscriber)).all()
        items = session.exec(select(DeliveryItem).order_by(DeliveryItem.delivery_id, DeliveryItem.position)).all()
    articles: dict[int, list[int]] = {}
    for item in items:
        articles.setdefault(item.delivery_id, []).append(item.article_id)
    return {email: (str(d.status), d.variant_key, articles.get(d.id, []), d.error) for d, email in rows}


@pytest.mark.parametrize("planned_first", [False, True], ids=["fresh", "planned"])
def test_dry_run_and_real_send_give_every_reader_the_same_variant_and_items(engine, settings, planned_first):
    seeded(engine, planned_first=planned_first, settings=settings)
    earlier = {e for e, (status, *_) in real_rows(engine).items() if status == "skipped"}  # not this run's
    reports, lines, sent, skipped = dry(engine, settings)

    mailer = RecordingMailer()
    [real] = asyncio.run(run_day(engine, settings, mailer, NOW.date(), clock=lambda: NOW))
    rows = real_rows(engine)
    real_sent = {e: (v, ids) for e, (status, v, ids, _) in rows.items() if status == "sent"}
    assert sent == real_sent == {m.recipient: (m.variant, list(m.article_ids)) for m in mailer.messages}
    assert len({v for v, _ in sent.values()}) >= 4  # the readers really differ
    real_skipped = {e: error for e, (status, _, _, error) in rows.items() if status == "skipped" and e not in earlier}
    assert set(skipped) == set(real_skipped)
    assert ("nothing@example.com" in skipped) != planned_first and ("held@example.com" in skipped) == planned_first
    for email, reason in skipped.items():
        assert real_skipped[email].startswith(reason)  # at send time the row's reason says so ("… at send time")
    assert reports[0].key == real.key and reports[0].counts == {"would send": len(sent), "would skip": len(skipped)}
    assert reports[0].variants == real.variants and reports[0].inlined == real.inlined
    assert len(lines) == len(sent) + len(skipped)


def test_dry_run_leaves_the_store_byte_identical(engine, settings, smtpd):
    seeded(engine, planned_first=True, settings=settings)
    engine.dispose()
    url = settings.store.url
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite") else None
    files = sorted(os.listdir(os.path.dirname(path))) if path else None
    mtime = os.stat(path).st_mtime_ns if path else None
    before = store_state(url)
    readonly = store.open_engine(url, readonly=True)
    reports, lines, sent, _ = dry(readonly, settings)
    readonly.dispose()
    assert sent and reports[0].counts["would send"] == len(sent)
    assert store_state(url) == before  # SQLite: the file's bytes; PostgreSQL: every row and every sequence
    if path:  # nor its time; no lock file; only the empty -wal/-shm that any read-only reader leaves
        assert os.stat(path).st_mtime_ns == mtime
        new = set(os.listdir(os.path.dirname(path))) - set(files)
        assert new <= {"digest.db-wal", "digest.db-shm"}
        assert "digest.db-wal" not in new or os.path.getsize(f"{path}-wal") == 0
    assert smtpd.handler.messages == [] and smtpd.handler.ehlo_names == []
    with exclusive(engine, "sender"), exclusive(engine, "planner"):  # no lock left behind
        pass


def test_the_dry_runs_lines_come_as_recorded_and_none_is_kept(engine, settings):
    """A million readers must not mean a million records held: the dry run's own mailer keeps none, each line
    goes to `on_line` while the edition is still being sent, and the counts are still each edition's."""
    seeded(engine, planned_first=False, settings=settings)
    mailer, lines, during = DryRunMailer(keep=False), [], []
    mailer_send = mailer.send

    async def send(message):
        during.append(len(lines))  # lines already handed over when this message is recorded
        return await mailer_send(message)

    mailer.send = send
    [report] = dry_run_day(engine, settings, NOW.date(), clock=lambda: NOW, on_line=lines.append, mailer=mailer)
    sent = [line for line in lines if not line.skipped]
    assert mailer.sent == [] and len(sent) == len(during) >= 4
    assert during == [during[0] + i for i in range(len(during))]  # each send's line out before the next send
    assert report.counts == {"would send": len(sent), "would skip": len(lines) - len(sent)}
