"""digest as a package, not a checkout (issue 13, item 14).

The wheel is built from this repository and installed into a fresh virtual environment (its dependencies are
borrowed from the test environment through a .pth file, so nothing is downloaded); `digest demo` then runs in an
empty directory with no config file and no `digest` on PATH, and every command it prints runs as printed.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

PLAIN_PATH = "/usr/bin:/bin"  # no virtual environment on it: `digest` alone would not be found


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this repository installed (not editable); returns its bin/ directory."""
    tmp = tmp_path_factory.mktemp("package")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel, = (tmp / "dist").glob("digest-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the test environment's packages, but not its editable digest (a path in a .pth is not scanned for .pth files)
    Path(purelib, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    where = subprocess.run([python, "-c", "import digest; print(digest.__file__)"], check=True, capture_output=True,
                           text=True, cwd=tmp).stdout
    assert where.startswith(purelib), where  # the installed copy, not the checkout's src/
    return venv / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_") and k != "VIRTUAL_ENV"}
    return {**env, "PATH": PLAIN_PATH, **extra}


def hints(stdout: str) -> dict[str, str]:
    """The commands the demo prints: `status:`, `pages:`, `send:` lines, without the trailing (comment)."""
    found = {}
    for line in stdout.splitlines():
        if m := re.match(r"^(status|pages|send|console):\s+(.*?)(\s{2}\(.*\))?$", line):
            found[m[1]] = m[2]
    return found


def messages(var: Path):
    box = mailbox.Maildir(str(var / "outbox"), factory=None, create=False)
    return [BytesParser(policy=policy.default).parsebytes(box.get_bytes(key)) for key in box.keys()]


def test_installed_digest_runs_the_demo_in_an_empty_directory_and_its_hints_run(installed, tmp_path):
    empty = tmp_path / "somewhere-else"
    empty.mkdir()
    port = free_port()
    env = clean_env(DIGEST_WEB_PORT=str(port))
    demo = subprocess.run([installed / "digest", "demo"], cwd=empty, env=env, capture_output=True, text=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stdout + demo.stderr
    sent = messages(empty / "var")
    assert len(sent) >= 20 and (empty / "var" / "preview.html").is_file()

    # the links in the emails lead to the local `digest serve`, as they are
    base = f"http://127.0.0.1:{port}/"
    for msg in sent:
        https = [u for u in re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"])) if not u.startswith("mailto:")]
        assert https and all(u.startswith(base) for u in https), msg["List-Unsubscribe"]
    html = next(m for m in sent if m.get_content_type() == "multipart/alternative").get_body(("html",)).get_content()
    page_links = [u for u in re.findall(r'href="([^"]+)"', html) if "/archive/" in u or "/p/" in u or "/u/" in u]
    assert page_links and all(u.startswith(base) for u in page_links), page_links

    found = hints(demo.stdout)
    assert set(found) == {"status", "pages", "send", "console"}, demo.stdout
    account = subprocess.run(["bash", "-c", found["console"]], cwd=empty, env=env, capture_output=True, text=True,
                             input="a demo password of mine\n", timeout=120)
    assert account.returncode == 0 and "added you@example.com (admin)" in account.stdout, account.stderr
    status = subprocess.run(["bash", "-c", found["status"]], cwd=empty, env=env, capture_output=True, text=True,
                            timeout=120)
    assert status.returncode == 0 and "morning:" in status.stdout and "woche:" in status.stdout, \
        status.stdout + status.stderr
    send = subprocess.run(["bash", "-c", found["send"]], cwd=empty, env=env, capture_output=True, text=True,
                          timeout=120)
    assert send.returncode == 0, send.stdout + send.stderr
    assert len(messages(empty / "var")) == len(sent)  # nothing sent twice

    serve = subprocess.Popen(["bash", "-c", found["pages"]], cwd=empty, env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert serve.poll() is None, serve.communicate()
            assert time.monotonic() < deadline, "digest serve did not answer"
            time.sleep(0.3)
        for link in page_links + [https[0]]:
            answer = httpx.get(link.replace("&amp;", "&"), timeout=10)
            assert answer.status_code == 200, (link, answer.status_code)
        archives = re.findall(r"^archive:\s+(\S+)", demo.stdout, re.MULTILINE)
        assert len(archives) == 2, demo.stdout  # the demo's two newsletters publish their archives
        for url in archives + [archives[0] + "feed.xml"]:
            answer = httpx.get(url, timeout=10)
            assert answer.status_code == 200 and "/n/" in answer.text, (url, answer.status_code)
        with httpx.Client(base_url=base, timeout=10) as browser:  # the account the printed command made logs in
            form = browser.get("admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            done = browser.post("admin/login", data={"email": "you@example.com", "password": "a demo password of mine",
                                                     "csrf": csrf})
            assert done.status_code == 303, done.text
            assert browser.get("admin/plan").status_code == 200
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)  # the session this test started: bash and its digest serve
        serve.wait(timeout=30)


def test_the_demo_store_is_readable_by_its_owner_only(installed, tmp_path):
    old = os.umask(0o022)  # a usual umask: without care, new files would be readable by everyone
    try:
        done = subprocess.run([installed / "digest", "demo"], cwd=tmp_path, env=clean_env(), capture_output=True,
                              text=True, timeout=300)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "var").glob("digest.db*"))
    assert {"digest.db", "digest.db-wal", "digest.db-shm", "digest.db.sender.lock"} <= set(files), files
    for name in files + ["secret.key"]:
        mode = (tmp_path / "var" / name).stat().st_mode & 0o777
        assert mode == 0o600, (name, oct(mode))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_the_runtime_dependencies_only(tmp_path):
    """In a clone with no .venv yet: `make demo` installs `.`, `make test` installs `.[test]`."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)

    def plan(target: str) -> list[str]:
        done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]

    demo = plan("demo")
    assert demo and all("[test]" not in line for line in demo), demo
    assert any(re.search(r"pip install .*(-e \.|\s\.)$", line) for line in demo), demo
    assert any("'.[test]'" in line for line in plan("test"))
