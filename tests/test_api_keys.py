"""The REST API's keys: `digest api-keys create` prints the key once, alone on its last line, and the store
keeps only its SHA-256; list never shows it; revoke ends it; a bad scope or a reused name is one line and exit
1; over HTTP no key, an unknown or a revoked key is a 401 with WWW-Authenticate, a key without the scope a 403."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlmodel import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from digest import store
from digest.cli import app as cli_app
from digest.models import ApiKey
from digest.operations import api_keys as ops
from digest.send import RecordingMailer
from digest.web import create_app
from tests.api_client import Api
from tests.conftest import NOW, ROOT

BASE = "https://news.example.com/digest"


def digest(settings, *args):
    environ = {"DIGEST_STORE_URL": settings.store.url, "DIGEST_SECRET_KEY": settings.secret_key}
    return CliRunner().invoke(cli_app, ["--config", str(ROOT / "config.toml"), *args], env=environ)


def rows(engine) -> list[ApiKey]:
    with store.read_session(engine) as session:
        return list(session.exec(select(ApiKey)))


@pytest.mark.store
def test_create_prints_the_key_once_and_the_store_keeps_only_its_hash(settings, engine):
    made = digest(settings, "api-keys", "create", "--name", "website", "--scopes", "subscribers:write,events:write")
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("dk_") and len(key) >= 40 and " " not in key
    assert made.output.count(key) == 1
    [row] = rows(engine)
    assert row.name == "website" and row.scopes == "subscribers:write,events:write"
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(row.model_dump(), default=str)
    other = digest(settings, "api-keys", "create", "--name", "crm", "--scopes", "subscribers:read")
    assert other.output.strip().splitlines()[-1] != key  # random, not derived from the name
    listed = digest(settings, "api-keys", "list", "--json")
    docs = json.loads(listed.output)
    assert [d["name"] for d in docs] == ["crm", "website"] and key not in listed.output
    assert docs[1]["scopes"] == ["subscribers:write", "events:write"] and docs[1]["revoked_at"] is None
    plain = digest(settings, "api-keys", "list")
    assert "website" in plain.output and key not in plain.output and "last used never" in plain.output


@pytest.mark.parametrize("args, says", [
    (["--name", "x", "--scopes", "subscribers:read,everything"], "unknown scope 'everything'"),
    (["--name", "x", "--scopes", ""], "name at least one"),
    (["--name", "has space", "--scopes", "subscribers:read"], "--name"),
])
def test_a_bad_scope_or_name_is_one_line_and_exit_1(settings, engine, args, says):
    result = digest(settings, "api-keys", "create", *args)
    assert result.exit_code == 1 and says in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert rows(engine) == []


def test_a_name_is_never_reused_even_after_revoking(settings, engine):
    assert digest(settings, "api-keys", "create", "--name", "site", "--scopes", "events:write").exit_code == 0
    again = digest(settings, "api-keys", "create", "--name", "site", "--scopes", "events:write")
    assert again.exit_code == 1 and "exists already" in again.output and len(rows(engine)) == 1
    assert digest(settings, "api-keys", "revoke", "site").exit_code == 0
    assert digest(settings, "api-keys", "create", "--name", "site", "--scopes", "events:write").exit_code == 1
    twice = digest(settings, "api-keys", "revoke", "site")
    assert twice.exit_code == 1 and "no key named 'site'" in twice.output
    assert digest(settings, "api-keys", "revoke", "nobody").exit_code == 1


def test_authenticate_finds_the_key_records_its_use_and_refuses_a_revoked_one(settings, engine):
    made = ops.create_key(settings, name="site", scopes="editions:read", now=NOW, engine=engine)
    found = ops.authenticate(engine, made.key, now=NOW)
    assert found is not None and found.name == "site" and found.may("editions:read")
    assert not found.may("subscribers:read")
    assert rows(engine)[0].last_used_at == NOW
    assert ops.authenticate(engine, made.key[:-1] + ("A" if made.key[-1] != "A" else "B"), now=NOW) is None
    assert ops.authenticate(engine, "not-a-key", now=NOW) is None
    ops.revoke_key(settings, "site", now=NOW, engine=engine)
    assert ops.authenticate(engine, made.key, now=NOW) is None
    assert rows(engine)[0].revoked_at == NOW


def test_http_401_without_a_good_key_and_403_without_the_scope(settings, engine):
    key = ops.create_key(settings, name="reports", scopes="editions:read", now=NOW, engine=engine).key
    gone = ops.create_key(settings, name="old", scopes="subscribers:read", now=NOW, engine=engine).key
    ops.revoke_key(settings, "old", now=NOW, engine=engine)
    api = Api(TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW), base_url=BASE),
              key)
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer dk_unknown"},
                    {"Authorization": f"Bearer {gone}"}):
        answer = api("GET", "/subscribers", key=None, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer realm=")
        assert answer.json()["error"]["code"] == "unauthorized"
    refused = api("GET", "/subscribers")
    assert refused.status_code == 403 and "subscribers:read" in refused.json()["error"]["message"]
    assert api("POST", "/events", json=[]).status_code == 403
    assert api("GET", "/editions").status_code == 200
    assert api.checked == 7  # each answer against the OpenAPI document
