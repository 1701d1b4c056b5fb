"""Reading the settings: defaults, then the file, then `DIGEST_<SECTION>_<KEY>`, each value coerced to the
type of its default; secrets only from the environment."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import fields
from pathlib import Path

from digest.config.newsletters import read_newsletters
from digest.config.rules import validate
from digest.config.sections import (
    ApiSettings, BouncesSettings, DkimSettings, InboundSecrets, FeedsSettings, LogSettings, RenderSettings, WorkersSettings, ScheduleSettings,
    SelectionSettings, SenderSettings, SendSettings, Settings, SmtpSettings, StoreSettings, WebSettings,
)
from digest.config.sections import WebhooksSettings
from digest.errors import ConfigError

SECRET_VARIABLES = {"password": "DIGEST_SMTP_PASSWORD", "secret_key": "DIGEST_SECRET_KEY",
                    "events_token": "DIGEST_EVENTS_TOKEN", "imap_password": "DIGEST_IMAP_PASSWORD",
                    "sendgrid_public_key": "DIGEST_SENDGRID_PUBLIC_KEY",
                    "mailgun_signing_key": "DIGEST_MAILGUN_SIGNING_KEY", "postmark_user": "DIGEST_POSTMARK_USER",
                    "postmark_password": "DIGEST_POSTMARK_PASSWORD"}  # in any section of the file: only from the environment
SECRET_KEYS = set(SECRET_VARIABLES)
OLD_SECTION_NAMES = {"scale": "workers"}  # the old names, still read: [scale], DIGEST_SCALE_*


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the file (when given or ./config.toml exists), then the environment."""
    environ = os.environ if environ is None else environ
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    data = _read_toml(path) if path else {}
    origin = str(path) if path else "built-in defaults"
    data, environ = _renamed(data, environ, origin)
    tables = data.pop("newsletters", None)
    origins: dict[tuple[str, str], str] = {}  # (section, key) -> "environment DIGEST_…" when the value came from there
    sections = {name: _build_section(name, data.pop(name, {}), origin, environ, origins) for name in _section_classes()}
    defaults = {"language": sections["sender"].language, "send_at": sections["schedule"].send_at}
    newsletters = read_newsletters(tables, origin, defaults=defaults) if tables is not None else ()
    if data:
        key = next(iter(data))
        raise ConfigError(f"{origin}: unknown section or key {key!r}")
    settings = Settings(
        **sections,
        configured_newsletters=newsletters,
        secret_key=environ.get("DIGEST_SECRET_KEY", ""),
        events_token=environ.get("DIGEST_EVENTS_TOKEN", ""),
        inbound=InboundSecrets.from_environ(environ),
        base_dir=(path.resolve().parent if path else Path.cwd()),
        source=origin,
    )
    validate(settings, origin, origins)
    return settings


def _renamed(data: dict, environ, origin: str) -> tuple[dict, dict[str, str]]:
    """Old section names as their new ones, in the file and in the environment; both at once is an error."""
    environ = dict(environ)
    for old, new in OLD_SECTION_NAMES.items():
        if old in data:
            if new in data:
                raise ConfigError(f"{origin}: [{old}] is the old name of [{new}]: keep one of the two")
            data[new] = data.pop(old)
        prefix, renamed = f"DIGEST_{old.upper()}_", f"DIGEST_{new.upper()}_"
        for var in [v for v in environ if v.startswith(prefix)]:
            environ.setdefault(renamed + var[len(prefix):], environ.pop(var))
    return data, environ


def _section_classes() -> dict[str, type]:
    return {
        "store": StoreSettings, "smtp": SmtpSettings, "sender": SenderSettings, "schedule": ScheduleSettings,
        "selection": SelectionSettings, "send": SendSettings, "render": RenderSettings, "log": LogSettings,
        "feeds": FeedsSettings, "web": WebSettings, "api": ApiSettings, "dkim": DkimSettings, "bounces": BouncesSettings,
        "workers": WorkersSettings, "webhooks": WebhooksSettings,
    }


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _build_section(name: str, table: object, origin: str, environ: dict[str, str],
                   origins: dict[tuple[str, str], str]):
    cls = _section_classes()[name]
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [{name}] must be a table")
    values = {}
    known = {f.name: f for f in fields(cls)}
    for key, raw in table.items():
        if key in SECRET_VARIABLES:
            raise ConfigError(f"{origin}: [{name}] {key}: secrets are not read from files; "
                              f"set {SECRET_VARIABLES[key]} in the environment")
        if key not in known:
            raise ConfigError(f"{origin}: [{name}] {key}: unknown key")
        values[key] = _coerce(raw, known[key].default, f"{origin}: [{name}] {key}")
    for key, fld in known.items():
        var = f"DIGEST_{name.upper()}_{key.upper()}"
        if var in environ:
            values[key] = _coerce_env(environ[var], fld.default, f"environment {var}: [{name}] {key}")
            origins[(name, key)] = f"environment {var}"
    return cls(**values)


def _coerce(raw: object, default: object, where: str):
    kind = type(default)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif kind is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return _finite(float(raw), raw, where)
    elif isinstance(raw, str):
        return raw
    raise ConfigError(f"{where}: expected {kind.__name__}, got {raw!r}")


def _coerce_env(raw: str, default: object, where: str):
    kind = type(default)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError
            return lowered in {"1", "true", "yes", "on"}
        if kind is float:
            return _finite(float(raw), raw, where)
        return kind(raw.strip()) if kind is int else kind(raw)
    except ValueError:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {raw!r}") from None


def _finite(value: float, raw: object, where: str) -> float:
    """TOML and float() both read nan and inf; no setting means either (a nan timeout times out every connect)."""
    if not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {raw!r}")
    return value
