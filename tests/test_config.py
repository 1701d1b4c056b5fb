"""Settings: defaults, file, environment; every bad value named by key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_repository_config_loads_and_matches_documented_defaults():
    s = load_settings(ROOT / "config.toml", environ={})
    assert s.store.url == "sqlite:///var/digest.db"
    assert s.smtp.tls == "starttls" and s.smtp.validate_certs
    assert s.selection.half_life_hours == 12 and s.selection.window_hours == 36
    assert s.templates_dir == ROOT / "src" / "digest" / "templates" / "email"


def test_no_file_means_built_in_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={})
    assert s.source == "built-in defaults" and s.smtp.port == 587


def test_environment_overrides_file_with_types(tmp_path):
    path = write(tmp_path, '[smtp]\nport = 2525\nhost = "relay.example.com"\n')
    s = load_settings(path, environ={"DIGEST_SMTP_PORT": "465", "DIGEST_SMTP_TLS": "implicit",
                                     "DIGEST_SMTP_VALIDATE_CERTS": "false", "DIGEST_SELECTION_GRAVITY": "1.5",
                                     "DIGEST_SMTP_PASSWORD": "hunter2", "DIGEST_SECRET_KEY": "k" * 32})
    assert (s.smtp.host, s.smtp.port, s.smtp.tls, s.smtp.validate_certs) == ("relay.example.com", 465, "implicit", False)
    assert s.selection.gravity == 1.5
    assert s.smtp.password == "hunter2" and s.secret_key == "k" * 32
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize("text, needle", [
    ('[smtp]\nprot = 25\n', "[smtp] prot: unknown key"),
    ('[smtp]\nport = "abc"\n', "[smtp] port: expected int"),
    ('[smtp]\nport = 70000\n', "[smtp] port: must be 1-65535"),
    ('[smtp]\ntls = "ssl"\n', "[smtp] tls: must be starttls, implicit or none"),
    ('[smtp]\npassword = "x"\n', "[smtp] password: secrets are not read from files; set DIGEST_SMTP_PASSWORD"),
    ('[schedule]\ntimezone = "Mars/Olympus"\n', "[schedule] timezone: unknown time zone 'Mars/Olympus'"),
    ('[schedule]\nsend_at = "25:00"\n', "[schedule] send_at: expected HH:MM"),
    ('[sender]\nfrom_address = "not-an-address"\n', "[sender] from_address: not an email address"),
    ('[sender]\nbase_url = "ftp://x"\n', "[sender] base_url: must be an http(s) URL"),
    ('[selection]\nmax_items = 0\n', "[selection] max_items: must be at least 1"),
    ('[smtp]\nusername = "u"\ntls = "none"\n', "[smtp] username: AUTH is only sent over TLS"),
    ('[nonsense]\nx = 1\n', "unknown section or key 'nonsense'"),
    ('[smtp\nport = 1\n', "not valid TOML"),
    ('smtp = 3\n', "[smtp] must be a table"),
])
def test_bad_file_values_name_file_and_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    message = str(err.value)
    assert message.startswith(str(path)) and needle in message
    assert "\n" not in message


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"^environment DIGEST_SMTP_PORT: \[smtp\] port: expected int, got 'abc'$"):
        load_settings(write(tmp_path, ""), environ={"DIGEST_SMTP_PORT": "abc"})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_addresses_must_be_ascii():
    from digest.config import EMAIL_RE

    assert EMAIL_RE.match("o'brien+news@example.com")
    assert not EMAIL_RE.match("jörg@example.com")
    assert not EMAIL_RE.match("a b@example.com")
