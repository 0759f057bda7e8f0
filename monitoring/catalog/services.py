"""Writes of the alert-rule catalog and the runbooks: the only code that changes them.

Every function takes keyword-only arguments, validates with ``full_clean()``
and runs in one transaction. Every change is kept in the audit trail (auditlog,
registered in monitoring.apps), with the signed-in user as actor.

Runbooks
--------
Writing a runbook is reviewing it: a new runbook is reviewed today by its
author unless a past review day is given (when moving runbooks over from
another tool). Later edits do not count as a review: a review is recorded
explicitly (who and which day), so "reviewed" means someone checked the whole
document, not that someone fixed a typo.

Alert rules
-----------
Rules come from Prometheus rule files, read and checked by
monitoring.catalog.rule_files (which says what opsgov makes of a rule's labels
and annotations). A runbook linked by hand (:func:`alert_rule_link_runbook`) is
kept by later imports, unless the file's ``runbook_url`` names an opsgov runbook.

Import semantics (:func:`import_rule_files`)
--------------------------------------------
All or nothing per call: every file is validated first; one invalid file
rejects the call and nothing is written. Then, in one transaction, each file
is synchronised: rules are matched on (file name, group, alert name), new
ones added, changed ones updated in place, unchanged ones left alone, and the
rules (and groups) that are no longer in the file removed. With
``replace=True`` the files of the call become the whole catalog: files not in
the call are removed with their rules. A file is identified by its name
without directories, so two files of one call may not share a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from opsgov.errors import DomainError
from opsgov.models import Service

from ..models import AlertRule, RuleFile, RuleGroup, Runbook
from ..models.catalog import policy_today
from .rule_files import (
    RUNBOOK_ANNOTATION,
    SERVICE_LABEL,
    ParsedFile,
    ParsedRule,
    RuleFileError,
    RuleImportError,
    map_severity,
    opsgov_runbook_slug,
    parse_rule_file,
)

Actor = AbstractBaseUser | AnonymousUser | None

UPDATABLE_FIELDS: tuple[str, ...] = ("title", "slug", "body", "owner", "services")
#: Slugs that would shadow a page under /monitoring/runbooks/.
RESERVED_SLUGS: frozenset[str] = frozenset({"new"})

# --- Runbooks ----------------------------------------------------------------------------


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def unique_slug(title: str, *, exclude_pk: int | None = None) -> str:
    """A slug from `title` that no other runbook uses ("db-failover", then "db-failover-2", ...)."""
    base = slugify(title)[:72] or "runbook"
    if base in RESERVED_SLUGS:
        base = f"{base}-runbook"
    others = Runbook.objects.filter(slug__startswith=base)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    taken = set(others.values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise DomainError(f"{slug!r} is reserved for a page; choose another slug.", field="slug")


def _not_in_future(day: date, field: str) -> None:
    if day > policy_today():
        raise DomainError("A review day cannot be in the future.", field=field)


@transaction.atomic
def runbook_create(
    *,
    title: str,
    body: str,
    owner: Any,
    services: Iterable[Service] = (),
    slug: str = "",
    last_reviewed_at: date | None = None,
    actor: Actor = None,
) -> Runbook:
    """Create a runbook. Without `slug` one is made from the title; without `last_reviewed_at` it is
    reviewed today by `actor` (the author checked it by writing it)."""
    reviewed_by = None
    if last_reviewed_at is None:
        last_reviewed_at = policy_today()
        reviewed_by = _user(actor)
    else:
        _not_in_future(last_reviewed_at, "last_reviewed_at")
    runbook = Runbook(
        title=title,
        slug=slug or unique_slug(title),
        body=body,
        owner=owner,
        last_reviewed_at=last_reviewed_at,
        last_reviewed_by=reviewed_by,
    )
    _check_slug(runbook.slug)
    runbook.full_clean()
    runbook.save()
    runbook.services.set(list(services))
    return runbook


@transaction.atomic
def runbook_update(*, runbook: Runbook, data: dict[str, Any]) -> Runbook:
    """Change title, slug, body, owner and/or services. A review is recorded with runbook_mark_reviewed."""
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    for name, value in data.items():
        if name != "services":
            setattr(runbook, name, value)
    if "slug" in data and not data["slug"]:
        runbook.slug = unique_slug(runbook.title, exclude_pk=runbook.pk)
    _check_slug(runbook.slug)
    runbook.full_clean()
    runbook.save()
    if "services" in data:
        runbook.services.set(list(data["services"]))
    return runbook


@transaction.atomic
def runbook_mark_reviewed(*, runbook: Runbook, actor: Actor, on: date | None = None) -> Runbook:
    """Record that `actor` reviewed the runbook on `on` (default: today in the policy's time zone).

    The next review is then due ``policy.monitoring.runbook_review_every`` later. A review
    day in the future, or before the current last review, is refused.
    """
    reviewer = _user(actor)
    if reviewer is None:
        raise DomainError("A review is recorded for a signed-in person.", field="reviewed_by")
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    day = on or policy_today()
    _not_in_future(day, "reviewed_on")
    if day < runbook.last_reviewed_at:
        raise DomainError(
            f"The runbook was already reviewed on {runbook.last_reviewed_at:%Y-%m-%d}, after {day:%Y-%m-%d}.",
            field="reviewed_on",
        )
    runbook.last_reviewed_at = day
    runbook.last_reviewed_by = reviewer
    runbook.full_clean()
    runbook.save(update_fields=["last_reviewed_at", "last_reviewed_by", "updated_at"])
    return runbook


# --- Alert rules: import of rule files ---------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    severity: str
    severity_label: str
    service: Service | None
    service_label: str
    runbook: Runbook | None
    runbook_url: str


def _resolve_all(files: Sequence[ParsedFile]) -> dict[tuple[str, str, str], _Resolved]:
    """Severity, service and runbook of every rule, read with two queries; unknown runbook slugs are errors."""
    rules = [(file, group, rule) for file in files for group in file.groups for rule in group.rules]
    service_slugs = {rule.labels.get(SERVICE_LABEL, "").strip() for _, _, rule in rules} - {""}
    services = {service.slug: service for service in Service.objects.filter(slug__in=service_slugs)}
    slugs = {
        (file.name, group.name, rule.name): opsgov_runbook_slug(rule.annotations[RUNBOOK_ANNOTATION])
        for file, group, rule in rules
        if rule.annotations.get(RUNBOOK_ANNOTATION, "").strip()
    }
    runbooks = {runbook.slug: runbook for runbook in Runbook.objects.filter(slug__in=set(slugs.values()) - {None})}
    errors: list[RuleFileError] = []
    resolved: dict[tuple[str, str, str], _Resolved] = {}
    for file, group, rule in rules:
        url = rule.annotations.get(RUNBOOK_ANNOTATION, "").strip()
        slug = slugs.get((file.name, group.name, rule.name))
        runbook = runbooks.get(slug) if slug else None
        if slug and runbook is None:
            errors.append(
                RuleFileError(
                    file=file.name,
                    message=f"runbook_url points at the opsgov runbook {slug!r}, which does not exist; "
                    "create it first or fix the URL",
                    line=rule.runbook_url_line or rule.line,
                    group=group.name,
                    rule=rule.name,
                    path=f"groups[{group.position}].rules[{rule.index}].annotations.{RUNBOOK_ANNOTATION}",
                )
            )
        service_label = rule.labels.get(SERVICE_LABEL, "").strip()
        resolved[(file.name, group.name, rule.name)] = _Resolved(
            severity=map_severity(rule.labels),
            severity_label=rule.labels.get("severity", "")[:64],
            service=services.get(service_label),
            service_label=service_label[:64],
            runbook=runbook,
            runbook_url="" if slug else url,
        )
    if errors:
        raise RuleImportError(errors)
    return resolved


@dataclass
class FileImportResult:
    """What importing one file changed."""

    name: str
    created: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    groups: int = 0
    recording_rules: int = 0
    #: ``service`` label -> the rules ("group/alert") naming it, for labels no Service has as its slug.
    unknown_services: dict[str, list[str]] = field(default_factory=dict)
    #: Rules ("group/alert") without a ``service`` label.
    without_service_label: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.name}: {len(self.added)} added, {len(self.updated)} updated, {self.unchanged} unchanged, "
            f"{len(self.removed)} removed ({self.groups} group{'s' if self.groups != 1 else ''}, "
            f"{self.recording_rules} recording rule{'s' if self.recording_rules != 1 else ''} counted, not cataloged)"
        )
        if self.unknown_services:
            text += f"; unknown service labels: {', '.join(sorted(self.unknown_services))}"
        if self.without_service_label:
            count = len(self.without_service_label)
            text += f"; {count} rule{'s' if count != 1 else ''} without a service label"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "created": self.created,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "groups": self.groups,
            "recording_rules": self.recording_rules,
            "unknown_services": [
                {"service": label, "rules": rules} for label, rules in sorted(self.unknown_services.items())
            ],
            "without_service_label": self.without_service_label,
        }


@dataclass
class ImportResult:
    """What one import call changed, per file, and the files removed by ``replace``."""

    files: list[FileImportResult]
    removed_files: list[FileImportResult] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(len(result.added) for result in self.files)

    @property
    def updated(self) -> int:
        return sum(len(result.updated) for result in self.files)

    @property
    def removed(self) -> int:
        return sum(len(result.removed) for result in [*self.files, *self.removed_files])

    @property
    def unknown_services(self) -> list[str]:
        """The ``service`` labels of the imported files that no Service has as its slug, sorted."""
        return sorted({label for result in self.files for label in result.unknown_services})

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unknown_services": self.unknown_services,
            "files": [result.as_json() for result in self.files],
            "removed_files": [result.name for result in self.removed_files],
        }


def _rule_values(rule: ParsedRule, resolved: _Resolved) -> dict[str, Any]:
    return {
        "expr": rule.expr,
        "for_duration": rule.for_duration,
        "keep_firing_for": rule.keep_firing_for,
        "labels": rule.labels,
        "annotations": rule.annotations,
        "severity": resolved.severity,
        "severity_label": resolved.severity_label,
        "service": resolved.service,
        "service_label": resolved.service_label,
        "runbook_url": resolved.runbook_url,
        "position": rule.position,
    }


def _apply_runbook(rule: AlertRule, resolved: _Resolved) -> None:
    """The file's opsgov runbook wins; otherwise a runbook linked by hand stays, anything else is cleared."""
    if resolved.runbook is not None:
        rule.runbook = resolved.runbook
        rule.runbook_linked_by_hand = False
    elif not rule.runbook_linked_by_hand:
        rule.runbook = None


def _state(rule: AlertRule) -> tuple[Any, ...]:
    """What an import may change on a rule, to tell an update from no change."""
    return (
        rule.expr,
        rule.for_duration,
        rule.keep_firing_for,
        rule.labels,
        rule.annotations,
        rule.severity,
        rule.severity_label,
        rule.service_id,
        rule.service_label,
        rule.runbook_id,
        rule.runbook_url,
        rule.runbook_linked_by_hand,
        rule.position,
    )


def _sync_file(
    parsed: ParsedFile, resolved: dict[tuple[str, str, str], _Resolved], actor: Any, now: datetime
) -> FileImportResult:
    result = FileImportResult(name=parsed.name, groups=len(parsed.groups), recording_rules=parsed.recording_rule_count)
    # Two imports of one new file at once: get_or_create lets the second wait for the first's row
    # (unique name) and then use it; the lock serialises the rest of the two synchronisations.
    _, result.created = RuleFile.objects.get_or_create(
        name=parsed.name, defaults={"sha256": parsed.sha256, "content": parsed.content, "imported_at": now}
    )
    rule_file = RuleFile.objects.select_for_update().get(name=parsed.name)
    rule_file.sha256 = parsed.sha256
    rule_file.content = parsed.content
    rule_file.imported_at = now
    rule_file.imported_by = actor
    rule_file.recording_rule_count = parsed.recording_rule_count
    rule_file.full_clean(validate_unique=False, validate_constraints=False)
    rule_file.save()

    groups = {group.name: group for group in RuleGroup.objects.filter(rule_file=rule_file)}
    existing = {
        (rule.group.name, rule.name): rule
        for rule in AlertRule.objects.filter(group__rule_file=rule_file).select_related("group")
    }
    seen: set[tuple[str, str]] = set()
    for parsed_group in parsed.groups:
        group = groups.pop(parsed_group.name, None) or RuleGroup(rule_file=rule_file, name=parsed_group.name)
        group.interval = parsed_group.interval
        group.position = parsed_group.position
        group.recording_rule_count = parsed_group.recording_rule_count
        group.full_clean(validate_unique=False, validate_constraints=False)
        group.save()
        for parsed_rule in parsed_group.rules:
            key = (parsed_group.name, parsed_rule.name)
            seen.add(key)
            found = resolved[(parsed.name, parsed_group.name, parsed_rule.name)]
            values = _rule_values(parsed_rule, found)
            label = f"{parsed_group.name}/{parsed_rule.name}"
            if found.service is None:
                if found.service_label:
                    result.unknown_services.setdefault(found.service_label, []).append(label)
                else:
                    result.without_service_label.append(label)
            rule = existing.get(key)
            if rule is None:
                rule = AlertRule(group=group, name=parsed_rule.name, **values)
                _apply_runbook(rule, resolved[(parsed.name, *key)])
                rule.full_clean(validate_unique=False, validate_constraints=False)
                rule.save()
                result.added.append(label)
                continue
            before = _state(rule)
            for name, value in values.items():
                setattr(rule, name, value)
            _apply_runbook(rule, resolved[(parsed.name, *key)])
            if _state(rule) == before:
                result.unchanged += 1
                continue
            rule.full_clean(validate_unique=False, validate_constraints=False)
            rule.save()
            result.updated.append(label)
    for key, rule in existing.items():
        if key not in seen:
            result.removed.append(f"{key[0]}/{key[1]}")
            rule.delete()
    for group in groups.values():  # groups no longer in the file (their rules were removed above)
        group.delete()
    return result


def _remove_file(rule_file: RuleFile) -> FileImportResult:
    result = FileImportResult(name=rule_file.name)
    for rule in AlertRule.objects.filter(group__rule_file=rule_file).select_related("group"):
        result.removed.append(f"{rule.group.name}/{rule.name}")
        rule.delete()
    rule_file.delete()
    return result


def import_rule_files(
    *, files: Sequence[tuple[str, str | bytes]], replace: bool = False, actor: Actor = None, now: datetime | None = None
) -> ImportResult:
    """Import Prometheus rule files given as (file name, content); all or nothing (see the module docstring).

    Raises RuleImportError listing every problem of every file; nothing is written then.
    """
    if not files:
        raise DomainError("No rule file given.", field="file")
    names = [name.replace("\\", "/").rsplit("/", 1)[-1] for name, _ in files]
    errors: list[RuleFileError] = []
    parsed_files: list[ParsedFile] = []
    for name, (_, content) in zip(names, files, strict=True):
        if not name or len(name) > 255:
            errors.append(
                RuleFileError(file=name or "(unnamed)", message="a file name of 1 to 255 characters is needed")
            )
            continue
        if names.count(name) > 1:
            errors.append(RuleFileError(file=name, message="two files of this call have this name"))
            continue
        try:
            parsed_files.append(parse_rule_file(name, content))
        except RuleImportError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RuleImportError(errors)
    user = actor if actor is not None and actor.is_authenticated else None
    moment = now or timezone.now()
    with transaction.atomic():
        resolved = _resolve_all(parsed_files)
        results = [_sync_file(parsed, resolved, user, moment) for parsed in parsed_files]
        removed_files = []
        if replace:
            for rule_file in RuleFile.objects.select_for_update().exclude(name__in=names).order_by("name"):
                removed_files.append(_remove_file(rule_file))
    return ImportResult(files=results, removed_files=removed_files)


# --- Alert rules: a runbook linked by hand -----------------------------------------------


@transaction.atomic
def alert_rule_link_runbook(*, rule: AlertRule, runbook: Runbook | None) -> AlertRule:
    """Link an opsgov runbook to a rule (or unlink with None); later imports keep the link (module docstring)."""
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    rule.runbook = runbook
    rule.runbook_linked_by_hand = runbook is not None
    rule.full_clean(validate_unique=False, validate_constraints=False)
    rule.save(update_fields=["runbook", "runbook_linked_by_hand", "updated_at"])
    return rule
