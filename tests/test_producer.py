"""The forked composer (`[send] compose_process`): once an edition proves bigger than one claim, a child process
reads, composes and claims the next half batches while the event loop sends. Readers receive, and the store
records, the same as when everything runs in one process ("off")."""

from __future__ import annotations

import email
from dataclasses import replace

import pytest

from digest import store
from digest.config import load_settings
from digest.errors import ConfigError
from digest.pipeline import producer
from tests.conftest import NOW
from tests.factories import edition_counts, seed, send_day
from tests.smtpd import ThreadedSMTPServer

READERS = 45  # batch_size 10: claims of 5, so the child makes eight of the nine


def _send(settings, tmp_path, mode: str, monkeypatch) -> tuple[dict, list, dict, object]:
    """One edition of READERS readers sent with compose_process = `mode` on a store of its own."""
    forks = []
    real_init = producer.ForkedPreparer.__init__

    def counting_init(self, sender):
        forks.append(sender.claimed_by)
        real_init(self, sender)

    monkeypatch.setattr(producer.ForkedPreparer, "__init__", counting_init)
    url = f"sqlite:///{tmp_path / mode}.db"
    engine = store.open_engine(url)
    try:
        seed(engine, NOW, subscribers=READERS)
        with ThreadedSMTPServer() as smtpd:
            smtpd.handler.rcpt_replies["reader7@example.com"] = "550 5.1.1 unknown user"
            smtpd.handler.rcpt_replies["reader33@example.com"] = "451 4.3.0 try later"
            config = replace(settings, store=replace(settings.store, url=url),
                             smtp=replace(settings.smtp, port=smtpd.port, connections=3),
                             send=replace(settings.send, batch_size=10, compose_process=mode))
            [report] = send_day(engine, config)
            received = {}
            for m in smtpd.handler.messages:
                parsed = email.message_from_bytes(m.data)
                received[m.rcpt_tos[0]] = (parsed["Subject"], parsed["List-Unsubscribe-Post"])
        return received, forks, edition_counts(engine), report
    finally:
        engine.dispose()


def test_the_forked_composer_sends_and_records_what_one_process_does(settings, tmp_path, monkeypatch):
    forked = _send(settings, tmp_path, "auto", monkeypatch)
    single = _send(settings, tmp_path, "off", monkeypatch)
    received, forks, counts, report = forked
    assert forks == [None] and single[1] == []  # a child was forked with "auto" only, once for the edition
    assert received == single[0] and len(received) == READERS - 2  # the same readers got the same message
    assert all(subject and post == "List-Unsubscribe=One-Click" for subject, post in received.values())
    assert counts == single[2] == {"sent": READERS - 2, "bounced": 1, "deferred": 1}
    assert (report.variants, report.inlined, report.attempted) == \
        (single[3].variants, single[3].inlined, single[3].attempted) == (1, 1, READERS)


def test_a_bad_compose_process_names_the_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[send]\ncompose_process = "sometimes"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(err.value) == f"{path}: [send] compose_process: must be auto or off"


def test_the_composer_forks_only_for_a_real_relay(settings):
    from digest.send import RecordingMailer, SmtpMailer

    class Sender:  # what `available` looks at
        def __init__(self, mailer, mode):
            self.mailer, self.settings = mailer, replace(settings, send=replace(settings.send, compose_process=mode))

    smtp = SmtpMailer(settings.smtp, local_hostname="news.example.com")
    assert producer.available(Sender(smtp, "auto")) and not producer.available(Sender(smtp, "off"))
    # a dry run's or a test's mailer keeps what it records in this process: never a child
    assert not producer.available(Sender(RecordingMailer(), "auto"))
