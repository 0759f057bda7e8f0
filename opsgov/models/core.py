"""Core records shared by every app: teams, services, metric snapshots, the worker heartbeat."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import models
from django.urls import reverse
from django.utils import timezone


class TimeStampedModel(models.Model):
    """Abstract base: every record knows when it was created and last changed."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Team(TimeStampedModel):
    """A group of people that owns services and is notified about them."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used in URLs and the API.")
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    email = models.EmailField(blank=True, help_text="Where the team's notifications and reports go.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team-detail", kwargs={"slug": self.slug})


class ServiceTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (critical)"
    TIER_2 = 2, "Tier 2 (important)"
    TIER_3 = 3, "Tier 3 (supporting)"


class Lifecycle(models.TextChoices):
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"

    @property
    def badge(self) -> str:
        return {"active": "success", "deprecated": "muted"}[self.value]


def validate_links(value: Any) -> None:
    """Links are a list of {"title": ..., "url": ...} with http(s) URLs."""
    if not isinstance(value, list):
        raise ValidationError("Links must be a list of {title, url} objects.")
    check_url = URLValidator(schemes=["http", "https"])
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"title", "url"}:
            raise ValidationError(f"links[{index}]: expected exactly the keys 'title' and 'url'.")
        if not isinstance(item["title"], str) or not item["title"].strip():
            raise ValidationError(f"links[{index}].title: must be a non-empty string.")
        try:
            check_url(item["url"])
        except ValidationError:
            raise ValidationError(f"links[{index}].url: {item['url']!r} is not an http(s) URL.") from None


#: The most aliases a service may have (routing looks them up on every routed event).
MAX_ALIASES = 20


def validate_aliases(value: Any) -> None:
    """Aliases are a list of distinct slugs (letters, digits, hyphens, underscores), at most 64 characters each."""
    if not isinstance(value, list):
        raise ValidationError('Aliases must be a list of slugs, e.g. ["payments", "pay"].')
    if len(value) > MAX_ALIASES:
        raise ValidationError(f"At most {MAX_ALIASES} aliases.")
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > 64:
            raise ValidationError(f"aliases[{index}]: must be a slug of 1 to 64 characters.")
        try:
            validate_slug(item)
        except ValidationError:
            raise ValidationError(f"aliases[{index}]: {item!r} is not a slug (letters, digits, - and _).") from None
        if item in seen:
            raise ValidationError(f"aliases[{index}]: {item!r} is listed twice.")
        seen.add(item)


class Service(TimeStampedModel):
    """A production system that opsgov governs: everything else hangs off a service."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used in URLs and the API.")
    name = models.CharField(max_length=120)
    tier = models.PositiveSmallIntegerField(choices=ServiceTier.choices, default=ServiceTier.TIER_2)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    description = models.TextField(blank=True)
    links = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_links],
        help_text='Dashboards, repositories, runbooks: [{"title": "Grafana", "url": "https://..."}]',
    )
    aliases = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_aliases],
        help_text='Other names alerts use for this service, e.g. ["payments", "pay"]: an alert whose routing '
        "label has one of them goes to this service. Unique across services, never another service's slug.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tier__gte=1, tier__lte=3), name="service_tier_1_to_3"),
            models.CheckConstraint(
                condition=models.Q(lifecycle__in=["active", "deprecated"]), name="service_lifecycle_valid"
            ),
        ]
        indexes = [
            # Gates and the dashboard iterate over active services.
            models.Index(fields=["owner_team"], name="service_active_team_idx", condition=models.Q(lifecycle="active")),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("service-detail", kwargs={"slug": self.slug})

    def clean(self) -> None:
        """Slugs and aliases name one service each: no alias is this or another service's slug or alias.

        Checked here (every write goes through full_clean); two concurrent edits could
        still collide, in which case routing picks the service with that slug first,
        then the alias of the oldest service.
        """
        aliases = self.aliases if isinstance(self.aliases, list) else []
        names = {alias for alias in aliases if isinstance(alias, str)}
        if self.slug in names:
            raise ValidationError({"aliases": f"{self.slug!r} is this service's slug already."})
        others = Service.objects.exclude(pk=self.pk) if self.pk else Service.objects.all()
        taken = sorted(others.filter(slug__in=names).values_list("slug", flat=True))
        if taken:
            raise ValidationError({"aliases": f"{', '.join(map(repr, taken))}: the slug of another service."})
        for slug, their_aliases in others.exclude(aliases=[]).values_list("slug", "aliases"):
            theirs = set(their_aliases) if isinstance(their_aliases, list) else set()
            clash = sorted(names & theirs)
            if clash:
                raise ValidationError(
                    {"aliases": f"{', '.join(map(repr, clash))}: already an alias of service {slug!r}."}
                )
            if self.slug in theirs:
                raise ValidationError({"slug": f"{self.slug!r} is an alias of service {slug!r}."})


class MetricSnapshot(models.Model):
    """One computed value of an operational metric for a scope and window, at a time.

    The dashboard, the API and /metrics read these rows, never the history
    tables, so their cost does not grow with the amount of history.
    """

    metric = models.CharField(max_length=64)
    scope = models.CharField(max_length=160, help_text='"global", "service:<slug>", "team:<slug>", "severity:<key>"')
    window = models.CharField(max_length=16, help_text='Window length, e.g. "7d", "30d", "90d".')
    value = models.FloatField(null=True, blank=True, help_text="Empty when there is no data in the window.")
    sample_size = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True, help_text="Extra figures such as p50/p90.")
    computed_at = models.DateTimeField(default=timezone.now)
    is_current = models.BooleanField(
        default=True, help_text="The newest value of its (metric, scope, window); older rows are history."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric", "scope", "window", "-computed_at"]
        constraints = [
            # selectors.latest_snapshots reads only current rows: one per key, whatever the history.
            models.UniqueConstraint(
                fields=["metric", "scope", "window"],
                condition=models.Q(is_current=True),
                name="snapshot_one_current_per_key",
            ),
        ]
        indexes = [
            # Trends and history pruning: a key's rows over time.
            models.Index(fields=["metric", "scope", "window", "-computed_at"], name="snapshot_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.scope}, {self.window}] = {self.value}"


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the heartbeat task: proof that the queue is served."""

    name = models.CharField(max_length=64, unique=True)
    beats = models.PositiveBigIntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
