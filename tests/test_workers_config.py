"""`[workers]`: the worker engine needs PostgreSQL, and misconfiguration is one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from tests.conftest import ROOT


@pytest.mark.parametrize("env, message", [
    ({"DIGEST_WORKERS_ENGINE": "celery"}, "[workers] engine: must be embedded or procrastinate"),
    ({"DIGEST_WORKERS_ENGINE": "procrastinate"}, "[workers] engine: procrastinate needs a PostgreSQL store"),
    ({"DIGEST_WORKERS_SHARD_SIZE": "0"}, "[workers] shard_size: must be at least 1"),
    ({"DIGEST_WORKERS_RECOVER_SECONDS": "7"}, "[workers] recover_seconds: must divide 60"),
    ({"DIGEST_WORKERS_STALLED_SECONDS": "5"}, "[workers] stalled_seconds: must be greater than heartbeat_seconds"),
])
def test_bad_workers_settings_name_the_key(env, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(ROOT / "config.toml", environ={"DIGEST_STORE_URL": "sqlite:///x.db", **env})


def test_worker_without_the_procrastinate_engine_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DIGEST_STORE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIGEST_SECRET_KEY": "k" * 32}
    done = subprocess.run([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), "worker"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "[workers] engine: workers need \"procrastinate\"" in done.stderr


def test_an_unreachable_postgres_is_one_line(tmp_path):
    from tests.sink import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/digest"  # nobody listens there
    env = {"PATH": "/usr/bin:/bin", "DIGEST_STORE_URL": url, "DIGEST_WORKERS_ENGINE": "procrastinate",
           "DIGEST_SECRET_KEY": "k" * 32}
    for command in (["worker"], ["send"]):
        done = subprocess.run([sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml"), *command],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: cannot open store postgresql")


@pytest.mark.parametrize("key, minutes, ok", [
    ("SCHEDULE_TICK_MINUTES", "7", False), ("SCHEDULE_TICK_MINUTES", "15", True),
    ("FEEDS_POLL_MINUTES", "90", False), ("FEEDS_POLL_MINUTES", "120", True),
])
def test_worker_periodic_intervals_must_be_cron_expressible(key, minutes, ok):
    """procrastinate runs the cluster's periodic work by cron: `*/7` would fire at :56 and again at :00."""
    from digest.config import cron_every

    environ = {"DIGEST_STORE_URL": "postgresql+psycopg://u@h/db", "DIGEST_WORKERS_ENGINE": "procrastinate",
               f"DIGEST_{key}": minutes}
    if ok:
        settings = load_settings(ROOT / "config.toml", environ=environ)
        section, name = key.lower().split("_", 1)
        assert cron_every(getattr(getattr(settings, section), name)) in ("*/15 * * * *", "0 */2 * * *")
    else:
        with pytest.raises(ConfigError, match=rf"\[{key.split('_')[0].lower()}\] .*must divide an hour"):
            load_settings(ROOT / "config.toml", environ=environ)
    assert load_settings(ROOT / "config.toml", environ={**environ, "DIGEST_WORKERS_ENGINE": "embedded",
                                                        "DIGEST_STORE_URL": "sqlite:///x.db"})  # any interval


def test_the_old_section_name_scale_is_still_read(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[scale]\nshard_size = 250\n')
    assert load_settings(config, environ={}).workers.shard_size == 250
    assert load_settings(config, environ={"DIGEST_SCALE_CONCURRENCY": "5"}).workers.concurrency == 5
    config.write_text('[scale]\nshard_size = 250\n[workers]\nshard_size = 300\n')
    with pytest.raises(ConfigError, match=r"\[scale\] is the old name of \[workers\]"):
        load_settings(config, environ={})
