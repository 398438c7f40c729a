"""Finding 2: Spectora's job ``url`` is a link a person clicks, and the pages run no inline code.

Only https links (http to this machine in demo mode, the sandbox) are stored and
rendered; anything else is dropped with a logged warning. Every page is served with
a Content-Security-Policy that allows scripts from our own files only, and no page
carries an inline ``<script>``, an ``on*=`` or ``hx-on`` handler or a ``javascript:``
URL, so the policy breaks nothing.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.urls import reverse

from spectora_integration.client import http as client_http
from spectora_integration.client.egress import job_url
from spectora_integration.models import SpectoraLink, SyncState
from tests.factories import WorkorderFactory
from tests.spectora_integration.test_inbound import new_job, receive, workorder_for
from tests.spectora_integration.test_sync import book, sync

HOSTILE = "javascript:alert(document.domain)//"


# ---------------------------------------------------------------- which links are kept

@pytest.mark.parametrize("url", [
    HOSTILE, "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/x",
    "https:alert(1)", "ftp://spectora.example/x", "http://app.spectora.com/inspections/1",
    "https://user@app.spectora.com/x", "https://app.spectora.com/" + "x" * 200,
])
def test_only_https_links_are_kept(settings, url):
    settings.ATTIK_DEMO_MODE = True
    assert job_url(url) == ""


@pytest.mark.parametrize("url, demo, kept", [
    ("https://app.spectora.com/inspections/1001", False, True),
    ("http://127.0.0.1:8100/inspections/1", True, True),
    ("http://localhost:8100/inspections/1", True, True),
    ("http://127.0.0.1:8100/inspections/1", False, False),
    ("http://10.0.0.1/inspections/1", True, False),
])
def test_http_links_only_to_the_sandbox_in_demo_mode(settings, url, demo, kept):
    settings.ATTIK_DEMO_MODE = demo
    assert (job_url(url) == url) is kept


@pytest.fixture
def hostile_url(monkeypatch):
    """Every inspection Spectora sends carries a ``javascript:`` url."""
    monkeypatch.setattr(client_http.Inspection, "url", property(lambda self: HOSTILE))


@pytest.mark.django_db
def test_a_sync_does_not_store_a_hostile_url(spectora, queued, hostile_url, caplog):
    workorder = book(spectora)
    with caplog.at_level(logging.WARNING):
        run = sync(workorder)
    link = SpectoraLink.objects.get(workorder=workorder)
    assert (run.state, link.sync_state) == ("succeeded", SyncState.SYNCED)
    assert link.remote_id and link.url == ""
    assert "spectora job url dropped" in caplog.text


@pytest.mark.django_db
def test_an_import_does_not_store_a_hostile_url(spectora, hostile_url, caplog):
    job = new_job(spectora)
    with caplog.at_level(logging.WARNING):
        receive(spectora, job["id"], "inspection.created")
    assert workorder_for(job["id"]).spectora_link.url == ""
    assert "spectora job url dropped" in caplog.text


@pytest.mark.django_db
def test_a_hostile_url_stored_earlier_is_never_rendered(client, admin_user, company):
    workorder = WorkorderFactory(company=company)
    SpectoraLink.objects.create(workorder=workorder, remote_id="1001", url=HOSTILE,
                                sync_state=SyncState.SYNCED)
    client.force_login(admin_user)
    pages = [client.get(reverse("workorders:detail", args=[workorder.pk])),
             client.get(reverse("workorders:detail", args=[workorder.pk]),
                        {"tab": "integrations"})]
    for page in pages:
        assert page.status_code == 200
        assert "javascript:" not in page.content.decode()
    api = client.get(f"/api/v1/workorders/{workorder.pk}/", HTTP_ACCEPT="application/json")
    assert api.json()["spectora"]["url"] is None


# ---------------------------------------------------------------- the policy and the pages

class InlineCode(HTMLParser):
    """Collects what a script-src 'self' policy would block, or what needs 'unsafe-eval'."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self._in_style = True
            self.styles.append("")
        for name, value in attrs:
            if name.startswith("on") or re.match(r"(data-)?hx-on", name):
                self.found.append(f"{tag} {name}=")
            if name in self.URL_ATTRIBUTES and (value or "").strip().lower().startswith(
                ("javascript:", "vbscript:", "data:text")
            ):
                self.found.append(f"{tag} {name}={value!r}")
            if name in {"hx-vals", "hx-headers", "hx-vars"} and (value or "").lstrip().startswith(
                ("js:", "javascript:")
            ):
                self.found.append(f"{tag} {name} needs eval")
            if name == "hx-trigger" and any(  # event[filter] is code; from:sel[attr] is not
                re.match(r"(every\s+\S+\s*|[\w:.-]+)\[", spec.strip())
                for spec in (value or "").split(",")
            ):
                self.found.append(f"{tag} hx-trigger filter needs eval")

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles[-1] += data


def problems(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found + [f"inline <style> {s[:40]!r}" for s in parser.styles]


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_strict(response) -> None:
    directives = policy(response)
    assert directives, "no Content-Security-Policy header"
    assert directives["script-src"] == ["'self'"]
    assert directives["script-src-attr"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    for name, sources in directives.items():
        assert "'unsafe-eval'" not in sources, name
        if name.startswith(("script", "default")):
            assert "'unsafe-inline'" not in sources and "data:" not in sources, name
    assert directives["style-src-elem"][0] == "'self'"


@pytest.fixture
def site(client, spectora, queued, company):
    """A company with a synced workorder, logged in as its admin (also a superuser)."""
    user = get_user_model().objects.create_superuser("csp-root", "root@example.com", "pw-12345")
    from workorders.models import Membership, Role

    Membership.objects.create(user=user, company=company, role=Role.ADMIN)
    workorder = book(spectora)
    sync(workorder)
    client.force_login(user)
    return workorder


def site_pages(workorder) -> list[tuple[str, dict]]:
    pk = workorder.pk
    detail = reverse("workorders:detail", args=[pk])
    return [
        (reverse("workorders:dashboard"), {}),
        (reverse("workorders:list"), {}),
        (reverse("workorders:list") + "?q=Elm", {"HTTP_HX_REQUEST": "true"}),
        (reverse("workorders:create"), {}),
        (detail, {}),
        (detail + "?tab=activity", {}),
        (detail + "?tab=integrations", {}),
        (reverse("workorders:edit", args=[pk]), {}),
        (reverse("workorders:reschedule", args=[pk]), {}),
        (reverse("workorders:cancel", args=[pk]), {}),
        (reverse("spectora:workorder_preview", args=[pk]), {}),
        (reverse("spectora:sync_chip", args=[pk]), {"HTTP_HX_REQUEST": "true"}),
        (reverse("spectora:connection"), {}),
        (reverse("spectora:staff"), {}),
        (reverse("spectora:services"), {}),
        (reverse("spectora:failed_syncs"), {}),
        ("/workorders/999999/", {}),
        ("/api/docs/", {}),
        ("/api/v1/workorders/", {"HTTP_ACCEPT": "text/html"}),
        ("/admin/", {}),
        ("/admin/spectora_integration/spectoralink/", {}),
        (f"/admin/spectora_integration/spectoralink/{workorder.spectora_link.pk}/change/", {}),
    ]


@pytest.mark.django_db
def test_every_page_has_the_policy_and_no_inline_code(client, site):
    checked = 0
    for url, headers in site_pages(site):
        response = client.get(url, **headers)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert_strict(response)
        assert problems(response.content.decode()) == [], url
        checked += 1
    assert checked == len(site_pages(site))


@pytest.mark.django_db
def test_the_login_and_403_pages_too(client, db):
    response = client.get(reverse("login"))
    assert_strict(response)
    assert problems(response.content.decode()) == []
    user = get_user_model().objects.create_user("lonely", password="pw-12345")
    client.force_login(user)
    response = client.get(reverse("workorders:list"))
    assert response.status_code == 403
    assert_strict(response)
    assert problems(response.content.decode()) == []


def test_the_500_page_keeps_its_own_style_allowed_by_its_hash_and_no_script():
    html = render_to_string("500.html")
    parser = InlineCode()
    parser.feed(html)
    assert parser.found == []
    (style,) = parser.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    sources = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src-elem"]
    assert f"'sha256-{digest}'" in sources


def test_htmx_is_told_not_to_evaluate_code_or_inject_styles():
    base = (settings.BASE_DIR / "templates" / "base.html").read_text()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', base)
    assert meta is not None
    assert '"allowEval": false' in meta.group(1)
    assert '"includeIndicatorStyles": false' in meta.group(1)
    assert base.index('name="htmx-config"') < base.index("{% htmx_script %}")


def test_the_checker_sees_what_it_must_refuse():
    """The page check would catch each kind of inline code (so its silence means something)."""
    assert problems("<script>alert(1)</script>") == ["inline <script>"]
    assert problems('<a href=" JavaScript:alert(1)">x</a>') != []
    assert problems('<button onclick="x()">x</button>') != []
    assert problems('<div hx-on:click="x()"></div>') != []
    assert problems('<div hx-on::after-request="x()"></div>') != []
    assert problems('<div hx-vals="js:{a: 1}"></div>') != []
    assert problems('<input hx-trigger="keyup[ctrlKey]">') != []
    assert problems('<input hx-trigger="change from:input[type=date]">') == []
    assert problems("<style>body{}</style>") != []
    assert problems('<script src="/static/js/attik.js"></script>') == []
    assert problems('<script type="application/json" id="x">{}</script>') == []
