"""The daemon's log carries the project's own lines, not APScheduler's internals, and each feed error once
(issue 13, "Also"). A real `digest run` process polls two broken feeds: a refused connection and a real HTTP
server answering 404."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time


from tests.conftest import ROOT


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daemon_log(tmp_path, httpserver, **extra) -> tuple[str, list[str]]:
    httpserver.expect_request("/missing.xml").respond_with_data("gone", status=404)
    feeds = [f"http://127.0.0.1:{closed_port()}/feed.xml", httpserver.url_for("/missing.xml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"DIGEST_STORE_URL": f"sqlite:///{tmp_path / 'digest.db'}", "DIGEST_SECRET_KEY": "daemon-log-key-" * 3,
                "DIGEST_SMTP_TLS": "none", "DIGEST_SCHEDULE_TIMEZONE": "UTC", **extra})
    digest = [sys.executable, "-m", "digest", "--config", str(ROOT / "config.toml")]
    for url in feeds:
        subprocess.run([*digest, "feeds", "add", url], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*digest, "subscribers", "add", "reader@example.com"], env=env, check=True, capture_output=True,
                   timeout=60)
    proc = subprocess.Popen([*digest, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, deadline = "", time.monotonic() + 60
    try:
        while not all(url in output for url in feeds) and time.monotonic() < deadline and proc.poll() is None:
            output += proc.stdout.readline()
        time.sleep(1)  # whatever the poll would still log about them
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output + rest
    return output + rest, feeds


def test_the_daemon_logs_its_own_lines_and_each_feed_error_once(tmp_path, httpserver):
    log, feeds = daemon_log(tmp_path, httpserver)
    lines = [line for line in log.splitlines() if line.strip()]
    assert "apscheduler" not in log and "Added job" not in log and "executed successfully" not in log, log
    assert any("digest daemon: checking send times every 5 min" in line for line in lines), log
    for url in feeds:
        mentions = [line for line in lines if url in line]
        assert len(mentions) == 1, (url, mentions)
        assert mentions[0].count(url) == 1, mentions[0]  # "feed URL: reason", not the URL twice
    assert "Traceback" not in log


def test_the_daemon_log_as_json_is_one_object_per_line_from_the_project(tmp_path, httpserver):
    log, feeds = daemon_log(tmp_path, httpserver, DIGEST_LOG_FORMAT="json")
    events = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
    assert events and all(e["logger"].startswith("digest") for e in events), events
    for url in feeds:
        assert sum(url in e["msg"] for e in events) == 1
    assert any(e["level"] == "warning" and feeds[1] in e["msg"] and "404" in e["msg"] for e in events), events
