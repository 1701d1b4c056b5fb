"""DKIM: signatures checked with dkimpy's `dkim.verify` on the bytes a real aiosmtpd received, with a `dnsfunc`
that serves the test public key; the explicit, oversigned header list; configuration errors."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.config import DkimSettings, load_settings
from digest.errors import ConfigError
from digest.message import DKIM_HEADERS, sign
from digest.pipeline import run_day
from digest.send import SmtpMailer
from tests.conftest import NOW, ROOT
from tests.factories import seed

SELECTOR, DOMAIN = "s2026", "news.example.com"


@pytest.fixture(scope="module")
def keypair(tmp_path_factory) -> tuple[Path, bytes]:
    """(private key PEM file, the TXT record a DNS server would publish)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def dnsfunc(keypair):
    asked = []

    def lookup(name, timeout=5):
        asked.append(name)
        return keypair[1] if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    lookup.asked = asked
    return lookup


@pytest.fixture
def signing(smtp_settings, keypair):
    return replace(smtp_settings, dkim=DkimSettings(selector=SELECTOR, domain=DOMAIN, private_key_path=str(keypair[0])))


def send_edition(engine, settings, subscribers=3):
    seed(engine, NOW, subscribers=subscribers)

    async def go():
        mailer = SmtpMailer(settings.smtp, local_hostname=settings.sender_domain)
        try:
            return await run_day(engine, settings, mailer, NOW.date(), clock=lambda: NOW)
        finally:
            await mailer.close()

    return asyncio.run(go())


def test_every_message_the_server_received_verifies(engine, signing, smtpd, dnsfunc):
    reports = send_edition(engine, signing)
    assert reports[0].counts == {"sent": 3}
    received = smtpd.handler.messages
    assert len(received) == 3
    for message in received:
        assert message.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=news.example.com;")
        assert dkim.verify(message.data, dnsfunc=dnsfunc)
    assert set(dnsfunc.asked) == {b"s2026._domainkey.news.example.com."}


def test_the_signed_header_list_is_explicit_and_oversigned(engine, signing, smtpd):
    send_edition(engine, signing, subscribers=1)
    data = smtpd.handler.messages[0].data
    signature = data.split(b"\r\n\r\n", 1)[0].decode()
    h = re.search(r"\bh=([^;]+);", signature.replace("\r\n", "")).group(1)
    signed = [name.strip() for name in h.split(":")]
    assert signed == [name.lower() for name in DKIM_HEADERS]
    for name in ("from", "list-unsubscribe", "list-unsubscribe-post"):
        assert signed.count(name) == 2, name
    assert "feedback-id" in signed  # dkimpy's default list leaves it (and List-Unsubscribe-Post) out


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda d: d.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                     b"List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks"), id="value altered"),
    pytest.param(lambda d: d.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b""), id="removed"),
    pytest.param(lambda d: d.replace(b"\r\nFrom: ", b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nFrom: ",
                                     1), id="a second copy added"),
    pytest.param(lambda d: d.replace(b"\r\nFrom: ", b"\r\nList-Unsubscribe: <https://evil.example/u>\r\nFrom: ", 1),
                 id="another List-Unsubscribe added"),
    pytest.param(lambda d: d + b"P.S. added by a forwarder\r\n", id="body altered"),
])
def test_altered_messages_fail(engine, signing, smtpd, dnsfunc, tamper):
    send_edition(engine, signing, subscribers=1)
    data = smtpd.handler.messages[0].data
    assert dkim.verify(data, dnsfunc=dnsfunc)
    altered = tamper(data)
    assert altered != data
    assert not dkim.verify(altered, dnsfunc=dnsfunc)


def test_the_confirmation_email_is_signed_too(signing, dnsfunc):
    from digest.models import SubscriberRecord
    from digest.operations.signup import confirmation_message

    message = confirmation_message(signing, SubscriberRecord(id=7, email="new@example.org", name="New Reader"), now=NOW)
    assert dkim.verify(message.data, dnsfunc=dnsfunc)
    assert b"/confirm/" in message.data.replace(b"=\r\n", b"")


def test_unconfigured_means_unsigned(settings):
    data = b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert not settings.dkim.enabled and sign(data, settings) is data


@pytest.mark.parametrize("values, message", [
    ({"DIGEST_DKIM_SELECTOR": "s1"}, r"\[dkim\] domain: DKIM needs selector, domain and private_key_path"),
    ({"DIGEST_DKIM_SELECTOR": "s1", "DIGEST_DKIM_DOMAIN": "other.example",
      "DIGEST_DKIM_PRIVATE_KEY_PATH": "k.pem"}, r"\[dkim\] domain: 'other.example' is not the From domain"),
    ({"DIGEST_DKIM_SELECTOR": "bad selector", "DIGEST_DKIM_DOMAIN": "example.com",
      "DIGEST_DKIM_PRIVATE_KEY_PATH": "k.pem"}, r"\[dkim\] selector: not a DNS label"),
])
def test_bad_dkim_config_names_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(ROOT / "config.toml", environ=values)


def test_a_parent_domain_aligns():
    settings = load_settings(ROOT / "config.toml", environ={
        "DIGEST_DKIM_SELECTOR": "s1", "DIGEST_DKIM_DOMAIN": "example.com", "DIGEST_DKIM_PRIVATE_KEY_PATH": "k.pem"})
    assert settings.dkim.enabled and settings.dkim_key_path == ROOT / "k.pem"


def test_an_unreadable_or_bad_key_is_a_config_error(signing, tmp_path):
    from digest.pipeline.compose import Composer
    from digest.pipeline.plan import edition_plans

    plan = edition_plans(signing, NOW.date())[0]
    missing = replace(signing, dkim=replace(signing.dkim, private_key_path=str(tmp_path / "none.pem")))
    with pytest.raises(ConfigError, match=r"\[dkim\] private_key_path: cannot read"):
        Composer(missing, plan)
    (tmp_path / "bad.pem").write_text("not a key")
    bad = replace(signing, dkim=replace(signing.dkim, private_key_path=str(tmp_path / "bad.pem")))
    with pytest.raises(ConfigError, match="cannot sign"):
        sign(b"From: a@news.example.com\r\n\r\nx\r\n", bad)
