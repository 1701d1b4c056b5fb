"""The Docker image and compose.yaml, checked by reading them (Docker does not run here) and against the real
program where one is involved (issue 13, "Also"): the image installs from a hash-pinned lock, the web service's
healthcheck works against a real `digest serve`, a subscriber file has a way into the import job, and the README
says which keys an operator must set."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib

import httpx
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
LOCK = ROOT / "requirements.lock"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from the lock file."""
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text())
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --")
        name, _, version = spec.strip().partition("==")
        assert version and ";" not in version, f"not an exact pin: {line[:80]}"
        pins[canonicalize_name(name)] = (version.strip(), [o for o in options if o.startswith("hash=sha256:")])
    return pins


def test_the_image_installs_its_dependencies_from_the_lock_and_nothing_else():
    steps = dockerfile_instructions()
    runs = [(i, args) for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args]
    copies = {args.split()[0]: i for i, (kind, args) in enumerate(steps) if kind == "COPY"}
    from_lock = [i for i, args in runs if "-r requirements.lock" in args and "--require-hashes" in args]
    assert from_lock and copies["requirements.lock"] < from_lock[0]
    for i, args in runs:
        for command in args.split("&&"):
            if "pip install" in command and i not in from_lock:
                assert "--no-deps" in command.split(), command  # digest itself: nothing resolved again
    assert min(i for i, _ in runs) == from_lock[0]


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    for line in project["dependencies"] + project["optional-dependencies"]["postgres"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(pins[name][0], prereleases=True), (line, pins[name][0])
        for extra in req.extras:  # psycopg[binary] brings psycopg-binary
            assert canonicalize_name(f"{req.name}-{extra}") in pins, f"{req.name}[{extra}]"
    assert "pytest" not in pins and "playwright" not in pins  # the test tools stay out of the image


def test_the_lock_installs_with_pip_as_the_image_does(tmp_path):
    """pip itself reads the lock in hash-checking mode (with no index here: the file's syntax and hashes)."""
    assert LOCK.is_file()
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--require-hashes",
                           "--no-deps", "-r", str(LOCK), "--quiet", "--report", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=300)
    # without an index nothing can be downloaded; what matters is that the file parses and every line is hashed
    for complaint in ("Hashes are required", "Invalid requirement", "Could not open", "Double requirement"):
        assert complaint not in done.stderr, done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_web_healthcheck_asks_healthz_of_a_real_digest_serve(tmp_path):
    web = COMPOSE["services"]["web"]
    check = web["healthcheck"]["test"]
    assert check[0] == "CMD" and "/healthz" in " ".join(check)
    serve_port = 8000  # `digest serve` without --port listens on [web] port
    assert "--port" not in web["command"] and f":{serve_port}/healthz" in " ".join(check)
    assert web["ports"] == [f"{serve_port}:{serve_port}"]

    port = free_port()
    probe = [sys.executable if part == "python" else part.replace(f":{serve_port}/", f":{port}/") for part in check[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"DIGEST_STORE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
                "DIGEST_SECRET_KEY": "healthcheck-test-key-0123456789abcdef"})
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0  # nothing listens yet
    server = subprocess.Popen([sys.executable, "-m", "digest", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        healthy = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_subscriber_file_has_a_documented_way_into_the_import_job():
    job = COMPOSE["services"]["import"]
    assert job["command"][:2] == ["subscribers", "import"]
    target = job["command"][2]
    mounts = [v.split(":") for v in job["volumes"]]
    host, inside, mode = next(m for m in mounts if m[1] == os.path.dirname(target))
    assert host.startswith("./") and mode == "ro"  # a directory beside compose.yaml, read-only
    assert job.get("profiles"), "a one-off job, not started by `docker compose up`"
    assert "digest-data:/data" in job["volumes"]
    docker = readme_section("Docker")
    assert "docker compose run --rm import" in docker and host.removeprefix("./") in docker


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_names_every_key_an_operator_must_set():
    required = sorted({m for v in COMPOSE["x-digest"]["environment"].values()
                       for m in re.findall(r"\$\{([A-Z_]+):\?", str(v))})
    assert {"DIGEST_SECRET_KEY", "DIGEST_SMTP_HOST", "DIGEST_SENDER_FROM_ADDRESS", "DIGEST_SENDER_POSTAL_ADDRESS",
            "DIGEST_SENDER_BASE_URL", "DIGEST_SENDER_LIST_ID"} <= set(required)
    docker = readme_section("Docker")
    for name in required + ["DIGEST_SMTP_PASSWORD", "DIGEST_SMTP_USERNAME"]:
        assert name in docker, f"README, Docker: {name} is not named"
    for command in re.findall(r"^docker run .*$", docker, flags=re.M):  # each example sets the sender
        words = shlex.split(command.split("#")[0].replace("...", "x"))
        assert "DIGEST_SENDER_FROM_ADDRESS=x" in " ".join(words) or "--env-file" in words, command
