"""What filters and mail clients judge: SpamAssassin's local rules on every message of the demo, and the content
guards (size, residual <style>, images, line length, preheader) at the largest digest a reader can ask for."""

from __future__ import annotations

import mailbox
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from html.parser import HTMLParser

import pytest

from digest.config import load_settings
from digest.demo import run_demo
from digest.message import build_message, make_message_id
from digest.models import ArticleRecord, SubscriberRecord
from digest.render import Personal, Renderer, build_content, personalize
from tests.conftest import NOW, ROOT

MAX_ITEMS = 50  # the most stories a reader can ask for (ingest.subscribers._max_items)
CUTOFF = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)


# ── SpamAssassin ────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture(scope="module")
def demo_outbox(tmp_path_factory) -> list[bytes]:
    """Every message `digest demo` sends, exactly as the capture SMTP server received it."""
    tmp = tmp_path_factory.mktemp("spam")
    settings = load_settings(ROOT / "config.toml", environ={"DIGEST_STORE_URL": f"sqlite:///{tmp / 'digest.db'}",
                                                            "DIGEST_SECRET_KEY": "spam-test-key" * 3})
    (tmp / "var").mkdir()
    result = run_demo(settings, var=tmp / "var", day=NOW.date(), clock=lambda: NOW)
    box = mailbox.Maildir(str(result.outbox), factory=None, create=False)
    return [_strip_capture_headers(box.get_bytes(key)) for key in sorted(box.keys())]


def _strip_capture_headers(data: bytes) -> bytes:
    """The capture server prepends X-Envelope-From/To: not part of what we sent."""
    return re.sub(rb"\A(?:X-Envelope-(?:From|To): [^\r\n]*\r?\n)+", b"", data)


def spamassassin(messages: list[bytes], tmp_path) -> list[tuple[float, str, str]]:
    """(score, rules hit, report) per message, from `spamassassin -L -t` (local rules, no network), run once
    over an mbox of all of them (the same judge as one run per message, without paying its start-up 20 times)."""
    path = tmp_path / "messages.mbox"
    box = mailbox.mbox(str(path))
    for data in messages:
        box.add(data)
    box.flush()
    with open(path, "rb") as stdin:
        run = subprocess.run(["spamassassin", "-L", "-t", "--mbox"], stdin=stdin, capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    (tmp_path / "checked.mbox").write_bytes(run.stdout)
    results = []
    for checked in mailbox.mbox(str(tmp_path / "checked.mbox")):
        status = re.sub(r",\s+", ",", " ".join(str(checked["X-Spam-Status"]).split()))
        score = float(re.search(r"score=(-?[\d.]+)", status).group(1))
        rules = re.search(r"tests=(\S*)", status).group(1)
        raw = checked.as_bytes().decode("utf-8", errors="replace")
        report = raw[raw.find("Content analysis details"):][:3000]
        results.append((score, rules, f"To: {checked['To']}\n{report}"))
    return results


@pytest.mark.skipif(shutil.which("spamassassin") is None,
                    reason="spamassassin is not installed: .ci/run installs Debian's spamassassin package")
def test_every_demo_message_scores_at_most_zero(demo_outbox, tmp_path, settings):
    from digest.operations.signup import confirmation_message

    confirmation = confirmation_message(settings, SubscriberRecord(id=1, email="new.reader@example.org",
                                                                   name="New Reader"), now=NOW).data
    messages = [*demo_outbox, confirmation]
    assert len(demo_outbox) >= 20
    results = spamassassin(messages, tmp_path)
    assert len(results) == len(messages)
    over = [report for score, _, report in results if score > 0.0]
    assert not over, "SpamAssassin scored these above 0.0:\n\n" + "\n\n".join(over)
    print("SpamAssassin scores:", sorted({(score, rules) for score, rules, _ in results}))


# ── content guards ──────────────────────────────────────────────────────────────────────────────────

def worst_case_articles(n: int) -> list[tuple[str, ArticleRecord, list[ArticleRecord]]]:
    """n stories at the limits ingestion allows: 300-character summaries, long URLs and titles, an image each,
    and three "also covered by" links each."""
    def article(i: int) -> ArticleRecord:
        return ArticleRecord(
            i, f"https://www.example-news-outlet.com/world/2026/11/27/a-long-and-descriptive-slug-for-story-{i:05d}",
            f"Headline {i}: officials confirm the long-awaited agreement on regional water and power sharing"[:110],
            ("Residents and officials said the agreement, reached after months of talks, would change how the "
             "region shares water and power; critics said important details were still missing. ") * 2,
            f"Example Outlet {i % 7}", CUTOFF - timedelta(minutes=17 * i), location="Springfield",
            country="United States", topics=("politics",),
            image_url=f"https://cdn.example-news-outlet.com/images/2026/11/27/story-{i:05d}-1200x800.jpg")

    return [("top" if i < n - 3 else "trending", article(i), [article(10_000 + 3 * i + j) for j in range(3)])
            for i in range(n)]


PERSON = Personal(name="Maximilian Alexander von Hohenberg-Wittelsbach",
                  unsubscribe_url="https://news.example.com/digest/u/" + "A" * 48,
                  preferences_url="https://news.example.com/digest/p/" + "A" * 48,
                  archive_url="https://news.example.com/digest/archive/digest-2026-11-27/" + "A" * 48)


class Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.first_in_body, self.in_body = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if self.in_body and self.first_in_body is None:
            self.first_in_body = (tag, dict(attrs))
        self.in_body = self.in_body or tag == "body"


@pytest.fixture(scope="module")
def largest(tmp_path_factory):
    settings = load_settings(ROOT / "config.toml", environ={"DIGEST_SECRET_KEY": "k" * 32})
    entries = worst_case_articles(MAX_ITEMS)
    content = build_content(key="v", fmt="html", edition_key="digest:2026-11-27", period="daily", cutoff=CUTOFF,
                            entries=entries, tz=timezone.utc)
    text, html = personalize(Renderer(settings).render_variant(content), PERSON)
    return settings, text, html


def test_the_item_cap_is_what_the_guards_assume():
    from digest.ingest.subscribers import subscriber_from

    assert subscriber_from({"email": "a@example.org", "max_items": MAX_ITEMS}, defaults={}).max_items == MAX_ITEMS
    with pytest.raises(ValueError):
        subscriber_from({"email": "a@example.org", "max_items": MAX_ITEMS + 1}, defaults={})


def test_html_stays_under_gmails_clipping_at_the_maximum_item_count(largest):
    _, _, html = largest
    assert html.count('class="item"') == MAX_ITEMS
    assert len(html.encode()) < 95 * 1024, f"{len(html.encode())} bytes"


def test_residual_style_is_small_and_only_in_head(largest):
    _, _, html = largest
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and html.index("<style") < html.index("</head>")
    assert len(styles[0].encode()) < 16 * 1024


def test_every_image_has_alt_and_width_and_none_is_inline_data(largest):
    _, _, html = largest
    parser = Images()
    parser.feed(html)
    assert parser.images
    for image in parser.images:
        assert image.get("alt") and image.get("width"), image
        assert image["src"].startswith("https://") and not image["src"].lower().endswith(".svg"), image


def test_the_preheader_comes_first(largest):
    _, _, html = largest
    parser = Images()
    parser.feed(html)
    tag, attrs = parser.first_in_body
    assert (tag, attrs.get("class")) == ("div", "preheader") and re.search(r"display:\s*none", attrs.get("style", ""))
    preheader = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', html).group(1)
    assert 40 <= len(preheader) <= 140


def test_wire_lines_stay_under_998_bytes(largest):
    settings, text, html = largest
    data = build_message(sender=settings.sender, to_email="reader@example.org", to_name=PERSON.name,
                         subject="x" * 300, text=text + "y" * 5000 + "\n", html=html,
                         unsubscribe_url=PERSON.unsubscribe_url, unsubscribe_token="A" * 48,
                         message_id=make_message_id("news.example.com", "digest:2026-11-27.1"), date=CUTOFF)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_the_demo_messages_pass_the_same_guards(demo_outbox):
    for data in demo_outbox:
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        msg = message_from_bytes(data, policy=policy.default)
        html = msg.get_body(("html",))
        if html is None:
            continue  # a text-format reader
        html = html.get_content()
        parser = Images()
        parser.feed(html)
        assert len(html.encode()) < 95 * 1024 and parser.first_in_body[1].get("class") == "preheader"
        assert all(i.get("alt") and i.get("width") and not i["src"].startswith("data:") for i in parser.images)
