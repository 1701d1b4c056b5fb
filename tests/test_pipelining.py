"""ESMTP PIPELINING (RFC 2920) in the pooled mailer, against aiosmtpd (announcing PIPELINING or not) and Postfix's
smtp-sink (which announces it unless `-p`): the same outcome, code and phase per recipient as the plain
sequence, the envelope really sent in one write, and the plain sequence when the relay does not offer it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from digest.send import classify
from tests.sink import SMTP_SINK, SmtpSink
from tests.test_send import FAULTS, mailer_for, message, normal, send_all

needs_sink = pytest.mark.skipif(SMTP_SINK is None, reason="smtp-sink not installed (Debian package postfix)")


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_pipelined_faults_keep_their_code_and_phase(fault, smtp_settings, smtpd):
    setup, code, phase, error, status, sender_side, survives = FAULTS[fault]
    smtpd.handler.pipelining = True
    bad = "bad@example.org"
    setup(smtpd.handler, bad)
    mailer = mailer_for(smtp_settings, connections=1, data_timeout=0.5)
    before, faulty, after = await send_all(
        mailer, [message(1, "before@example.org"), message(2, bad), message(3, "after@example.org")],
        concurrent=False)
    assert (faulty.code, faulty.phase, faulty.error) == (code, phase, error)
    assert classify(faulty).status == status and classify(faulty).sender_side == sender_side
    assert before.phase == after.phase == "done" and before.code == after.code == 250
    assert len(smtpd.handler.to("before@example.org")) == 1 and len(smtpd.handler.to("after@example.org")) == 1
    if fault != "data-timeout":
        assert smtpd.handler.to(bad) == []
    assert mailer.opened == (1 if survives else 2)
    assert smtpd.handler.envelopes_together and all(smtpd.handler.envelopes_together)  # RCPT came with MAIL


@pytest.mark.parametrize("pipelined", [True, False])
async def test_a_refused_mail_from_is_the_outcome_and_the_connection_goes_on(pipelined, smtp_settings, smtpd):
    smtpd.handler.pipelining = pipelined
    smtpd.handler.mail_replies["refused@news.example.com"] = "451 4.3.2 not now"
    refused = replace(message(2, "b@example.org"), envelope_from="refused@news.example.com")
    mailer = mailer_for(smtp_settings, connections=1)
    first, second, third = await send_all(mailer, [message(1, "a@example.org"), refused,
                                                   message(3, "c@example.org")], concurrent=False)
    assert (second.code, second.phase) == (451, "mail") and str(classify(second).status) == "deferred"
    assert first.phase == third.phase == "done" and mailer.opened == 1
    assert [m.rcpt_tos for m in smtpd.handler.messages] == [["a@example.org"], ["c@example.org"]]
    assert smtpd.handler.envelopes_together == [pipelined] * 3


async def test_pipelined_bytes_arrive_intact_on_concurrent_connections(smtp_settings, smtpd):
    smtpd.handler.pipelining = True
    sent = [message(i, f"user{i}@example.org") for i in range(30)]
    results = await send_all(mailer_for(smtp_settings, connections=3), sent)
    assert [r.phase for r in results] == ["done"] * 30
    got = {m.rcpt_tos[0]: m for m in smtpd.handler.messages}
    assert sorted(got) == sorted(m.recipient for m in sent)
    for m in sent:
        assert normal(got[m.recipient].data) == normal(m.data) and got[m.recipient].mail_from == m.envelope_from
    assert len(smtpd.handler.envelopes_together) == 30 and all(smtpd.handler.envelopes_together)


async def test_plain_sequence_when_the_relay_does_not_offer_pipelining(smtp_settings, smtpd):
    results = await send_all(mailer_for(smtp_settings), [message(i, f"u{i}@example.org") for i in range(5)])
    assert [r.phase for r in results] == ["done"] * 5 and len(smtpd.handler.messages) == 5
    assert smtpd.handler.envelopes_together == [False] * 5  # one command, one reply


async def test_pipelining_off_in_the_settings_keeps_the_plain_sequence(smtp_settings, smtpd):
    smtpd.handler.pipelining = True
    results = await send_all(mailer_for(smtp_settings, pipelining=False), [message(1, "a@example.org")])
    assert results[0].phase == "done" and smtpd.handler.envelopes_together == [False]


@needs_sink
@pytest.mark.parametrize("options, announced", [([], True), (["-p"], False)])
async def test_smtp_sink_receives_every_message_once(options, announced, smtp_settings):
    with SmtpSink(options, dump=True) as sink:
        mailer = mailer_for(smtp_settings, port=sink.port, connections=4)
        results = [await mailer.send(message(i, f"s{i}@example.org")) for i in range(40)]
        assert [c.smtp.supports_extension("pipelining") for c in mailer.idle] == [announced]  # what the sink's EHLO said
        await mailer.close()
        assert [r.phase for r in results] == ["done"] * 40 and {r.code for r in results} == {250}
        time.sleep(0.3)  # the dump files are written as the messages end
        assert sink.received() == {f"s{i}@example.org": 1 for i in range(40)}
