"""`digest send` shows its progress as people expect (issue 13, "Also"): a live bar with count, rate and ETA on a
terminal (a real pseudo-terminal here), plain progress lines without one, a summary per edition, and `--json`.
Every run sends through a real aiosmtpd server."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from digest import store
from tests.conftest import NOW, ROOT
from tests.factories import seed
from tests.smtpd import ThreadedSMTPServer

DAY = NOW.date().isoformat()
READERS = 40


@pytest.fixture
def relay():
    with ThreadedSMTPServer() as server:
        yield server


@pytest.fixture
def env(tmp_path, relay):
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = store.open_engine(url)
    seed(engine, NOW, subscribers=READERS)
    engine.dispose()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return {**clean, "DIGEST_STORE_URL": url, "DIGEST_SECRET_KEY": "progress-test-key-" * 3,
            "DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(relay.port),
            "DIGEST_SMTP_TLS": "none", "DIGEST_SEND_BATCH_SIZE": "5", "COLUMNS": "150", "TERM": "xterm"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), "send", "--date", DAY, *args]


def test_without_a_terminal_progress_is_plain_lines_and_the_summary_one_line_per_edition(env, relay, tmp_path):
    done = subprocess.run(command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(relay.handler.messages) == READERS
    progress = [line for line in done.stderr.splitlines() if line.startswith(f"digest:{DAY}:")]
    assert progress[0] == f"digest:{DAY}: {READERS} to send"
    steps = [re.fullmatch(rf"digest:{DAY}: (\d+)/{READERS}, [\d.]+ msg/s, ETA (\d+:\d\d:\d\d|\?)", line)
             for line in progress[1:]]
    assert len(steps) >= 3 and all(steps), progress
    assert int(steps[-1][1]) == READERS and steps[-1][2] == "0:00:00"
    assert "\x1b[" not in done.stderr + done.stdout  # no terminal codes in a log file
    summary, = [line for line in done.stdout.splitlines() if line.startswith(f"digest:{DAY}:")]
    assert re.fullmatch(rf"digest:{DAY}: {READERS} sent \({READERS} attempted now in [\d.]+ s, [\d.]+ msg/s, "
                        r"\d+ variants, \d+ inlined\)", summary), summary


def test_json_is_one_document_with_each_edition(env, relay, tmp_path):
    done = subprocess.run(command("--json"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # stdout is the document and nothing else; progress went to stderr
    assert doc["date"] == DAY and doc["clean"] is True
    edition, = doc["editions"]
    assert edition["edition"] == f"digest:{DAY}" and edition["counts"] == {"sent": READERS}
    assert edition["attempted"] == READERS and edition["seconds"] > 0 and edition["rate_per_second"] > 0
    assert f"digest:{DAY}: {READERS}/{READERS}" in done.stderr

    again = subprocess.run(command("--json"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout)["editions"][0]["attempted"] == 0 and len(relay.handler.messages) == READERS
    dry = subprocess.run(command("--json", "--dry-run"), env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert dry.returncode == 0 and json.loads(dry.stdout)["dry_run"] is True


def test_on_a_terminal_a_bar_shows_count_rate_and_eta_then_a_summary_table(env, relay, tmp_path):
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(command(), env=env, cwd=tmp_path, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert proc.wait(timeout=120) == 0
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert len(relay.handler.messages) == READERS
    assert re.search(rf"digest:{DAY}\s.*{READERS}/{READERS}\s+[\d.]+ msg/s\s+\d+:\d\d:\d\d\s+ETA\s+\d+:\d\d:\d\d", screen), \
        screen
    assert "digest send" in screen and "┃ edition" in screen  # the summary table's title and header
    row = next(line for line in screen.splitlines() if f"digest:{DAY}" in line and "│" in line)
    assert re.search(rf"│ digest:{DAY}\s+│ {READERS}\s+│ {READERS}\s+│ {READERS}\s+│", row), row
