"""One structured line per delivery transition: JSON when `[log] format = "json"`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import NOW, ROOT
from tests.factories import seed

pytestmark = pytest.mark.store


def test_send_logs_each_transition_as_json(engine, settings, smtpd, tmp_path):
    seed(engine, NOW, subscribers=3)
    engine.dispose()
    env = {**os.environ, "DIGEST_STORE_URL": settings.store.url, "DIGEST_SECRET_KEY": "k" * 32,
           "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(smtpd.port), "DIGEST_SMTP_TLS": "none",
           "DIGEST_SCHEDULE_TIMEZONE": "UTC", "DIGEST_LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), "send", "-v",
                           "--date", NOW.date().isoformat()], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    transitions = [(e["email"], e["status"]) for e in events if e.get("logger") == "digest.delivery"]
    for i in (1, 2, 3):
        email = f"reader{i}@example.com"
        assert [s for e, s in transitions if e == email] == ["sending", "sent"]
    sent = next(e for e in events if e.get("status") == "sent")
    assert sent["edition"] == "digest:2026-11-27" and sent["smtp_code"] == 250 and "ts" in sent
