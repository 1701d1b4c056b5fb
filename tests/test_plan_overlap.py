"""Planning in a forked child while the sender sends (`[send] plan_process`, `pipeline.planner`): on the
session's real PostgreSQL server every reader still gets exactly one delivery and one message, a stopped run
leaves the edition unfinished rather than done, and a dry run stays side-effect free."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from digest import store
from digest.pipeline import DryRunMailer, dry_run_day, plan, planner
from digest.send import SmtpMailer
from tests.conftest import NOW, PG_ABSENT, store_state
from tests.factories import edition_counts, seed, send_day
from tests.pg import BIN

KEY = "digest:2026-11-27"


@pytest.fixture
def backend():
    return "postgres"


@pytest.fixture
def overlap(smtp_settings, monkeypatch):
    """Settings with the planning child on, and pages of 7 readers (so the sender meets the child mid-way)."""
    pages = plan.due_pages
    monkeypatch.setattr(plan, "due_pages", lambda session, p, emails, page=1000: pages(session, p, emails, page=7))
    return replace(smtp_settings, send=replace(smtp_settings.send, plan_process="on", batch_size=10))


def _deliveries_per_reader(engine) -> dict[int, int]:
    with store.read_session(engine) as session:
        edition = store.editions.find_edition(session, key=KEY)
        rows = store.delivery_status.edition_counts(session, edition_id=edition.id)
        ids = [s.id for s in store.subscribers.list_subscribers(session)] if rows else []
        found = store.deliveries.planned_subscriber_ids(session, edition_id=edition.id, subscriber_ids=ids)
    return {i: int(i in found) for i in ids}


@pytest.mark.skipif(BIN is None, reason=PG_ABSENT)
def test_every_reader_gets_one_delivery_and_one_message_with_planning_overlapped(engine, overlap, smtpd,
                                                                                 monkeypatch):
    assert engine.dialect.name == "postgresql"
    children, child = [], planner.PlanProcess
    monkeypatch.setattr(planner, "PlanProcess", lambda *a, **kw: children.append(child(*a, **kw)) or children[-1])
    seed(engine, NOW, subscribers=40)
    [report] = send_day(engine, overlap)
    assert len(children) == 1 and children[0].outcome[:2] == ("planned", 40)  # the child planned everyone
    assert report.planned == 40 and report.counts == {"sent": 40}
    assert sorted(r for m in smtpd.handler.messages for r in m.rcpt_tos) == sorted(
        f"reader{i}@example.com" for i in range(1, 41))
    assert set(_deliveries_per_reader(engine).values()) == {1}
    with store.read_session(engine) as session:
        assert str(store.editions.find_edition(session, key=KEY).status) == "done"
    [again] = send_day(engine, overlap)  # nothing planned, nothing sent twice
    assert again.planned == 0 and again.attempted == 0 and len(smtpd.handler.messages) == 40


@pytest.mark.skipif(BIN is None, reason=PG_ABSENT)
def test_a_run_stopped_while_the_child_plans_waits_for_it_and_the_next_sends_everyone_once(engine, overlap, smtpd):
    seed(engine, NOW, subscribers=40)
    stop = threading.Event()
    stop.set()  # the producer stops before its first claim, the child still planning
    [report] = send_day(engine, overlap, stop=stop)
    assert report.interrupted and report.planned == 40 and smtpd.handler.messages == []
    assert edition_counts(engine) == {"queued": 40}
    with store.read_session(engine) as session:
        assert str(store.editions.find_edition(session, key=KEY).status) != "done"
    [rest] = send_day(engine, overlap)
    assert rest.counts == {"sent": 40} and len(smtpd.handler.messages) == 40
    assert set(_deliveries_per_reader(engine).values()) == {1}


@pytest.mark.skipif(BIN is None, reason=PG_ABSENT)
def test_what_the_child_plans_past_the_deadline_expires(engine, overlap, smtpd):
    seed(engine, NOW, subscribers=40)
    [report] = send_day(engine, overlap, clock=lambda: NOW + timedelta(hours=7), due_at=NOW)
    assert report.planned == 40 and edition_counts(engine) == {"expired": 40} and smtpd.handler.messages == []


@pytest.mark.skipif(BIN is None, reason=PG_ABSENT)
def test_a_dry_run_with_planning_overlapped_writes_nothing(engine, overlap, smtpd):
    seed(engine, NOW, subscribers=12)
    before = store_state(overlap.store.url)
    readonly = store.open_engine(overlap.store.url, readonly=True)
    lines = []
    [report] = dry_run_day(readonly, overlap, NOW.date(), clock=lambda: NOW, on_line=lines.append)
    readonly.dispose()
    assert report.counts == {"would send": 12} and len(lines) == 12
    assert store_state(overlap.store.url) == before and smtpd.handler.messages == []


def test_auto_plans_in_a_child_on_postgresql_only_and_never_in_a_dry_run(tmp_path, smtp_settings):
    sqlite = store.open_engine(f"sqlite:///{tmp_path / 'auto.db'}")
    smtp = SmtpMailer(smtp_settings.smtp, local_hostname="news.example.com")
    auto = replace(smtp_settings, send=replace(smtp_settings.send, plan_process="auto"))
    on = replace(auto, send=replace(auto.send, plan_process="on"))
    assert not planner.wanted(sqlite, auto, smtp)
    assert planner.wanted(sqlite, on, smtp)
    assert not planner.wanted(sqlite, replace(auto, send=replace(auto.send, plan_process="off")), smtp)
    assert not planner.wanted(sqlite, on, DryRunMailer())  # a dry run's store is one handle: never shared
    with sqlite.connect() as conn:  # nor a connection (PostgreSQL's scratch store)
        assert not planner.wanted(conn, on, smtp)
    sqlite.dispose()


def test_planning_overlapped_on_sqlite_still_sends_everyone_once(tmp_path, overlap, smtpd):
    sqlite = store.open_engine(f"sqlite:///{tmp_path / 'overlap.db'}")
    seed(sqlite, NOW, subscribers=25)
    [report] = send_day(sqlite, overlap)
    assert report.planned == 25 and report.counts == {"sent": 25} and len(smtpd.handler.messages) == 25
    assert edition_counts(sqlite) == {"sent": 25}
    sqlite.dispose()
