"""The console's pages on a big store: the overview, an edition with 1,000,000 deliveries (HTML and JSON), the
readers search over 1,000,000 readers (a rare, a common and an unmatched address prefix) and one reader's page.

    .venv/bin/python benchmarks/console.py [--deliveries 1000000] [--readers 1000000] [--items 8] [--rebuild]
        [--page overview|edition|json|readers|reader] [--only WORD] [--runs 5] [--cold-runs 1]
        [--profile | --profile-cold]

The store is built once with bulk SQL (INSERT ... SELECT over recursive CTEs, not the ORM) and kept under
var/bench/ (reused by the next run while its parameters are the same; migrated to the current schema on open).
It holds:
  - 1,000,000 readers (one in 1,000 with an address starting "rare", the others "reader..."), each with one
    subscription;
  - 30 daily editions: today's with `--deliveries` deliveries (97% sent, the rest skipped, bounced, failed,
    deferred, unknown, over 200 content variants) and `--items` delivery items each but the skipped ones (8:
    7,840,000 rows), and 29 earlier ones with `--other-deliveries` deliveries each (20,000; no items: the
    overview does not read them);
  - counted clicks on 5% of today's sent deliveries (one or two each: 72,000).
Each page is requested through Starlette's TestClient with a logged-in session (the whole HTTP handling): once on
a fresh engine and app ("cold": SQLite's page cache empty, the OS's file cache not, no click figures kept; the
templates compiled by the app's start, as under `digest serve`; `--cold-runs N`: N new apps, the median), then
5 times ("warm", the median printed). Each with its CPU time: on shared cores the wall time also counts other
jobs' turns.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
BASE = "https://news.example.com/digest"
ADMIN, PASSWORD = "bench-admin@example.com", "bench password of the console"
TARGET_MS = 300
ARTICLES, VARIANTS, DAYS = 200, 200, 30
BUILD_VERSION = 1  # bump when the data below changes: a cached store of another version is rebuilt


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def settings_for(url: str):
    from digest.config import load_settings

    environ = {"DIGEST_STORE_URL": url, "DIGEST_SECRET_KEY": "bench-console-secret-0123456789abcdef",
               "DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_SCHEDULE_SEND_AT": "07:00"}
    return load_settings(ROOT / "config.toml", environ=environ)


# ── the store ────────────────────────────────────────────────────────────────────────────────────────────────

SERIES = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) "
READERS_SQL = ("INSERT INTO subscriber (id, email, name, status, topics, countries, frequency, send_at, timezone, "
               "max_items, format, created_at, updated_at, consent_at, consent_source) " + SERIES +
               "SELECT i, CASE WHEN i % 1000 = 0 THEN printf('rare%07d@example.org', i) "
               "ELSE printf('reader%07d@example.com', i) END, printf('Reader %d', i), "
               "CASE WHEN i % 997 = 0 THEN 'unsubscribed' ELSE 'active' END, '[\"politics\"]', '[]', 'daily', "
               "'07:00', 'UTC', 10, 'html', ?, ?, ?, 'import' FROM s")
SUBSCRIPTIONS_SQL = ("INSERT INTO subscription (subscriber_id, newsletter, status, created_at, updated_at, source) "
                     "SELECT id, ?, 'active', created_at, created_at, 'import' FROM subscriber")
# per 1,000 deliveries: 5 bounced, 3 failed, 2 deferred, 1 unknown, 20 skipped, the rest sent
STATUS = ("CASE WHEN i % 1000 < 5 THEN 'bounced' WHEN i % 1000 < 8 THEN 'failed' WHEN i % 1000 < 10 THEN 'deferred' "
          "WHEN i % 1000 < 11 THEN 'unknown' WHEN i % 1000 < 31 THEN 'skipped' ELSE 'sent' END")
DELIVERIES_SQL = (
    "INSERT INTO delivery (edition_id, subscriber_id, status, attempts, smtp_code, smtp_reply, message_id, "
    "variant_key, error, created_at, updated_at, sent_at) " + SERIES +
    "SELECT ?, i, st, 1, CASE st WHEN 'sent' THEN 250 WHEN 'bounced' THEN 550 WHEN 'failed' THEN 554 "
    "WHEN 'deferred' THEN 451 ELSE NULL END, CASE st WHEN 'sent' THEN printf('250 2.0.0 Ok: queued as %X', i) "
    "WHEN 'bounced' THEN '550 5.1.1 <reader> user unknown' WHEN 'failed' THEN '554 5.7.1 rejected' "
    "WHEN 'deferred' THEN '451 4.7.1 try again later' ELSE NULL END, "
    "CASE WHEN st = 'skipped' THEN NULL ELSE printf('<%d.%d@news.example.com>', ?, i) END, "
    "CASE WHEN st = 'skipped' THEN NULL ELSE printf('%016x', 1000003 * (i % " + str(VARIANTS) + " + 1)) END, "
    "CASE st WHEN 'skipped' THEN 'nothing new: every matching story was already sent to this subscriber' "
    "WHEN 'bounced' THEN '550 5.1.1 user unknown' WHEN 'failed' THEN '554 5.7.1 rejected' "
    "WHEN 'deferred' THEN '451 4.7.1 try again later' WHEN 'unknown' THEN 'connection lost after DATA' END, "
    "?, ?, CASE WHEN st = 'skipped' THEN NULL ELSE ? END FROM (SELECT i, " + STATUS + " AS st FROM s)")
# item k of a delivery of variant v: article (7v + 13k) mod 200 + 1 (distinct for k < 8), top for k < 5
ARTICLE = f"((7 * d.v + 13 * k.k) % {ARTICLES} + 1)"
ITEMS_SQL = (
    "INSERT INTO deliveryitem (delivery_id, article_id, story_key, section, position, score, why) "
    "WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < ? - 1) "
    "SELECT d.id, " + ARTICLE + ", 'story-' || " + ARTICLE + ", CASE WHEN k.k < 5 THEN 'top' ELSE 'trending' END, k.k, 1.0 - k.k / 10.0, "
    "json_object('score', 1.0 - k.k / 10.0, 'filters', 'topic politics', 'mmr_rank', k.k) "
    "FROM (SELECT id, subscriber_id % " + str(VARIANTS) + " AS v FROM delivery "
    "WHERE edition_id = ? AND variant_key IS NOT NULL) AS d, k ORDER BY d.id, k.k")
CLICKS_SQL = ("INSERT INTO countedclick (delivery_id, article_id, clicked_at) "
              "SELECT i.delivery_id, i.article_id, ? FROM deliveryitem AS i JOIN delivery AS d ON d.id = i.delivery_id "
              "WHERE d.edition_id = ? AND d.status = 'sent' AND d.subscriber_id % 20 = 0 "
              "AND (i.position = 0 OR (i.position = 2 AND d.subscriber_id % 40 = 0))")


def build(path: Path, args) -> None:
    """A new store at `path`, its schema made by digest, its rows by bulk SQL."""
    from benchmarks.run import headline
    from digest import store

    settings = settings_for(f"sqlite:///{path}")
    store.open_engine(settings.store.url).dispose()  # the schema, stamped at the head revision
    letter = settings.newsletter().key
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    t = stamp(NOW - timedelta(days=60))
    db.execute(READERS_SQL, (args.readers, t, t, t))
    db.execute(SUBSCRIPTIONS_SQL, (letter,))
    db.executemany("INSERT INTO article (id, url, guid, title, summary, body, source, country, topics, published_at, "
                   "updated_at, content_hash) VALUES (?, ?, ?, ?, 'What happened.', '', ?, 'United States', "
                   "'[\"politics\"]', ?, ?, ?)",
                   [(i, f"https://news.example.com/a/{i}", f"g{i}", headline(i), f"Outlet {i % 7}",
                     stamp(NOW - timedelta(hours=3 + i % 20)), stamp(NOW - timedelta(hours=3)), str(i))
                    for i in range(1, ARTICLES + 1)])
    for back in range(DAYS - 1, -1, -1):
        day = DAY - timedelta(days=back)
        cutoff = datetime(day.year, day.month, day.day, 7, tzinfo=timezone.utc)
        edition = db.execute("INSERT INTO edition (key, newsletter, period, date, cutoff_at, status, created_at, "
                             "started_at, finished_at, deadline_at) VALUES (?, ?, 'daily', ?, ?, 'done', ?, ?, ?, ?)",
                             (f"{letter}:{day}", letter, day.isoformat(), stamp(cutoff), stamp(cutoff), stamp(cutoff),
                              stamp(cutoff + timedelta(hours=1)), stamp(cutoff + timedelta(hours=12)))).lastrowid
        n = args.deliveries if back == 0 else args.other_deliveries
        db.execute(DELIVERIES_SQL, (n, edition, edition, stamp(cutoff), stamp(cutoff + timedelta(minutes=30)),
                                    stamp(cutoff + timedelta(minutes=30))))
    db.execute(ITEMS_SQL, (args.items, edition))
    db.execute(CLICKS_SQL, (stamp(NOW), edition))
    db.commit()
    db.close()


def store_for(args) -> Path:
    """The cached store for these parameters (built when absent or asked), migrated to the current schema."""
    from digest import store
    from digest.store.migrate import upgrade

    name = f"console-v{BUILD_VERSION}-{args.deliveries}-{args.other_deliveries}-{args.items}-{args.readers}.db"
    path = ROOT / "var" / "bench" / name
    if args.rebuild or not path.with_suffix(".done").exists():
        for stale in path.parent.glob(name + "*"):
            stale.unlink()
        path.with_suffix(".done").unlink(missing_ok=True)
        start = time.perf_counter()
        build(path, args)
        path.with_suffix(".done").write_text(f"built in {time.perf_counter() - start:.0f} s\n")
        print(f"built {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    engine = store.open_engine(f"sqlite:///{path}", upgrading=True)
    upgrade(engine)
    engine.dispose()
    return path


# ── the pages ────────────────────────────────────────────────────────────────────────────────────────────────

PAGES = {"overview": "overview", "edition": "edition page", "json": "edition JSON", "readers": "readers search", "reader": "a reader's page"}


def pages(settings, path: Path) -> list[tuple[str, str]]:
    """(what, path) of every page measured."""
    db = sqlite3.connect(path)
    slug, = db.execute("SELECT replace(key, ':', '-') FROM edition ORDER BY id DESC LIMIT 1").fetchone()
    reader, = db.execute("SELECT subscriber_id FROM delivery WHERE status = 'bounced' ORDER BY id LIMIT 1").fetchone()
    db.close()
    return [("overview (30 days of editions)", "/admin/"),
            ("edition page, its deliveries", f"/admin/editions/{slug}"),
            ("edition JSON", f"/admin/editions/{slug}.json"),
            ("readers search, rare prefix (1 in 1,000)", "/admin/readers?q=rare"),
            ("readers search, common prefix (all but 1 in 1,000)", "/admin/readers?q=reader"),
            ("readers search, prefix matching nobody", "/admin/readers?q=nobody"),
            ("a reader's page", f"/admin/readers/{reader}")]


def logged_in(settings):
    """A TestClient on a fresh engine and app, logged in as the benchmark's admin."""
    from starlette.testclient import TestClient

    from digest import store
    from digest.send import RecordingMailer
    from digest.web import create_app

    engine = store.open_engine(settings.store.url)
    client = TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW), base_url=BASE,
                        follow_redirects=False)
    client.__enter__()
    form = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = client.post("/admin/login", data={"email": ADMIN, "password": PASSWORD, "csrf": csrf})
    if done.status_code != 303:
        raise SystemExit(f"cannot log in: {done.status_code}")
    return client, engine


def timed(client, url: str) -> tuple[float, float]:
    """(wall, CPU) seconds of GET `url`: the CPU time of this process (the app runs in its threads), which
    other jobs on the same cores inflate much less than the wall time."""
    start, cpu = time.perf_counter(), time.process_time()
    response = client.get(url)
    took = time.perf_counter() - start, time.process_time() - cpu
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.text[:300]}")
    return took


def measure(settings, url: str, runs: int = 5) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """((cold wall, CPU), [(warm wall, CPU) of each of `runs` requests]) seconds of GET `url` on a new app."""
    client, engine = logged_in(settings)
    try:
        cold = timed(client, url)
        warm = [timed(client, url) for _ in range(runs)]
    finally:
        client.__exit__(None, None, None)
        engine.dispose()
    return cold, warm


def profiled(settings, url: str, *, cold: bool = False) -> None:
    """cProfile's top of one warm GET `url` (`cold`: the first), printed to stderr: a profiler in every thread of
    a new client (its event loop's and the threadpool's, where the app runs), cleared after the login (and a
    first request when warm)."""
    import cProfile, os, pstats, threading  # noqa: E401

    profilers = []

    def hook(*_):
        profilers.append(cProfile.Profile())
        profilers[-1].enable()  # replaces this hook in that thread

    threading.setprofile(hook)
    client, engine = logged_in(settings)
    try:
        if not cold:
            client.get(url)
        for profiler in profilers:
            profiler.clear()
        client.get(url)
    finally:
        threading.setprofile(None)
        client.__exit__(None, None, None)
        engine.dispose()
    print(f"-- cProfile of a {'cold' if cold else 'warm'} GET {url} ({len(profilers)} threads)", file=sys.stderr)
    for profiler in profilers:
        profiler.create_stats()
    busy = [p for p in profilers if p.stats]  # a thread that ran nothing in that request has none
    pstats.Stats(*busy, stream=sys.stderr).sort_stats(os.environ.get("PSORT", "cumulative")).print_stats(45)


def ensure_admin(settings) -> None:
    from digest import store
    from digest.operations import admin as ops

    engine = store.open_engine(settings.store.url)
    try:
        if not any(a.email == ADMIN for a in ops.list_users(settings, engine=engine)):
            ops.add_user(settings, ADMIN, role="admin", password=PASSWORD, now=NOW, engine=engine)
    finally:
        engine.dispose()


def rows(args) -> list[tuple[str, str]]:
    """The figures, as (what, "cold X ms, warm Y ms (target 300 ms)") rows: what benchmarks/run.py prints."""
    args.readers = max(args.readers, args.deliveries)
    path = store_for(args)
    settings = settings_for(f"sqlite:///{path}")
    ensure_admin(settings)
    found = []
    wanted = [word for word in (PAGES.get(args.page or ""), args.only) if word]
    for what, url in pages(settings, path):
        if not all(word in what for word in wanted):
            continue
        colds, warms = [], []
        for n in range(args.cold_runs):  # each on a new app and engine; the warm requests after the first
            cold, warm = measure(settings, url, runs=args.runs if n == 0 else 0)
            colds.append(cold)
            warms.extend(warm)
        cold, cold_cpu = (statistics.median(c[i] for c in colds) for i in (0, 1))
        warm, cpu = (statistics.median(w[i] for w in warms) for i in (0, 1))
        if args.profile or args.profile_cold:
            profiled(settings, url, cold=args.profile_cold)
        colds_note = f", median of {len(colds)}" if len(colds) > 1 else ""
        verdict = "ok" if max(cold, warm) * 1000 <= TARGET_MS else "MISSED"
        found.append((f"console, {what} ({args.deliveries:,} deliveries, {args.readers:,} readers)",
                      f"cold {cold * 1000:,.0f} ms (CPU {cold_cpu * 1000:,.0f} ms{colds_note}), warm {warm * 1000:,.0f} ms, "
                      f"warm CPU {cpu * 1000:,.0f} ms "
                      f"(target {TARGET_MS} ms: {verdict})"))
    return found


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="the console's pages on a big store")
    parser.add_argument("--deliveries", type=int, default=1_000_000, help="today's edition's deliveries")
    parser.add_argument("--other-deliveries", type=int, default=20_000, help="each earlier edition's deliveries")
    parser.add_argument("--items", type=int, default=8, help="delivery items per delivery of today's edition")
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="build the store again even if cached")
    parser.add_argument("--page", choices=sorted(PAGES), help="measure only this page (readers: the 3 searches)")
    parser.add_argument("--only", help="measure only the pages whose row names this word")
    parser.add_argument("--runs", type=int, default=5, help="warm requests per page (their median printed)")
    parser.add_argument("--cold-runs", type=int, default=1, help="cold requests per page, each on a new app (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile one more warm request of each page")
    parser.add_argument("--profile-cold", action="store_true", help="cProfile a cold request of each page instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    from benchmarks.run import print_table

    print_table("digest console benchmark", rows(parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
