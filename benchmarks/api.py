"""REST API speed, in process (Starlette's TestClient on the real app, a fresh SQLite store, no network):

    .venv/bin/python benchmarks/api.py                    # 10,000 subscribers
    .venv/bin/python benchmarks/api.py --subscribers 2000 # quicker

Prints: a walk over every subscriber in cursor pages of 200; single GETs by id (each with the key checked);
sign-ups through POST /subscribers (pending, confirmation queued, sent to a recording mailer); a CSV import
of as many rows through POST /imports, until its job is done.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from starlette.testclient import TestClient  # noqa: E402

from digest import store  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.models import Subscriber  # noqa: E402
from digest.operations.api_keys import create_key  # noqa: E402
from digest.send import RecordingMailer  # noqa: E402
from digest.web import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def timed(label: str, n: int, unit: str, started: float) -> None:
    took = time.perf_counter() - started
    print(f"{label:<44} {n:>7} {unit} in {took:6.2f} s  ({n / took:8.0f} {unit}/s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    n = parser.parse_args().subscribers
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-api-"))
    settings = load_settings(ROOT / "config.toml", environ={
        "DIGEST_STORE_URL": f"sqlite:///{folder / 'bench.db'}", "DIGEST_SECRET_KEY": "b" * 40,
        "DIGEST_API_RATE_LIMIT": "1000000/minute", "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email")})
    engine = store.open_engine(settings.store.url)
    with store.session_scope(engine) as session:
        store.subscribers.upsert_subscribers(session, now=NOW, subscribers=[
            Subscriber(email=f"reader{i:06}@example.com", name=f"Reader {i}") for i in range(n)])
    key = create_key(settings, name="bench", scopes="subscribers:read,subscribers:write", now=NOW,
                     engine=engine).key
    client = TestClient(create_app(settings, engine, mailer=RecordingMailer()), base_url=settings.sender.base_url)
    auth = {"Authorization": f"Bearer {key}"}
    print(f"python {platform.python_version()}, {n} subscribers, SQLite")

    started, seen, cursor = time.perf_counter(), 0, ""
    while True:
        page = client.get(f"/api/v1/subscribers?limit=200{cursor}", headers=auth).json()
        seen += len(page["subscribers"])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == n
    timed("GET /subscribers, pages of 200", seen, "subscribers", started)

    gets = min(n, 1000)
    started = time.perf_counter()
    for i in range(1, gets + 1):
        assert client.get(f"/api/v1/subscribers/{i}", headers=auth).status_code == 200
    timed("GET /subscribers/{id}", gets, "requests", started)

    posts = min(n, 500)
    started = time.perf_counter()
    for i in range(posts):
        assert client.post("/api/v1/subscribers", headers=auth,
                           json={"email": f"new{i:06}@example.com", "consent": {"source": "bench"}}).status_code == 201
    timed("POST /subscribers (pending + confirmation)", posts, "requests", started)

    csv = "email,name\n" + "".join(f"import{i:06}@example.com,Imported {i}\n" for i in range(n))
    started = time.perf_counter()
    job = client.post("/api/v1/imports", headers=auth, content=csv.encode()).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.02)
        job = client.get(f"/api/v1/imports/{job['id']}", headers=auth).json()
    assert job["status"] == "done", job
    timed("POST /imports until the job is done", n, "rows", started)


if __name__ == "__main__":
    main()
