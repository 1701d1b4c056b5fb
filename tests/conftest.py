from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from digest import store
from digest.config import load_settings
from tests.smtpd import ThreadedSMTPServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)  # the default edition's send time in tests


@pytest.fixture
def settings(tmp_path):
    environ = {
        "DIGEST_STORE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "DIGEST_SECRET_KEY": "test-secret-key",
        "DIGEST_SCHEDULE_TIMEZONE": "UTC",
        "DIGEST_SCHEDULE_SEND_AT": "07:00",
        "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_TLS": "none",
        "DIGEST_SMTP_TIMEOUT": "5",
        "DIGEST_RENDER_TEMPLATES": str(ROOT / "templates" / "email"),
    }
    return load_settings(ROOT / "config.toml", environ=environ)


@pytest.fixture
def engine(settings):
    eng = store.open_engine(settings.store.url)
    yield eng
    eng.dispose()


@pytest.fixture
def smtpd():
    with ThreadedSMTPServer() as server:
        yield server


@pytest.fixture
def smtp_settings(settings, smtpd):
    """Settings pointing at the test server."""
    return replace(settings, smtp=replace(settings.smtp, port=smtpd.port, connections=2))
