"""Writes of the security app: assets, scan imports (one transaction per report), risk acceptances.

Import rules (``import_scan``)
------------------------------
- The asset is the one named, else the report's artifact name. An unknown name takes the
  first matching AssetMappingRule (its service and kind); without one it is refused with the
  rule to add, unless the caller asks to create the asset (``create_asset``).
- Re-importing the report the asset's latest scan of that format already holds (same SHA-256
  of its canonical JSON) changes nothing and returns that scan.
- Identity: (asset, package_key, canonical vulnerability id). The canonical id goes through
  VulnerabilityAlias: an id seen before keeps the canonical id it got then; a new flaw is known
  by its first CVE, else GHSA, else first id. Findings of one report with one identity merge.
- Severity: the scanner's (normalised), else one an alias of the flaw carries from another
  report, else the policy's ``security.default_severity``.
- Life cycle: a listed finding is open in its scope (``open_scopes``); an open finding of a
  scope the report covers but no longer lists loses that scope and is fixed when it has none
  left. A fixed finding listed again reopens (``reopen_count``; the SLA restarts when
  ``security.reopen_restarts_sla``). VEX not_affected / false_positive and dismissed Dependabot
  alerts mark it not applicable (with the justification); resolved VEX / fixed alerts fix it.
- SLA: ``due_at`` = the policy's ``security.vulnerability_sla[severity]`` from
  ``sla_started_at`` on opsgov.sla (first detection by opsgov, or the publication date when
  ``security.sla_starts_at`` is "published").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from opsgov import exceptions, sla
from opsgov.exceptions import user_roles
from opsgov.models import Service
from opsgov.policy import SecurityPolicy, get_policy
from opsgov.roles import SECURITY_LEAD

from .models import (
    SEVERITY_ORDER,
    Asset,
    AssetKind,
    AssetMappingRule,
    Component,
    Finding,
    FindingStatus,
    RiskAcceptance,
    Scan,
    VulnerabilityAlias,
)
from .parsers import ParsedComponent, ParsedFinding, ParsedReport, canonical_id, parse_report


class AssetRefused(ValidationError):
    """A report for an unknown asset, with no mapping rule and no request to create it."""


@dataclass(frozen=True)
class ImportResult:
    scan: Scan
    created: bool  # False: the same report was imported already; nothing changed


def report_digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def due_for(severity: str, start: datetime) -> datetime | None:
    """When a finding of `severity` whose clock started at `start` falls due (None: no SLA)."""
    target = get_policy().security.vulnerability_sla.get(severity)  # type: ignore[call-overload]
    if target is None:
        return None
    return sla.due_at(start, target, calendar=sla.policy_calendar())


# --- Assets --------------------------------------------------------------------------------


def _rule_for(name: str) -> AssetMappingRule | None:
    return next((rule for rule in AssetMappingRule.objects.select_related("service") if rule.matches(name)), None)


def resolve_asset(*, name: str, create: bool = False, service: Service | None = None, kind: str | None = None) -> Asset:
    """The asset named `name`: existing, created by a matching mapping rule, or created on request."""
    asset = Asset.objects.filter(name=name).first()
    if asset is not None:
        return asset
    rule = _rule_for(name)
    if rule is not None:
        asset = Asset(name=name, kind=kind or rule.kind, service=service or rule.service)
    elif create:
        asset = Asset(name=name, kind=kind or AssetKind.APPLICATION, service=service)
    else:
        raise AssetRefused(
            {
                "asset": [
                    f"No asset is named {name!r} and no mapping rule matches it. Add a rule "
                    f'(POST /api/v1/security/asset-rules/ {{"pattern": "{name}", "service": "<service slug>"}}, '
                    "or a pattern with * for every tag), declare the asset, or ask to create it (create_asset=true)."
                ]
            }
        )
    asset.full_clean()
    asset.save()
    return asset


# --- Scan import -----------------------------------------------------------------------------


Merged = dict[tuple[str, str], tuple[ParsedFinding, list[str], set[str]]]


def _merge(parsed: list[ParsedFinding]) -> tuple[Merged, dict[str, tuple[str, str]]]:
    """Findings of one report by identity: (first seen, all ids, scopes), after alias lookup; and the
    known aliases of the report's ids (alias -> (canonical, severity))."""
    all_ids = {value for finding in parsed for value in finding.ids}
    known = {
        alias: (canonical, severity)
        for alias, canonical, severity in VulnerabilityAlias.objects.filter(alias__in=all_ids).values_list(
            "alias", "canonical", "severity"
        )
    }
    merged: Merged = {}
    for finding in parsed:
        canonical = next((known[value][0] for value in finding.ids if value in known), None) or canonical_id(
            finding.ids
        )
        key = (finding.package_key, canonical)
        if key in merged:
            first, ids, scopes = merged[key]
            ids.extend(value for value in finding.ids if value not in ids)
            scopes.add(finding.scope)
            if finding.severity and (
                not first.severity or SEVERITY_ORDER.index(finding.severity) < SEVERITY_ORDER.index(first.severity)  # type: ignore[arg-type]
            ):
                first.severity, first.severity_source = finding.severity, finding.severity_source
            if finding.status != FindingStatus.OPEN:
                first.status, first.justification = finding.status, finding.justification
        else:
            merged[key] = (finding, list(finding.ids), {finding.scope})
    return merged, known


def _record_aliases(merged: Merged, known: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Store the new aliases (with the severity the report gives); returns canonical id -> the severity its
    aliases carried before (for findings of reports without one)."""
    rows: dict[str, dict[str, Any]] = {}
    for (_, canonical), (finding, ids, _) in merged.items():
        for value in [canonical, *ids]:
            if value not in rows and value not in known:
                rows[value] = {"alias": value, "canonical": canonical, "severity": finding.severity or ""}
    # A concurrent import may have stored some of them since: theirs stand.
    _insert_rows(VulnerabilityAlias, list(rows.values()), ignore_conflicts=True)
    carried: dict[str, str] = {}
    for canonical, severity in known.values():
        if severity:
            carried.setdefault(canonical, severity)
    # Known flaws whose aliases had no severity yet take the one this report gives (one update per severity).
    late: dict[str, list[str]] = {}
    for (_, canonical), (finding, _, _) in merged.items():
        if finding.severity and canonical not in carried and any(c == canonical for c, _ in known.values()):
            late.setdefault(finding.severity, []).append(canonical)
    for severity, canonicals in late.items():
        VulnerabilityAlias.objects.filter(canonical__in=canonicals, severity="").update(severity=severity)
    return carried


@transaction.atomic
def import_scan(
    *,
    report: Any,
    asset_name: str | None = None,
    format: str | None = None,
    create_asset: bool = False,
    service: Service | None = None,
    kind: str | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import one scanner report (parsed JSON) for one asset, all or nothing.

    Raises parsers.UnknownFormat (the formats tried, each with why) or ValidationError.
    """
    now = now or timezone.now()
    digest = report_digest(report)
    named = (asset_name or "").strip()
    # An unchanged re-import is answered before the report is parsed, and without a lock: a read-only
    # transaction (no row lock, so nothing to flush at commit).
    if named:
        unchanged = _already_imported(digest, asset_name=named)
        if unchanged is not None:
            return ImportResult(scan=unchanged, created=False)
    parsed = parse_report(report, format=format)
    name = named or parsed.artifact_name
    if not name:
        raise ValidationError(
            {"asset": [f"Name the asset: a {parsed.format} report does not carry the name of what it scanned."]}
        )
    # A report that lists findings or scopes scans the asset: its last_scanned_at is set by the statement
    # that locks it.
    scanned_at = now if parsed.findings or parsed.scopes else None
    locked = _lock_asset(digest, name=name, scanned_at=scanned_at)
    if locked is None:
        # No such asset yet, or a concurrent import of the same report got there first.
        found = _already_imported(digest, asset_name=name)
        if found is not None:
            return ImportResult(scan=found, created=False)
        resolved = resolve_asset(name=name, create=create_asset, service=service, kind=kind)
        locked = _lock_asset(digest, name=resolved.name, scanned_at=scanned_at)
        if locked is None:
            found = _already_imported(digest, asset_name=name)
            if found is None:
                raise ValidationError({"asset": [f"The asset {name!r} was removed during the import."]})
            return ImportResult(scan=found, created=False)
    asset, has_findings = locked
    scan = Scan(
        asset=asset,
        format=parsed.format,
        scopes=parsed.scopes,
        report=report,
        report_sha256=digest,
        reported_at=parsed.reported_at,
        imported_at=now,
        imported_by=actor if getattr(actor, "pk", None) else None,
    )
    _apply(scan, asset, parsed, now, has_findings=has_findings)
    # The asset and the actor are the rows just locked and authenticated: no lookup to validate them.
    scan.full_clean(exclude=["report", "asset", "imported_by"])
    scan.save()
    return ImportResult(scan=scan, created=True)


def _lock_asset(digest: str, *, name: str, scanned_at: datetime | None) -> tuple[Asset, bool] | None:
    """The asset named `name`, locked for the rest of the import, and whether it has findings at all (the
    first scan of an asset has none to match); None when there is no such asset, or when its latest scan
    of some format holds this very report (a concurrent import of it got there first: nothing is locked).

    With `scanned_at`, one statement locks the asset and sets its last_scanned_at (UPDATE ... RETURNING,
    PostgreSQL and SQLite alike): a round trip fewer per report than a locking SELECT and an UPDATE.
    """
    if scanned_at is None:
        same = _unchanged_scans(digest).filter(asset_id=OuterRef("pk"))
        found = (
            Asset.objects.select_for_update(of=("self",))
            .filter(name=name)
            .exclude(Exists(same))
            .annotate(has_findings=Exists(Finding.objects.filter(asset_id=OuterRef("pk"))))
            .first()
        )
        return None if found is None else (found, bool(found.has_findings))
    quote = connection.ops.quote_name
    asset, scan, finding = (quote(model._meta.db_table) for model in (Asset, Scan, Finding))
    at = connection.ops.adapt_datetimefield_value(scanned_at)
    # The NOT EXISTS is _unchanged_scans: a scan of this report that no later scan of its format follows.
    sql = f"""
        UPDATE {asset} SET last_scanned_at = %s, updated_at = %s
        WHERE name = %s AND NOT EXISTS (
            SELECT 1 FROM {scan} same WHERE same.asset_id = {asset}.id AND same.report_sha256 = %s
            AND NOT EXISTS (
                SELECT 1 FROM {scan} newer WHERE newer.asset_id = same.asset_id AND newer.format = same.format
                AND newer.imported_at > same.imported_at
            )
        )
        RETURNING *, EXISTS (SELECT 1 FROM {finding} f WHERE f.asset_id = {asset}.id) AS has_findings
    """  # noqa: S608 - table names from the models, values as parameters
    rows = list(Asset.objects.raw(sql, [at, at, name, digest]))
    if not rows:
        return None
    return rows[0], bool(rows[0].has_findings)  # type: ignore[attr-defined]  # the RETURNING column


def _unchanged_scans(digest: str) -> QuerySet[Scan]:
    """Scans holding this very report that are still the latest of their asset and format."""
    newer = Scan.objects.filter(
        asset_id=OuterRef("asset_id"), format=OuterRef("format"), imported_at__gt=OuterRef("imported_at")
    )
    return Scan.objects.filter(report_sha256=digest).exclude(Exists(newer))


def _already_imported(digest: str, *, asset_name: str) -> Scan | None:
    """The asset's latest scan of some format, when it holds exactly this report (one query; the stored
    report itself is not read: deferred)."""
    return next(iter(Scan.objects.raw(_already_imported_sql(), [asset_name, digest])), None)


@lru_cache(maxsize=1)
def _already_imported_sql() -> str:
    """_unchanged_scans of the asset named, newest first, written out once: it is asked before every import,
    and building and compiling the ORM query cost as much as running it."""
    quote = connection.ops.quote_name
    scan, asset = quote(Scan._meta.db_table), quote(Asset._meta.db_table)
    columns = ", ".join(f"same.{quote(field.column)}" for field in Scan._meta.concrete_fields if field.name != "report")
    # The NOT EXISTS is _unchanged_scans: no later scan of the same asset and format.
    return f"""
        SELECT {columns} FROM {scan} same INNER JOIN {asset} ON {asset}.id = same.asset_id
        WHERE {asset}.name = %s AND same.report_sha256 = %s AND NOT EXISTS (
            SELECT 1 FROM {scan} newer WHERE newer.asset_id = same.asset_id AND newer.format = same.format
            AND newer.imported_at > same.imported_at
        )
        ORDER BY same.imported_at DESC, same.id DESC
        LIMIT 1
    """  # noqa: S608 - table and column names from the models, values as parameters


#: The columns an import may change on a finding it already had (bulk_update; updated_at is auto_now).
_UPDATED_FIELDS = [
    "last_seen_at",
    "aliases",
    "title",
    "fixed_versions",
    "severity",
    "severity_source",
    "due_at",
    "status",
    "justification",
    "open_scopes",
    "fixed_at",
    "reopen_count",
    "reopened_at",
    "sla_started_at",
    "updated_at",
]


@dataclass(frozen=True)
class _Run:
    """What the steps of one import share: its scan (whose counts they raise), asset, time, policy, and the
    SLA due time, computed once per (severity, start) of the import (due_for is a pure function of both)."""

    scan: Scan
    asset: Asset
    now: datetime
    policy: SecurityPolicy
    due: Callable[[str, datetime], datetime | None]


def _apply(scan: Scan, asset: Asset, parsed: ParsedReport, now: datetime, *, has_findings: bool = True) -> None:
    """Record a parsed report for `asset`: new findings inserted, listed ones updated, open ones of the scopes it
    covers but no longer lists fixed, its SBOM (if any) replacing the asset's components; counts on `scan`."""
    run = _Run(scan=scan, asset=asset, now=now, policy=get_policy().security, due=lru_cache(maxsize=None)(due_for))
    merged, known = _merge(parsed.findings)
    alias_severity = _record_aliases(merged, known)
    existing = _existing_findings(asset) if has_findings else {}
    rows: list[dict[str, Any]] = []
    to_update: dict[int, Finding] = {}
    for key, (item, ids, scopes) in merged.items():
        severity, source = _severity(item, key[1], alias_severity, run.policy.default_severity)
        finding = existing.get(key)
        if finding is None:
            # A report saying "resolved" about a finding opsgov never had records nothing.
            if item.status != FindingStatus.FIXED:
                rows.append(_new_finding_row(run, key, item, ids, scopes, severity, source))
        elif _update_listed(run, finding, item, ids, scopes, severity, source):
            to_update[finding.pk] = finding
    if parsed.scopes:
        to_update.update(_fix_unlisted(run, existing, listed=set(merged), covered=set(parsed.scopes)))
    _insert_rows(Finding, rows)
    if to_update:
        Finding.objects.bulk_update(list(to_update.values()), _UPDATED_FIELDS, batch_size=1000)
    scan.findings_seen = len(merged)
    scan.created = len(rows)
    if parsed.components is not None:
        scan.components = _replace_components(asset, parsed.components, now)


def _existing_findings(asset: Asset) -> dict[tuple[str, str], Finding]:
    """The asset's findings by identity (package_key, canonical id)."""
    return {(finding.package_key, finding.vulnerability_id): finding for finding in asset.findings.all()}


def _severity(item: ParsedFinding, canonical: str, alias_severity: dict[str, str], default: str) -> tuple[str, str]:
    """(severity, source): the report's, else the one the flaw's aliases carried, else the policy default."""
    if item.severity is not None:
        return item.severity, item.severity_source
    carried = alias_severity.get(canonical)
    if carried:
        return carried, "alias"
    return default, "policy default"


def _new_finding_row(
    run: _Run,
    key: tuple[str, str],
    item: ParsedFinding,
    ids: list[str],
    scopes: set[str],
    severity: str,
    source: str,
) -> dict[str, Any]:
    """A finding seen for the first time, as the values of its fields (by attname; the others take their
    defaults): its SLA clock starts now, or at publication when the policy says so."""
    start = run.now
    if run.policy.sla_starts_at == "published" and item.published_at is not None:
        start = min(item.published_at, run.now)
    return {
        "asset_id": run.asset.pk,
        "package_key": key[0],
        "package_name": item.package_name[:300],
        "package_version": item.package_version[:200],
        "purl": item.purl[:1000],
        "vulnerability_id": key[1],
        "aliases": sorted(set(ids) - {key[1]}),
        "title": item.title,
        "severity": severity,
        "severity_source": source,
        "fixed_versions": item.fixed_versions,
        "published_at": item.published_at,
        "status": item.status,
        "justification": item.justification,
        "open_scopes": sorted(scopes) if item.status == FindingStatus.OPEN else [],
        "first_seen_at": run.now,
        "last_seen_at": run.now,
        "sla_started_at": start,
        "due_at": run.due(severity, start),
        "owner_id": run.asset.owner_id,
        "created_at": run.now,
    }


def _update_listed(
    run: _Run,
    finding: Finding,
    item: ParsedFinding,
    ids: list[str],
    scopes: set[str],
    severity: str,
    source: str,
) -> bool:
    """Apply a report's listing of a finding it already had; True when that changed the finding."""
    now = run.now
    before = _snapshot(finding)
    finding.last_seen_at = now
    finding.aliases = sorted((set(finding.aliases) | set(ids)) - {finding.vulnerability_id})
    if item.title:
        finding.title = item.title
    if item.fixed_versions:
        finding.fixed_versions = item.fixed_versions
    if source in ("scanner", "cvss", "vendor") and severity != finding.severity:
        finding.severity, finding.severity_source = severity, source
        finding.due_at = run.due(severity, finding.sla_started_at)
    if item.status == FindingStatus.NOT_APPLICABLE:
        finding.status, finding.justification, finding.open_scopes = item.status, item.justification, []
    elif item.status == FindingStatus.FIXED:
        finding.open_scopes = [scope for scope in finding.open_scopes if scope not in scopes]
        if not finding.open_scopes and finding.status == FindingStatus.OPEN:
            finding.status, finding.fixed_at = FindingStatus.FIXED, now
            run.scan.fixed += 1
    else:
        finding.open_scopes = sorted(set(finding.open_scopes) | scopes)
        if finding.status != FindingStatus.OPEN:
            if finding.status == FindingStatus.FIXED:
                finding.reopen_count += 1
                finding.reopened_at = now
                run.scan.reopened += 1
                if run.policy.reopen_restarts_sla:
                    finding.sla_started_at = now
                    finding.due_at = run.due(finding.severity, now)
            finding.status, finding.fixed_at, finding.justification = FindingStatus.OPEN, None, ""
    return _snapshot(finding) != before


def _fix_unlisted(
    run: _Run, existing: dict[tuple[str, str], Finding], *, listed: set[tuple[str, str]], covered: set[str]
) -> dict[int, Finding]:
    """Open findings the report does not list lose the scopes it covers, and are fixed when none is left;
    returns those it changed, by pk."""
    changed: dict[int, Finding] = {}
    for key, finding in existing.items():
        if key in listed or finding.status != FindingStatus.OPEN:
            continue
        remaining = [scope for scope in finding.open_scopes if scope not in covered]
        if remaining == finding.open_scopes:
            continue
        finding.open_scopes = remaining
        if not remaining:
            finding.status, finding.fixed_at = FindingStatus.FIXED, run.now
            run.scan.fixed += 1
        changed[finding.pk] = finding
    return changed


def _insert_rows(model: type[models.Model], rows: list[dict[str, Any]], *, ignore_conflicts: bool = False) -> None:
    """INSERT new rows of `model` given as the values of their fields (by attname), in batches of 1,000;
    `ignore_conflicts`: rows that would break a unique constraint are left out (ON CONFLICT DO NOTHING).

    Plain values rather than model instances through bulk_create: building a Finding and preparing each of
    its fields for each row was most of a first import's Python time. A value is converted for the
    database (Field.get_db_prep_save) once per distinct value of its column: an import's rows share their
    timestamps, scopes and due times. Every concrete field is a column, so one the rows leave out takes its
    default, and an auto_now field the time of the insert, as the ORM would. On PostgreSQL one array per
    column goes through UNNEST (what bulk_create does there: far less to plan than rows of VALUES).
    """
    if not rows:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    inserted_at = timezone.now()
    columns: list[list[Any]] = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values: list[Any] = [inserted_at] * len(rows)
        elif field.has_default() and callable(field.default):
            # Called for each row that leaves it out, as the ORM does: a uuid4 default must not repeat.
            values = [row[field.attname] if field.attname in row else field.get_default() for row in rows]
        else:
            default = field.get_default()
            values = [row.get(field.attname, default) for row in rows]
        converted: dict[tuple[type, Any], Any] = {}
        column = []
        for value in values:
            # repr for JSON lists and objects (unhashable); the type keeps 1, 1.0 and True apart.
            key = (type(value), repr(value) if isinstance(value, (list, dict)) else value)
            if key not in converted:
                converted[key] = field.get_db_prep_save(value, connection)
            column.append(converted[key])
        columns.append(column)
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({names}) "
    unnest = connection.vendor == "postgresql"
    if unnest:
        # The column types without their lengths (varchar[], not varchar(500)[]), as bulk_create casts them.
        types = ", ".join(f"(%s)::{str(field.db_type(connection)).split('(')[0]}[]" for field in fields)
        head += f"SELECT * FROM UNNEST({types})"  # noqa: S608 - names and types from the model, values as parameters
    size = 1000 if unnest else max(1, min(1000, connection.ops.bulk_batch_size(fields, rows)))
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""  # PostgreSQL, and SQLite since 3.24
    with connection.cursor() as cursor:
        for first in range(0, len(rows), size):
            batch = slice(first, first + size)
            if unnest:
                cursor.execute(head + tail, [column[batch] for column in columns])
            else:
                chunk = list(zip(*(column[batch] for column in columns), strict=True))
                params = [value for row in chunk for value in row]
                cursor.execute(head + "VALUES " + ", ".join([placeholders] * len(chunk)) + tail, params)


def _replace_components(asset: Asset, components: list[ParsedComponent], now: datetime) -> int:
    """An SBOM's components replace the asset's; returns how many."""
    asset.components.all().delete()
    Component.objects.bulk_create(
        [
            Component(
                asset=asset,
                name=component.name[:300],
                version=component.version[:200],
                ecosystem=component.ecosystem[:64],
                purl=component.purl[:1000],
                recorded_at=now,
            )
            for component in components
        ],
        batch_size=1000,
    )
    return len(components)


def _snapshot(finding: Finding) -> tuple[Any, ...]:
    return (
        finding.aliases,
        finding.title,
        finding.fixed_versions,
        finding.severity,
        finding.due_at,
        finding.status,
        finding.justification,
        list(finding.open_scopes),
        finding.fixed_at,
        finding.reopen_count,
    )


# --- Risk acceptance (four eyes: opsgov's one exception concept, opsgov.exceptions) -------------


def is_security_lead(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and SECURITY_LEAD in user_roles(user))


#: The noun of core's messages (opsgov.exceptions) for a risk acceptance, and who may approve one.
ACCEPTANCE = "risk acceptance"
ACCEPTANCE_APPROVERS = (SECURITY_LEAD,)


@transaction.atomic
def acceptance_request(
    *,
    finding: Finding,
    reason: str,
    compensating_control: str,
    approver: Any,
    expires_at: datetime,
    requested_by: Any,
    now: datetime | None = None,
) -> RiskAcceptance:
    """Ask a Security Lead other than the requester to accept `finding`'s risk until `expires_at`."""
    now = now or timezone.now()
    errors = exceptions.request_errors(
        approver=approver,
        requested_by=requested_by,
        roles=ACCEPTANCE_APPROVERS,
        expires_at=expires_at,
        now=now,
        noun=ACCEPTANCE,
        longest=get_policy().security.max_risk_acceptance.as_timedelta(),
    )
    if finding.status != FindingStatus.OPEN:
        errors.setdefault("finding", []).append("Only an open finding's risk can be accepted.")
    if not reason.strip():
        errors.setdefault("reason", []).append("State why the finding is not fixed now.")
    if not compensating_control.strip():
        errors.setdefault("compensating_control", []).append("State what covers the risk meanwhile.")
    if RiskAcceptance.objects.filter(finding=finding, revoked_at__isnull=True, expires_at__gt=now).exists():
        errors.setdefault("finding", []).append("This finding already has an open risk acceptance; revoke it first.")
    if errors:
        raise ValidationError(errors)
    acceptance = RiskAcceptance(
        finding=finding,
        reason=reason.strip(),
        compensating_control=compensating_control.strip(),
        approver=approver,
        expires_at=expires_at,
        requested_by=requested_by,
        created_at=now,
    )
    acceptance.full_clean()
    acceptance.save()
    return acceptance


def _locked(acceptance: RiskAcceptance) -> RiskAcceptance:
    return RiskAcceptance.objects.select_for_update().get(pk=acceptance.pk)


@transaction.atomic
def acceptance_approve(*, acceptance: RiskAcceptance, actor: Any, now: datetime | None = None) -> RiskAcceptance:
    """The named approver (a Security Lead, not the requester) approves a pending acceptance."""
    return exceptions.approve(
        _locked(acceptance), actor=actor, roles=ACCEPTANCE_APPROVERS, now=now or timezone.now(), noun=ACCEPTANCE
    )


@transaction.atomic
def acceptance_revoke(
    *, acceptance: RiskAcceptance, actor: Any, reason: str = "", now: datetime | None = None
) -> RiskAcceptance:
    """The requester, the approver or any Security Lead withdraws a pending or active acceptance."""
    acceptance = _locked(acceptance)
    if actor is None or not (
        actor.pk in (acceptance.requested_by_id, acceptance.approver_id) or is_security_lead(actor)
    ):
        raise PermissionDenied("Only the requester, the approver or a Security Lead can revoke.")
    exceptions.revoke(acceptance, actor=actor, reason=reason, now=now or timezone.now(), noun=ACCEPTANCE)
    return acceptance
