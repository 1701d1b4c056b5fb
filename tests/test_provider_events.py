"""The providers' event webhooks over HTTP: payloads shaped as SES (through SNS), SendGrid, Mailgun and Postmark
document them, signed with keys made here; forged, unsigned, stale or replayed requests change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from digest import store
from digest.config.sections import InboundSecrets
from digest.ingest.signatures import sns_string_to_sign, sns_url_allowed
from digest.models import Delivery, DeliveryStatus, Subscriber
from digest.send import RecordingMailer
from digest.tokens import make_token
from digest.web import create_app
from tests.conftest import NOW
from tests.factories import subscriber
from tests.sns import TOPIC, SnsSigner

pytestmark = pytest.mark.store

BASE = "https://news.example.com/digest"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
MAILGUN_KEY = "key-" + secrets.token_hex(16)


@pytest.fixture
def sns(httpserver):
    return SnsSigner(httpserver)


@pytest.fixture
def hook_settings(settings, sns):
    return replace(settings, inbound=InboundSecrets(sendgrid_public_key=SENDGRID_PUBLIC, mailgun_signing_key=MAILGUN_KEY,
                                                    postmark_user="pm", postmark_password="pm-secret"),
                   bounces=replace(settings.bounces, ses_topic_arns=TOPIC, sns_test_hosts=sns.host))


@pytest.fixture
def client(engine, hook_settings):
    with TestClient(create_app(hook_settings, engine, mailer=RecordingMailer(), clock=lambda: NOW),
                    base_url=BASE) as test_client:
        yield test_client


def sent_to(engine, email: str, day: int = 26) -> tuple[int, str]:
    """(delivery id, Message-ID) of a `sent` delivery to `email`, sent the day before NOW by default."""
    with store.session_scope(engine) as session:
        if store.subscribers.find_subscriber(session, email=email) is None:
            store.subscribers.upsert_subscribers(session, subscribers=[subscriber(email)], now=NOW)
        sub = store.subscribers.find_subscriber(session, email=email)
        edition = store.editions.ensure_edition(session, key=f"digest:2026-11-{day:02d}", period="daily",
                                                date=f"2026-11-{day:02d}", cutoff_at=NOW, now=NOW, newsletter="digest")
        message_id = f"<digest-2026-11-{day:02d}.{sub.id}.{secrets.token_hex(4)}@news.example.com>"
        at = NOW - timedelta(days=27 - day)
        row = Delivery(edition_id=edition.id, subscriber_id=sub.id, status=DeliveryStatus.sent, message_id=message_id,
                       variant_key="v", created_at=at, updated_at=at, sent_at=at)
        session.add(row)
        session.flush()
        return row.id, message_id


def state(engine, delivery_id: int) -> tuple[str, str]:
    with store.read_session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        return str(delivery.status), str(session.get(Subscriber, delivery.subscriber_id).status)


# ── Amazon SES through SNS ──────────────────────────────────────────────────────────────────────────

def ses_bounce(email: str, message_id: str, *, kind: str = "Permanent", status: str = "5.1.1") -> dict:
    return {"notificationType": "Bounce",
            "bounce": {"bounceType": kind, "bounceSubType": "General", "reportingMTA": "dns; email.example.com",
                       "bouncedRecipients": [{"emailAddress": email, "status": status, "action": "failed",
                                              "diagnosticCode": f"smtp; 550 {status} <{email}>... User unknown"}],
                       "timestamp": "2026-11-27T06:59:38.237Z", "feedbackId": "0000013811-33322211"},
            "mail": {"timestamp": "2026-11-27T06:59:37.000Z", "source": "bounces@news.example.com",
                     "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
                     "destination": [email], "headersTruncated": False,
                     "headers": [{"name": "From", "value": "News <news@news.example.com>"},
                                 {"name": "Message-ID", "value": message_id}],
                     "commonHeaders": {"from": ["News <news@news.example.com>"], "messageId": message_id}}}


def ses_complaint(email: str, message_id: str) -> dict:
    return {"notificationType": "Complaint",
            "complaint": {"userAgent": "ExampleCorp Feedback Loop (V0.01)", "complaintFeedbackType": "abuse",
                          "complainedRecipients": [{"emailAddress": email}], "timestamp": "2026-11-27T06:59:38Z",
                          "feedbackId": "000001378603177f-18c07c78"},
            "mail": {"source": "bounces@news.example.com", "messageId": "000001378603177f-7a5433e7",
                     "commonHeaders": {"messageId": message_id}, "destination": [email]}}


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_hard_bounce_signed_by_sns_suppresses(client, engine, sns, version):
    delivery_id, message_id = sent_to(engine, "gone@remote.example")
    notice = sns.notification(ses_bounce("gone@remote.example", message_id), version=version)
    response = client.post("/webhooks/ses", content=json.dumps(notice))
    assert response.status_code == 200 and response.json()["suppressed"] == 1
    assert state(engine, delivery_id) == ("bounced", "bounced")
    again = client.post("/webhooks/ses", content=json.dumps(notice))  # SNS delivers at least once
    assert again.status_code == 200 and again.json()["repeated"] == 1 and again.json()["recorded"] == 0
    assert sns.certificate_fetches == 1  # cached


def test_ses_transient_bounce_counts_and_a_complaint_suppresses(client, engine, sns):
    delivery_id, message_id = sent_to(engine, "busy@remote.example")
    soft = sns.notification(ses_bounce("busy@remote.example", message_id, kind="Transient", status="4.2.2"))
    assert client.post("/webhooks/ses", content=json.dumps(soft)).json()["recorded"] == 1
    assert state(engine, delivery_id) == ("bounced", "active")
    other_id, other_message = sent_to(engine, "annoyed@remote.example")
    complaint = sns.notification(ses_complaint("annoyed@remote.example", other_message))
    assert client.post("/webhooks/ses", content=json.dumps(complaint)).json()["complained"] == 1
    assert state(engine, other_id) == ("sent", "complained")


def test_ses_forged_or_foreign_messages_change_nothing(client, engine, sns):
    delivery_id, message_id = sent_to(engine, "gone@remote.example")
    genuine = sns.notification(ses_bounce("gone@remote.example", message_id))
    altered = dict(genuine, Message=genuine["Message"].replace("Permanent", "Transient"))
    unsigned = {k: v for k, v in genuine.items() if k != "Signature"}
    elsewhere = dict(genuine, SigningCertURL="https://attacker.example/cert.pem")
    for forged in (altered, unsigned, elsewhere):
        assert client.post("/webhooks/ses", content=json.dumps(forged)).status_code == 401
    other_topic = sns.notification(ses_bounce("gone@remote.example", message_id), topic=TOPIC + "-other")
    assert client.post("/webhooks/ses", content=json.dumps(other_topic)).status_code == 403
    assert client.post("/webhooks/ses", content=b"{not json").status_code == 400
    assert state(engine, delivery_id) == ("sent", "active")


def test_ses_subscription_is_confirmed_by_fetching_the_subscribe_url(client, sns):
    confirmation = sns.subscription_confirmation()
    assert client.post("/webhooks/ses", content=json.dumps(confirmation)).status_code == 200
    assert sns.confirmations == 1
    foreign = sns.subscription_confirmation(subscribe_url="https://evil.example/confirm")
    assert client.post("/webhooks/ses", content=json.dumps(foreign)).status_code == 400
    assert sns.confirmations == 1


def test_sns_urls_allowed_are_amazon_https_only_unless_a_test_host_is_named():
    assert sns_url_allowed("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem")
    assert not sns_url_allowed("http://sns.eu-west-1.amazonaws.com/x.pem")
    assert not sns_url_allowed("https://sns.eu-west-1.amazonaws.com.evil.example/x.pem")
    assert not sns_url_allowed("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem")
    assert sns_url_allowed("http://127.0.0.1:8123/cert.pem", ["127.0.0.1:8123"])
    assert sns_string_to_sign({"Type": "Notification", "Message": "m", "MessageId": "1", "Timestamp": "t",
                               "TopicArn": "a"}) == b"Message\nm\nMessageId\n1\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"


def test_an_endpoint_without_its_secret_answers_404(engine, settings):
    with TestClient(create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW), base_url=BASE) as bare:
        for path in ("/webhooks/ses", "/webhooks/sendgrid", "/webhooks/mailgun", "/webhooks/postmark"):
            assert bare.post(path, content=b"[]").status_code == 404


# ── SendGrid ────────────────────────────────────────────────────────────────────────────────────────

def sendgrid_post(client, events: list, *, key=SENDGRID_KEY, timestamp: int | None = None):
    body = json.dumps(events).encode()
    stamp = str(int(NOW.timestamp()) if timestamp is None else timestamp)
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post("/webhooks/sendgrid", content=body, headers={
        "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


def sendgrid_event(event: str, email: str, message_id: str, **extra) -> dict:
    return {"email": email, "timestamp": int(NOW.timestamp()), "smtp-id": message_id, "event": event,
            "sg_event_id": secrets.token_hex(8), "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            **extra}


def test_sendgrid_signed_events_bounce_complain_and_deliver(client, engine):
    hard_id, hard_mid = sent_to(engine, "gone@remote.example")
    spam_id, spam_mid = sent_to(engine, "annoyed@remote.example")
    ok_id, ok_mid = sent_to(engine, "happy@remote.example")
    events = [sendgrid_event("bounce", "gone@remote.example", hard_mid, type="bounce", status="5.1.1",
                             reason="550 5.1.1 The email account that you tried to reach does not exist."),
              sendgrid_event("spamreport", "annoyed@remote.example", spam_mid),
              sendgrid_event("delivered", "happy@remote.example", ok_mid, response="250 OK"),
              sendgrid_event("open", "happy@remote.example", ok_mid)]
    response = sendgrid_post(client, events)
    assert response.status_code == 200
    assert response.json()["delivered"] == 1 and response.json()["events"] == 4
    assert [state(engine, i) for i in (hard_id, spam_id, ok_id)] == [
        ("bounced", "bounced"), ("sent", "complained"), ("sent", "active")]


def test_sendgrid_forged_unsigned_or_stale_change_nothing(client, engine):
    delivery_id, message_id = sent_to(engine, "gone@remote.example")
    events = [sendgrid_event("bounce", "gone@remote.example", message_id, type="bounce", status="5.1.1")]
    assert sendgrid_post(client, events, key=ec.generate_private_key(ec.SECP256R1())).status_code == 401
    assert client.post("/webhooks/sendgrid", content=json.dumps(events)).status_code == 401
    assert sendgrid_post(client, events, timestamp=int(NOW.timestamp()) - 3600).status_code == 401
    assert state(engine, delivery_id) == ("sent", "active")


def test_sendgrid_blocked_is_policy_and_suppresses_nobody(client, engine):
    delivery_id, message_id = sent_to(engine, "strict@remote.example")
    events = [sendgrid_event("bounce", "strict@remote.example", message_id, type="blocked",
                             reason="550 5.7.1 rejected for policy reasons")]
    assert sendgrid_post(client, events).json()["recorded"] == 1
    assert state(engine, delivery_id) == ("bounced", "active")


# ── Mailgun ─────────────────────────────────────────────────────────────────────────────────────────

def mailgun_body(event_data: dict, *, key: str = MAILGUN_KEY, timestamp: int | None = None, token: str | None = None
                 ) -> bytes:
    stamp = str(int(NOW.timestamp()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                       "event-data": event_data}).encode()


def mailgun_event(event: str, email: str, message_id: str, **extra) -> dict:
    return {"event": event, "id": secrets.token_urlsafe(12), "timestamp": NOW.timestamp(), "recipient": email,
            "message": {"headers": {"to": email, "message-id": message_id.strip("<>"), "from": "news@news.example.com",
                                    "subject": "Your daily digest"}},
            "envelope": {"sender": "bounces@news.example.com", "transport": "smtp"}, **extra}


def test_mailgun_permanent_failure_suppresses_temporary_counts_complaint_suppresses(client, engine):
    hard_id, hard_mid = sent_to(engine, "gone@remote.example")
    soft_id, soft_mid = sent_to(engine, "full@remote.example")
    spam_id, spam_mid = sent_to(engine, "annoyed@remote.example")
    status = {"code": 550, "message": "5.1.1 No such user", "description": ""}
    posts = [mailgun_event("failed", "gone@remote.example", hard_mid, severity="permanent", reason="bounce",
                           **{"delivery-status": status}),
             mailgun_event("failed", "full@remote.example", soft_mid, severity="temporary",
                           **{"delivery-status": {"code": 452, "message": "mailbox full"}}),
             mailgun_event("complained", "annoyed@remote.example", spam_mid)]
    for data in posts:
        assert client.post("/webhooks/mailgun", content=mailgun_body(data)).status_code == 200
    assert [state(engine, i) for i in (hard_id, soft_id, spam_id)] == [
        ("bounced", "bounced"), ("bounced", "active"), ("sent", "complained")]


def test_mailgun_wrong_key_old_timestamp_and_reused_token_are_refused(client, engine):
    delivery_id, message_id = sent_to(engine, "gone@remote.example")
    data = mailgun_event("failed", "gone@remote.example", message_id, severity="permanent")
    assert client.post("/webhooks/mailgun", content=mailgun_body(data, key="key-other")).status_code == 401
    stale = mailgun_body(data, timestamp=int(NOW.timestamp()) - 16 * 60)
    assert client.post("/webhooks/mailgun", content=stale).status_code == 401
    assert state(engine, delivery_id) == ("sent", "active")
    once = mailgun_body(data, token="t" * 50)
    assert client.post("/webhooks/mailgun", content=once).status_code == 200
    assert client.post("/webhooks/mailgun", content=once).status_code == 401  # the same token again
    assert state(engine, delivery_id) == ("bounced", "bounced")


# ── Postmark ────────────────────────────────────────────────────────────────────────────────────────

def postmark_bounce(email: str, kind: str = "HardBounce", **extra) -> dict:
    return {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": kind, "TypeCode": 1, "Name": "Hard bounce",
            "Tag": "digest", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "ServerID": 23,
            "MessageStream": "broadcast", "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "Email": email,
            "From": "news@news.example.com", "BouncedAt": "2026-11-27T06:59:10Z", "DumpAvailable": True,
            "Inactive": True, "CanActivate": True, "Subject": "Your daily digest", "Metadata": {}, **extra}


def test_postmark_basic_auth_bounce_by_metadata_or_recipient_and_complaint(client, engine):
    by_meta, meta_mid = sent_to(engine, "gone@remote.example")
    sent_to(engine, "moved@remote.example", day=25)
    latest, _ = sent_to(engine, "moved@remote.example", day=26)
    spam_id, _ = sent_to(engine, "annoyed@remote.example")
    auth = ("pm", "pm-secret")
    assert client.post("/webhooks/postmark", json=postmark_bounce("gone@remote.example",
                                                                  Metadata={"message-id": meta_mid}),
                       auth=auth).json()["suppressed"] == 1
    assert client.post("/webhooks/postmark", json=postmark_bounce("moved@remote.example"), auth=auth).status_code == 200
    complaint = {"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "TypeCode": 512,
                 "MessageID": "00000000-0000-0000-0000-000000000000", "Email": "annoyed@remote.example",
                 "From": "news@news.example.com", "BouncedAt": "2026-11-27T06:59:10Z", "Metadata": {}}
    assert client.post("/webhooks/postmark", json=complaint, auth=auth).json()["complained"] == 1
    assert [state(engine, i) for i in (by_meta, latest, spam_id)] == [
        ("bounced", "bounced"), ("bounced", "bounced"), ("sent", "complained")]


def test_postmark_without_or_with_wrong_credentials_changes_nothing(client, engine):
    delivery_id, _ = sent_to(engine, "gone@remote.example")
    for auth in (None, ("pm", "wrong"), ("other", "pm-secret")):
        response = client.post("/webhooks/postmark", json=postmark_bounce("gone@remote.example"), auth=auth)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")
    assert state(engine, delivery_id) == ("sent", "active")


def test_a_bounce_naming_another_recipient_suppresses_nobody(client, engine):
    delivery_id, message_id = sent_to(engine, "reader@remote.example")
    events = [sendgrid_event("bounce", "someone-else@remote.example", message_id, type="bounce", status="5.1.1")]
    assert sendgrid_post(client, events).json()["unmatched"] == 1
    assert state(engine, delivery_id) == ("sent", "active")


def test_a_verp_token_alone_matches_a_mailgun_event(client, engine, hook_settings):
    delivery_id, _ = sent_to(engine, "gone@remote.example")
    with store.read_session(engine) as session:
        ident = store.deliveries.delivery_token_key(session, delivery_id=delivery_id)
    token = make_token(hook_settings.secret_key, "bounce", delivery_id, hook_settings.sender.list_id, ident=ident)
    data = mailgun_event("failed", "gone@remote.example", "<unknown@elsewhere.example>", severity="permanent")
    data["envelope"]["sender"] = f"bounces+{token}@news.example.com"
    assert client.post("/webhooks/mailgun", content=mailgun_body(data)).json()["recorded"] == 1
    assert state(engine, delivery_id) == ("bounced", "bounced")



@pytest.mark.sqlite_only("reads the configuration only")
def test_the_secrets_come_from_the_environment_only(tmp_path):
    from digest.config import load_settings
    from digest.errors import ConfigError
    from tests.conftest import ROOT

    loaded = load_settings(ROOT / "config.toml", environ={"DIGEST_MAILGUN_SIGNING_KEY": "k", "DIGEST_IMAP_PASSWORD": "p",
                                                          "DIGEST_POSTMARK_USER": "u", "DIGEST_POSTMARK_PASSWORD": "w",
                                                          "DIGEST_SENDGRID_PUBLIC_KEY": "s"})
    assert loaded.inbound == InboundSecrets(imap_password="p", sendgrid_public_key="s", mailgun_signing_key="k",
                                            postmark_user="u", postmark_password="w")
    assert "mailgun" not in repr(loaded) and "'k'" not in repr(loaded)
    for key in ("imap_password", "mailgun_signing_key"):
        path = tmp_path / f"{key}.toml"
        path.write_text(f'[bounces]\n{key} = "x"\n')
        with pytest.raises(ConfigError, match="secrets are not read from files"):
            load_settings(path, environ={})
    bad = tmp_path / "tls.toml"
    bad.write_text('[bounces]\nimap_tls = "tls"\n')
    with pytest.raises(ConfigError, match="imap_tls"):
        load_settings(bad, environ={})
