"""Screenshots of the console's pages for docs/console/, from the demo's store: `python scripts/console_screenshots.py`.

Runs `digest demo` in a temporary directory, makes an admin account with a random password (never printed or
kept), starts `digest serve` on a free port, logs in with Debian's Chromium (Playwright) and saves one PNG per
page at 1280 px wide, and the plan page at 390 px. Nothing outside the temporary directory is touched but
docs/console/.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "console"
DIGEST = str(Path(sys.executable).with_name("digest"))
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], cwd: Path, env: dict, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work, port = Path(tmp), free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
        env.update(DIGEST_WEB_PORT=str(port), DIGEST_SENDER_BASE_URL=base)
        run([DIGEST, "demo"], work, env)
        config = ["--config", "var/demo-config.toml"]
        env["DIGEST_SECRET_KEY"] = (work / "var" / "secret.key").read_text().strip()
        password = secrets.token_urlsafe(18)
        run([DIGEST, *config, "admin", "add-user", "editor@example.com", "--role", "admin"], work, env,
            input=password + "\n")
        server = subprocess.Popen([DIGEST, *config, "serve"], cwd=work, env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(base + "/healthz", server)
            shoot(base, password)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(f"screenshots in {OUT}")


def wait_for(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"digest serve stopped: {server.stderr.read().decode()[-500:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    sys.exit("digest serve did not answer")


def shoot(base: str, password: str) -> None:
    admin = base + "/admin"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(admin + "/login")
        page.get_by_label("Email address").fill("editor@example.com")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(admin + "/")
        pages = {"overview": admin + "/", "plan-index": admin + "/plan", "feeds": admin + "/feeds"}
        for name, url in pages.items():
            page.goto(url)
            page.wait_for_timeout(500)  # the charts draw
            page.screenshot(path=OUT / f"{name}.png", full_page=True)
        page.goto(admin + "/plan")
        plan = page.get_by_role("link", name=re.compile(r"^morning:\d")).nth(1)  # tomorrow's: still open
        plan.click()
        page.locator("button", has_text="Pin to Top").nth(4).click()  # steer it a little
        page.get_by_label("Note (Markdown", exact=False).fill("**Good morning.** Polls close at 8 tonight: "
                                                               "[our guide](https://news.example.com/guide).")
        page.get_by_role("button", name="Save the note").click()
        page.wait_for_timeout(500)
        page.screenshot(path=OUT / "plan.png", full_page=True)
        page.goto(admin + "/")
        page.get_by_role("link", name=re.compile(r"^morning:\d")).first.click()
        page.set_viewport_size({"width": 1280, "height": 1800})
        page.wait_for_timeout(500)
        page.screenshot(path=OUT / "edition.png")  # its first screens: the stories table runs long
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(admin + "/readers")
        page.locator("table a[href*='/readers/']").first.click()
        page.screenshot(path=OUT / "reader.png", full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.context.add_cookies(page.context.cookies())
        phone.goto(admin + "/plan")
        phone.get_by_role("link", name=re.compile(r"^morning:\d")).nth(1).click()
        phone.screenshot(path=OUT / "plan-390.png")
        browser.close()


if __name__ == "__main__":
    if shutil.which(CHROMIUM) is None:
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    main()
