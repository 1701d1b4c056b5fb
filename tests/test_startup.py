"""`digest --help` imports no use case: the command modules name theirs through `digest.cli.base.lazy`, so the
help (and any command's own --help) loads neither SQLAlchemy nor numpy nor the CSS inliner. The time it saves is a
benchmark's business (`make bench` prints the cold start); this checks what is imported."""

from __future__ import annotations

import subprocess
import sys

from digest.cli.webhooks import EVENTS
from digest.models import WEBHOOK_EVENTS

HEAVY = ("sqlalchemy", "sqlmodel", "numpy", "scipy", "css_inline", "premailer", "lxml", "digest.operations", "digest.store")


def imported_by(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(done.stdout.split())


def test_the_help_imports_no_use_case_nor_the_database():
    loaded = imported_by("from digest.cli import app\n"
                         "try:\n    app(['--help'], prog_name='digest')\nexcept SystemExit:\n    pass")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}


def test_a_command_still_reaches_its_use_case():
    loaded = imported_by("from digest.cli import content\ncontent.content.FORMATS")
    assert "digest.operations.content" in loaded and "sqlalchemy" in loaded


def test_the_webhook_events_in_the_help_are_the_models():
    assert EVENTS.split(", ") == list(WEBHOOK_EVENTS)


SENDER = ("aiosmtplib", "digest.send.smtp", "digest.pipeline.deliver", "digest.pipeline.run", "digest.pipeline.dryrun")


def test_a_preview_loads_neither_the_sender_nor_the_smtp_client():
    """`digest preview` composes and sends nothing: its use case imports plan and compose, not the sender."""
    loaded = imported_by("from digest.operations import preview\npreview.preview")
    assert "digest.pipeline.compose" in loaded and "digest.pipeline.plan" in loaded
    assert not {m for m in loaded if m in SENDER}


def test_the_send_path_still_reaches_the_sender_through_the_package():
    loaded = imported_by("from digest.pipeline import run_day\nfrom digest.send import SmtpMailer\nrun_day, SmtpMailer")
    assert {"digest.pipeline.run", "digest.pipeline.deliver", "digest.send.smtp"} <= loaded


def test_the_collector_stays_off_for_a_preview_only():
    """`digest.cli.main` starts with the cyclic collector off; a ONE_SHOT command (preview) keeps it off, any
    other turns it back on before it runs, and main puts it back as it found it."""
    probe = ("import gc, sys\nfrom digest.cli import app, main, ONE_SHOT\nimport digest.cli.base as base\n"
             "seen = {}\n"
             "@app.command('probe-once')\ndef once():\n    seen['once'] = gc.isenabled()\n"
             "@app.command('probe-other')\ndef other():\n    seen['other'] = gc.isenabled()\n"
             "base.ONE_SHOT = ONE_SHOT | {'probe-once'}\n"
             "for name in ('probe-once', 'probe-other'):\n"
             "    sys.argv = ['digest', name]\n"
             "    try:\n        main()\n    except SystemExit:\n        pass\n"
             "    seen[name + ' after'] = gc.isenabled()\n"
             "print(sorted(seen.items()), 'preview' in ONE_SHOT)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[0] == ("[('once', False), ('other', True), ('probe-once after', True), "
                                          "('probe-other after', True)] True")
