"""Runbooks: sanitized rendering, the template, writes, review due dates, and the gate's selectors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from monitoring.catalog.rendering import RUNBOOK_TEMPLATE, TEMPLATE_SECTIONS, render_markdown
from monitoring.catalog.selectors import (
    overdue_runbook_findings,
    overdue_runbooks,
    review_cutoff,
    rules_without_runbook_findings,
    runbook_list,
    service_findings,
    services_without_runbook_rule,
)
from monitoring.catalog.services import import_rule_files, runbook_create, runbook_mark_reviewed, runbook_update
from monitoring.models import Runbook
from monitoring.models.catalog import policy_today, review_due_on
from opsgov.errors import DomainError
from opsgov.models import Lifecycle
from opsgov.policy import clear_policy_cache, span
from tests.factories import ServiceFactory, UserFactory

from .catalog_helpers import fixture_text, make_runbook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def policy(tmp_path: Path, settings: Any) -> Iterator[Any]:
    """Write a policy file and make it the effective policy."""

    def use(text: str) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(text, encoding="utf-8")
        settings.OPSGOV_POLICY = str(path)
        clear_policy_cache()

    yield use
    clear_policy_cache()


# --- Rendering -------------------------------------------------------------------------------


def test_markdown_is_rendered_to_html() -> None:
    html = render_markdown(
        "## Mitigation\n\n1. Roll back\n2. Verify\n\n```sh\nkubectl rollout undo\n```\n\n"
        "| a | b |\n|---|--:|\n| 1 | 2 |\n"
    )
    assert "<h2>Mitigation</h2>" in html
    assert "<ol>\n<li>Roll back</li>" in html
    assert '<pre><code class="language-sh">kubectl rollout undo\n</code></pre>' in html
    assert '<td align="right">2</td>' in html


def test_script_tags_and_event_handlers_are_stripped() -> None:
    html = render_markdown(
        'Hello <script>alert("x")</script><img src="x.png" onerror="alert(1)"> <b onclick="x()">b</b>'
    )
    assert "<script" not in html and "alert(" not in html
    assert "onerror" not in html and "onclick" not in html
    assert '<img src="x.png">' in html and "<b>b</b>" in html


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="vbscript:msgbox(1)">click</a>',
    ],
)
def test_dangerous_link_schemes_are_stripped(text: str) -> None:
    html = render_markdown(text)
    assert "click" in html
    assert "javascript" not in html.lower() and "data:" not in html and "vbscript" not in html
    assert "href" not in html


def test_safe_links_keep_their_href_with_noopener() -> None:
    html = render_markdown(
        "[wiki](https://wiki.example.com/x) [page](/monitoring/runbooks/db/) <mailto:sre@example.com>"
    )
    assert '<a href="https://wiki.example.com/x" rel="noopener noreferrer">wiki</a>' in html
    assert '<a href="/monitoring/runbooks/db/" rel="noopener noreferrer">page</a>' in html
    assert "mailto:" in html


def test_style_iframes_and_forms_do_not_survive() -> None:
    html = render_markdown('<style>body{display:none}</style><iframe src="https://x"></iframe><form><input></form>ok')
    assert "<style" not in html and "<iframe" not in html and "<form" not in html and "<input" not in html
    assert "ok" in html


@pytest.mark.parametrize(
    ("text", "link"),
    [
        ("![Error rate](https://grafana.example.com/render/panel.png)", "https://grafana.example.com/render/panel.png"),
        ("![](http://evil.example/pixel.gif)", "http://evil.example/pixel.gif"),
    ],
)
def test_a_markdown_image_from_elsewhere_becomes_a_link_to_it(text: str, link: str) -> None:
    html = render_markdown(text + " after")
    assert "<img" not in html
    assert f'<a href="{link}" rel="noopener noreferrer">' in html
    assert "external image" in html.lower() and "after" in html


@pytest.mark.parametrize(
    "text",
    [
        '<img src="https://evil.example/pixel.gif" alt="x">',
        '<img src="//evil.example/pixel.gif">',
        '<img src="/&#x5C;evil.example/pixel.gif">',  # /\evil.example: browsers read the backslash as a slash
        '<img src="/&#9;/evil.example/pixel.gif">',  # a tab, which browsers drop: //evil.example
        "![x](//evil.example/pixel.gif)",
        '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
        "![x](javascript:alert(1))",
    ],
)
def test_no_image_from_elsewhere_is_ever_loaded(text: str) -> None:
    html = render_markdown(text)
    assert not re.search(r"<img[^>]*\bsrc=", html), html
    assert 'href="//' not in html and "javascript" not in html and "data:" not in html


def test_images_of_opsgov_itself_are_shown(settings: Any) -> None:
    settings.OPSGOV_BASE_URL = "https://opsgov.example.com"
    html = render_markdown(
        "![topology](/static/opsgov/favicon.svg) ![a](diagram.png) ![b](https://opsgov.example.com/static/b.png)"
    )
    assert '<img alt="topology" src="/static/opsgov/favicon.svg">' in html
    assert '<img alt="a" src="diagram.png">' in html
    assert '<img alt="b" src="https://opsgov.example.com/static/b.png">' in html
    assert "<img" not in render_markdown("![c](https://opsgov.example.com.evil.example/c.png)")


def test_scheme_relative_links_lose_their_href() -> None:
    html = render_markdown('[wiki](//evil.example/x) <a href="/\\evil.example">b</a>')
    assert "href" not in html and "wiki" in html and "b</a>" in html


# --- Template ----------------------------------------------------------------------------------


def test_the_template_has_the_sections_in_order_and_renders() -> None:
    headings = [line[3:] for line in RUNBOOK_TEMPLATE.splitlines() if line.startswith("## ")]
    assert headings == list(TEMPLATE_SECTIONS)
    html = render_markdown(RUNBOOK_TEMPLATE)
    for section in TEMPLATE_SECTIONS:
        assert f"<h2>{section}</h2>" in html
    assert "<table>" in html and "Security Lead" in html


# --- Writes -----------------------------------------------------------------------------------


def test_a_new_runbook_counts_as_reviewed_today_by_its_author() -> None:
    author = UserFactory.create()
    with at(NOW):
        runbook = runbook_create(title="DB failover", body="x", owner=author, actor=author)
    assert (runbook.slug, runbook.last_reviewed_at, runbook.last_reviewed_by) == (
        "db-failover",
        date(2026, 11, 20),
        author,
    )


def test_slugs_are_made_unique_and_pages_are_not_shadowed() -> None:
    owner = UserFactory.create()
    first = runbook_create(title="DB failover", body="x", owner=owner)
    second = runbook_create(title="DB failover", body="y", owner=owner)
    assert (first.slug, second.slug) == ("db-failover", "db-failover-2")
    assert runbook_create(title="New", body="x", owner=owner).slug == "new-runbook"
    with pytest.raises(DomainError, match="reserved") as caught:
        runbook_create(title="X", slug="new", body="x", owner=owner)
    assert caught.value.field == "slug"


def test_writes_validate_with_full_clean() -> None:
    owner = UserFactory.create()
    with pytest.raises(ValidationError) as caught:
        runbook_create(title="", body="", owner=owner)
    assert set(caught.value.message_dict) >= {"title", "body"}
    make_runbook("taken", owner=owner)
    runbook = make_runbook("other", owner=owner)
    with pytest.raises(ValidationError) as caught:
        runbook_update(runbook=runbook, data={"slug": "taken"})
    assert "slug" in caught.value.message_dict
    assert not Runbook.objects.filter(title="").exists()


def test_an_update_changes_services_but_is_not_a_review() -> None:
    checkout, ledger = ServiceFactory.create(slug="checkout"), ServiceFactory.create(slug="ledger")
    with at(NOW - timedelta(days=30)):
        runbook = make_runbook("db", services=[checkout])
    with at(NOW):
        runbook = runbook_update(runbook=runbook, data={"services": [ledger], "body": "## New"})
    assert list(runbook.services.all()) == [ledger]
    assert runbook.last_reviewed_at == date(2026, 10, 21)
    with pytest.raises(DomainError, match="last_reviewed_at"):
        runbook_update(runbook=runbook, data={"last_reviewed_at": date(2026, 11, 20)})


def test_marking_reviewed_records_who_and_when_and_is_audited() -> None:
    reviewer = UserFactory.create(username="rev")
    runbook = make_runbook("db", reviewed=date(2026, 1, 5))
    with at(NOW):
        runbook_mark_reviewed(runbook=runbook, actor=reviewer)
    runbook.refresh_from_db()
    assert (runbook.last_reviewed_at, runbook.last_reviewed_by) == (date(2026, 11, 20), reviewer)
    entry = LogEntry.objects.get_for_object(runbook).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.changes_dict["last_reviewed_at"] == ["2026-01-05", "2026-11-20"]
    assert entry.changes_dict["last_reviewed_by"][1] == str(reviewer.pk)


def test_a_review_cannot_be_in_the_future_before_the_last_one_or_anonymous() -> None:
    runbook = make_runbook("db", reviewed=date(2026, 11, 1))
    reviewer = UserFactory.create()
    with at(NOW):
        with pytest.raises(DomainError, match="future"):
            runbook_mark_reviewed(runbook=runbook, actor=reviewer, on=date(2026, 11, 21))
        with pytest.raises(DomainError, match="already reviewed on 2026-11-01"):
            runbook_mark_reviewed(runbook=runbook, actor=reviewer, on=date(2026, 10, 31))
        with pytest.raises(DomainError, match="signed-in"):
            runbook_mark_reviewed(runbook=runbook, actor=None)
    runbook.refresh_from_db()
    assert runbook.last_reviewed_at == date(2026, 11, 1)


# --- Review due dates --------------------------------------------------------------------------


def test_the_default_policy_makes_a_review_due_six_months_later() -> None:
    runbook = make_runbook("db", reviewed=date(2026, 5, 20))
    assert runbook.review_due_on == date(2026, 11, 20)
    # Due on the 20th: on time that day (policy time zone UTC), overdue from the 21st.
    with at(datetime(2026, 11, 20, 23, 59, tzinfo=UTC)):
        assert not runbook.is_review_overdue()
        assert list(overdue_runbooks()) == []
    with at(datetime(2026, 11, 21, 0, 0, tzinfo=UTC)):
        assert runbook.is_review_overdue()
        assert list(overdue_runbooks()) == [runbook]
        assert getattr(runbook_list().get(), "review_overdue") is True  # noqa: B009 - an annotation


def test_month_ends_are_clamped() -> None:
    # 31 Aug + 6 months: February has no 31st, so the last day of February.
    assert review_due_on(date(2026, 8, 31), every=span("6 months")) == date(2027, 2, 28)
    assert review_due_on(date(2027, 8, 31), every=span("6 months")) == date(2028, 2, 29)


def test_other_cadences() -> None:
    assert review_due_on(date(2026, 1, 1), every=span("90 days")) == date(2026, 4, 1)  # 31 + 28 + 31 = 90
    assert review_due_on(date(2026, 1, 1), every=span("2 weeks")) == date(2026, 1, 15)
    assert review_due_on(date(2026, 1, 1), every=span("1 year")) == date(2027, 1, 1)
    assert review_due_on(date(2026, 1, 1), every=span("36 hours")) == date(2026, 1, 3)  # 1.5 days, rounded up


def test_business_day_cadences_skip_weekends_and_holidays(policy: Any) -> None:
    policy(
        '[business_calendar]\nextra_holidays = [2026-11-26]\n[monitoring]\nrunbook_review_every = "5 business days"\n'
    )
    # Reviewed Friday 20 Nov; counting starts Monday 23: 23, 24, 25, (26 holiday), 27, 30 -> due Monday 30 Nov.
    assert review_due_on(date(2026, 11, 20)) == date(2026, 11, 30)
    runbook = make_runbook("db", reviewed=date(2026, 11, 20))
    with at(datetime(2026, 11, 30, 18, 0, tzinfo=UTC)):
        assert not runbook.is_review_overdue()
    with at(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)):
        assert list(overdue_runbooks()) == [runbook]


def test_today_is_the_date_in_the_policy_time_zone(policy: Any) -> None:
    policy('[business_calendar]\ntime_zone = "Pacific/Auckland"\n')
    runbook = make_runbook("db", reviewed=date(2026, 5, 20))
    # 11:30 UTC on 20 Nov is 00:30 on 21 Nov in Auckland (UTC+13): already overdue there.
    with at(datetime(2026, 11, 20, 11, 30, tzinfo=UTC)):
        assert policy_today() == date(2026, 11, 21)
        assert list(overdue_runbooks()) == [runbook]


@pytest.mark.parametrize("every", ["6 months", "1 month", "1 year", "30 days", "3 weeks", "10 business days"])
def test_the_sql_cutoff_agrees_with_the_due_date_on_every_day(policy: Any, every: str) -> None:
    policy(f'[monitoring]\nrunbook_review_every = "{every}"\n')
    for offset in range(0, 400, 7):
        today = date(2026, 1, 1) + timedelta(days=offset)
        cutoff = review_cutoff(today)
        assert review_due_on(cutoff) >= today, "the cutoff day is on time"
        assert review_due_on(cutoff - timedelta(days=1)) < today, "the day before it is overdue"


# --- Selectors for the monitoring gate ---------------------------------------------------------


def test_gate_selectors_name_what_is_missing_with_links() -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    ServiceFactory.create(slug="payments", name="Payments")
    ServiceFactory.create(slug="search", name="Search")  # no rule at all
    ServiceFactory.create(slug="legacy", name="Legacy", lifecycle=Lifecycle.DEPRECATED)  # not active: ignored
    without_payments_runbook = fixture_text().replace(
        "          runbook_url: https://runbooks.example.internal/payments/down\n", ""
    )
    import_rule_files(files=[("rules.yml", without_payments_runbook)])
    # checkout: HighErrorRate carries a runbook; payments: PaymentsDown lost it.
    assert [service.slug for service in services_without_runbook_rule()] == ["payments", "search"]
    assert [(f.label, f.detail, f.url, f.service) for f in service_findings()] == [
        (
            "Payments",
            "None of its 1 alert rule carries a runbook",
            "/monitoring/alert-rules/?service=payments",
            "payments",
        ),
        ("Search", "No alert rule", "/monitoring/alert-rules/?service=search", "search"),
    ]
    findings = rules_without_runbook_findings()
    assert [(f.label, f.service) for f in findings] == [
        ("CheckoutLatencyHigh", "checkout"),
        ("PaymentsDown", "payments"),
    ]
    assert findings[0].url.startswith("/monitoring/alert-rules/") and findings[0].detail == (
        "No runbook (rules.yml, group checkout)"
    )


def test_overdue_runbook_findings_have_one_row_per_service() -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    ledger = ServiceFactory.create(slug="ledger", name="Ledger")
    make_runbook("db", title="DB failover", services=[checkout, ledger], reviewed=date(2026, 1, 10))
    make_runbook("fresh", services=[checkout], reviewed=date(2026, 11, 1))
    make_runbook("orphan", title="Orphan", reviewed=date(2025, 12, 1))
    with at(NOW):
        rows = [(f.label, f.service, f.url, f.detail) for f in overdue_runbook_findings()]
    assert rows == [
        ("Orphan", "", "/monitoring/runbooks/orphan/", "Review due on 2026-06-01 (last reviewed 2025-12-01)"),
        ("DB failover", "checkout", "/monitoring/runbooks/db/", "Review due on 2026-07-10 (last reviewed 2026-01-10)"),
        ("DB failover", "ledger", "/monitoring/runbooks/db/", "Review due on 2026-07-10 (last reviewed 2026-01-10)"),
    ]
