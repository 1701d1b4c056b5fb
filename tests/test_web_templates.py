"""The pages' templates are compiled when the app starts (its lifespan), not by the first request that renders
them, and compiled once per process (web/pages.py's CompiledTemplates)."""

from __future__ import annotations

import shutil
from dataclasses import replace

from starlette.testclient import TestClient

from digest.config.sections import PACKAGE_TEMPLATES
from digest.send import RecordingMailer
from digest.web import create_app
from digest.web.app import preload_templates
from digest.web.pages import CompiledTemplates, page_environment
from tests.conftest import NOW

BASE = "https://news.example.com/digest"


def cached(env) -> set[str]:
    """The names of the templates `env` has loaded."""
    return {name for _, name in env.cache.keys()}


def test_the_app_compiles_every_page_and_console_template_when_it_starts(settings, engine):
    app = create_app(settings, engine, mailer=RecordingMailer(), clock=lambda: NOW)
    console, pages = app.state.admin.env, app.state.ctx.pages.env
    assert "edition.html" not in cached(console)
    with TestClient(app, base_url=BASE):
        assert {"edition.html", "overview.html", "base.html", "login.html"} <= cached(console)
        assert {"subscribe.html", "manage.html", "message.html", "base.html"} <= cached(pages)
        assert not any(name.startswith("admin/") for name in cached(pages))  # the console's are its own


def test_a_template_that_does_not_compile_is_named_and_the_app_still_starts(settings, engine, tmp_path):
    folder = tmp_path / "web"
    shutil.copytree(PACKAGE_TEMPLATES / "web", folder, ignore=shutil.ignore_patterns("admin"))
    (folder / "confirmed.html").write_text("{% if %}broken")
    broken = replace(settings, web=replace(settings.web, templates=str(folder)))
    app = create_app(broken, engine, mailer=RecordingMailer(), clock=lambda: NOW)
    assert preload_templates(app.state.ctx.pages, app.state.admin) == ["confirmed.html"]
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/subscribe")
        assert page.status_code == 200 and "<form" in page.text


def test_compiled_code_is_reused_until_the_source_changes(tmp_path):
    shutil.copytree(PACKAGE_TEMPLATES / "web", tmp_path / "web", ignore=shutil.ignore_patterns("admin"))
    page = tmp_path / "web" / "extra.html"
    page.write_text("first {{ n }}")
    code = CompiledTemplates()
    first = page_environment(tmp_path / "web")
    first.bytecode_cache = code
    assert first.get_template("extra.html").render(n=1) == "first 1"
    assert len(code.code) == 1
    stored = dict(code.code)
    again = page_environment(tmp_path / "web")
    again.bytecode_cache = code
    assert again.get_template("extra.html").render(n=2) == "first 2"
    assert code.code == stored  # loaded, not compiled and stored anew
    page.write_text("second {{ n }}")
    changed = page_environment(tmp_path / "web")
    changed.bytecode_cache = code
    assert changed.get_template("extra.html").render(n=3) == "second 3"
    assert code.code != stored


def test_pages_of_another_language_reuse_the_compiled_code_and_stay_translated(settings):
    from digest.i18n import translations
    from digest.web.pages import PAGE_CODE, Pages

    english = Pages(settings)
    assert english.preload() == []
    stored = dict(PAGE_CODE.code)
    german = Pages(replace(settings, sender=replace(settings.sender, language="de")))
    assert german.preload() == [] and PAGE_CODE.code == stored  # none compiled again
    title = translations("de").gettext("Not found")
    assert title != "Not found"
    assert title in german.message("Not found", "This link is not valid.").body.decode()
    assert "Not found" in english.message("Not found", "This link is not valid.").body.decode()
