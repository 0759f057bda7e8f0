"""The alert-rule catalog and runbooks (issue #5, items 5 and 6).

* A **Runbook** is a Markdown document for operators: what an alert means and
  what to do about it, linked to services and owned by one person. It is due
  for review ``policy.monitoring.runbook_review_every`` after its last review
  (:func:`review_due_on`), counted in days of the policy's time zone (:func:`policy_today`).
* **RuleFile**, **RuleGroup** and **AlertRule** mirror the Prometheus alerting
  rule files imported by monitoring.catalog.services: a file has groups, a group
  has alerting rules. Recording rules are only counted (on the group and the
  file): they never page anyone, so the catalog does not list them.

An alerting rule's identity is (file name, group name, alert name): importing
the same file again updates its rules in place and removes the ones that are
no longer in it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opsgov.models import Service, TimeStampedModel
from opsgov.policy import Span, Unit, get_policy
from opsgov.sla import BusinessCalendar, first_instant_showing, policy_calendar, target_length

from ..links import is_absolute_http_url, validate_runbook_link

# --- Runbooks --------------------------------------------------------------------------


def policy_today(now: datetime | None = None) -> date:
    """Today's date in the policy's time zone (runbook review dates are compared with it)."""
    return timezone.localtime(now or timezone.now(), get_policy().business_calendar.zone).date()


def review_due_on(reviewed_on: date, *, every: Span | None = None, calendar: BusinessCalendar | None = None) -> date:
    """The last day on which a runbook reviewed on `reviewed_on` is still on time.

    `every` defaults to ``policy.monitoring.runbook_review_every``:

    * months and years: calendar arithmetic on the date (31 Aug + 6 months = 28 Feb
      or 29 Feb; the day is clamped to the month's length);
    * days and weeks: that many days later; minutes and hours are rounded up to
      whole days (a review cadence of hours makes little sense, but stays valid);
    * business hours and days: counted on the policy's business calendar from the
      start of the day after the review; due on the day that span ends.

    The runbook is overdue from the day after this date.
    """
    every = every or get_policy().monitoring.runbook_review_every
    if every.unit == Unit.MONTHS:
        return reviewed_on + relativedelta(months=every.amount)
    if every.unit == Unit.YEARS:
        return reviewed_on + relativedelta(years=every.amount)
    if every.unit.is_business:
        calendar = calendar or policy_calendar()
        start = first_instant_showing(datetime.combine(reviewed_on + timedelta(days=1), time()), calendar.zone)
        end = calendar.add(start, target_length(every, calendar=calendar))
        return end.astimezone(calendar.zone).date()
    days = math.ceil(every.as_timedelta() / timedelta(days=1))
    return reviewed_on + timedelta(days=days)


class Runbook(TimeStampedModel):
    """An operator's guide for one kind of trouble: what it means, how to diagnose and fix it, whom to call.

    The body is Markdown, shown rendered and sanitized (monitoring.catalog.rendering.render_markdown).
    It is due for review ``policy.monitoring.runbook_review_every`` after `last_reviewed_at`.
    """

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=80, unique=True, help_text="Stable identifier in the runbook's URL (alert rules link to it)."
    )
    services = models.ManyToManyField(
        Service, related_name="runbooks", blank=True, help_text="The services this runbook is for."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_runbooks",
        help_text="Who keeps the runbook accurate and reviews it.",
    )
    body = models.TextField(help_text="Markdown. Raw HTML is allowed but sanitized when shown.")
    last_reviewed_at = models.DateField(help_text="The day the runbook was last checked to be accurate.")
    last_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who reviewed it last (empty for a review date given on import or by an older tool).",
    )

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            # monitoring.catalog.selectors.overdue_runbooks and the gate: runbooks reviewed before a cutoff day.
            models.Index(fields=["last_reviewed_at"], name="runbook_reviewed_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("monitoring:runbook-detail", kwargs={"slug": self.slug})

    @property
    def review_due_on(self) -> date:
        """The last day the current review is valid (policy ``monitoring.runbook_review_every``)."""
        return review_due_on(self.last_reviewed_at)

    def is_review_overdue(self, today: date | None = None) -> bool:
        return self.review_due_on < (today or policy_today())


# --- Alert rules -------------------------------------------------------------------------


class RuleFile(TimeStampedModel):
    """One imported Prometheus rule file, identified by its file name (e.g. ``checkout.rules.yml``)."""

    name = models.CharField(max_length=255, unique=True, help_text="File name (without directories).")
    sha256 = models.CharField(max_length=64, help_text="Digest of the imported content.")
    content = models.TextField(help_text="The YAML as imported, for reference.")
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recording_rule_count = models.PositiveIntegerField(
        default=0, help_text="Recording rules in the file: counted, not cataloged."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RuleGroup(TimeStampedModel):
    """A rule group of a file (Prometheus evaluates a group's rules together, every `interval`)."""

    rule_file = models.ForeignKey(RuleFile, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=255)
    interval = models.DurationField(null=True, blank=True, help_text="Empty: Prometheus' global evaluation interval.")
    position = models.PositiveIntegerField(default=0, help_text="Order of the group in its file.")
    recording_rule_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["rule_file__name", "position"]
        constraints = [
            # Prometheus refuses a file that repeats a group name; the importer upserts by it.
            models.UniqueConstraint(fields=["rule_file", "name"], name="rulegroup_unique_name_per_file"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_file.name} / {self.name}"


class AlertRule(TimeStampedModel):
    """A Prometheus alerting rule, with what opsgov makes of it: severity, service and runbook.

    * `severity`: the policy severity its labels map to (monitoring.catalog.rule_files.map_severity), empty when
      the labels name none we know;
    * `service`: the Service whose slug is its ``service`` label; empty (flagged) when there is no
      such label or no such service (`service_label` keeps what the file says);
    * runbook: `runbook` (an opsgov runbook, from a ``runbook_url`` annotation pointing at its page
      or linked by hand) and/or `runbook_url` (any other ``runbook_url``). A rule with neither is
      flagged.
    """

    group = models.ForeignKey(RuleGroup, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=255, help_text="The `alert` name.")
    expr = models.TextField(help_text="PromQL expression; the alert fires for each series it returns.")
    for_duration = models.DurationField(
        null=True, blank=True, help_text="`for`: how long the condition must hold before firing."
    )
    keep_firing_for = models.DurationField(
        null=True, blank=True, help_text="`keep_firing_for`: how long it keeps firing after the condition clears."
    )
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    severity = models.CharField(
        max_length=16, blank=True, help_text="Policy severity (SEV-1..) mapped from the labels; empty: unknown."
    )
    severity_label = models.CharField(max_length=64, blank=True, help_text="The `severity` label as written.")
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="alert_rules")
    service_label = models.CharField(max_length=64, blank=True, help_text="The `service` label as written.")
    runbook = models.ForeignKey(Runbook, null=True, blank=True, on_delete=models.SET_NULL, related_name="alert_rules")
    runbook_url = models.CharField(
        max_length=1000,
        blank=True,
        validators=[validate_runbook_link],
        help_text="An external runbook link (`runbook_url` not pointing at opsgov): an absolute http(s) URL.",
    )
    runbook_linked_by_hand = models.BooleanField(
        default=False,
        help_text="The runbook was linked in opsgov (UI or API); a re-import keeps it unless the file names another.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Order of the rule in its group.")

    class Meta:
        ordering = ["group__rule_file__name", "group__position", "position"]
        constraints = [
            # Identity of a rule across imports (file, group, alert name); the importer upserts by it.
            models.UniqueConstraint(fields=["group", "name"], name="alertrule_unique_name_per_group"),
        ]
        indexes = [
            # monitoring.catalog.selectors.rules_without_runbook (the gate and the coverage figure).
            models.Index(
                fields=["service"],
                name="alertrule_no_runbook_idx",
                condition=Q(runbook__isnull=True, runbook_url=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("monitoring:alert-rule-detail", kwargs={"pk": self.pk})

    @property
    def has_runbook(self) -> bool:
        return self.runbook_id is not None or bool(self.runbook_url)

    @property
    def external_runbook_href(self) -> str:
        """The external runbook link when a browser may follow it ("" otherwise, e.g. a row kept from
        before links were validated): pages show anything else as text."""
        return self.runbook_url if is_absolute_http_url(self.runbook_url) else ""

    @property
    def runbook_href(self) -> str:
        """Where the runbook is read: the opsgov page, else the external link, else ""."""
        if self.runbook is not None:
            return self.runbook.get_absolute_url()
        return self.external_runbook_href
