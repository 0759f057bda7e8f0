"""OSCAL assessment results: export an audit (validated with compliance-trestle's models before it
leaves), and import findings from another tool's assessment results (idempotent by finding uuid)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic
from django.db import transaction
from django.utils import timezone
from trestle.oscal.assessment_results import AssessmentResults

from .importers import ImportProblem, parse_json, pydantic_messages
from .models import Audit, Control, Finding, FindingStatus, Severity, TestMethod
from .services import finding_due

OSCAL_VERSION = "1.1.2"
# Every uuid opsgov writes is derived from this namespace and the record, so an export is reproducible.
NAMESPACE = uuid.UUID("6f1b7d2e-3c41-4e9a-9d7e-5b2c8a1f0e44")
_TOKEN = re.compile(r"^[_A-Za-z][_A-Za-z0-9.\-]*$")

_METHODS = {
    TestMethod.INQUIRY: "INTERVIEW",
    TestMethod.INSPECTION: "EXAMINE",
    TestMethod.OBSERVATION: "EXAMINE",
    TestMethod.REPERFORMANCE: "TEST",
}


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(part) for part in parts)))


def _token(ref: str) -> str:
    """An OSCAL token for a control id: kept when valid, else prefixed and cleaned ("8.1" -> "req-8.1")."""
    if _TOKEN.match(ref):
        return ref
    cleaned = re.sub(r"[^_A-Za-z0-9.\-]", "-", ref)
    return f"req-{cleaned}"


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _control_ids(control: Control, framework_id: int) -> list[str]:
    refs = [req.ref_id for req in control.requirements.all() if req.framework_id == framework_id]
    return [_token(ref) for ref in refs] or [_token(control.ref_id)]


def export_assessment_results(audit: Audit, *, now: datetime | None = None) -> dict[str, Any]:
    """The audit as an OSCAL 1.1 assessment-results document (a dict), validated by trestle first."""
    now = now or timezone.now()
    results = list(audit.test_results.select_related("control").prefetch_related("control__requirements"))
    findings = list(audit.findings.select_related("control").prefetch_related("control__requirements"))
    reviewed: list[str] = []
    for row in results:
        for ref in _control_ids(row.control, audit.framework_id):
            if ref not in reviewed:
                reviewed.append(ref)
    observations = [
        {
            "uuid": _uuid("observation", audit.pk, row.pk),
            "title": f"{row.control.ref_id}: {row.get_result_display()}",
            "description": f"{row.get_method_display()} of {row.control.ref_id}: {row.get_result_display()}."
            + (f" Sample: {row.sample}." if row.sample else "")
            + (f" {row.notes}" if row.notes else ""),
            "methods": [_METHODS[TestMethod(row.method)]],
            "collected": _instant(row.tested_at),
        }
        for row in results
    ]
    by_control = {row.control_id: row for row in results}
    oscal_findings = []
    for finding in findings:
        ref = _control_ids(finding.control, audit.framework_id)[0] if finding.control else "audit"
        item: dict[str, Any] = {
            "uuid": str(finding.oscal_uuid) if finding.oscal_uuid else _uuid("finding", finding.pk),
            "title": finding.title,
            "description": finding.description or finding.title,
            "props": [
                {"name": "severity", "value": finding.severity},
                {"name": "status", "value": finding.status},
                {"name": "due", "value": _instant(finding.due_at)},
            ],
            "target": {
                "type": "objective-id",
                "target-id": f"{ref}_obj",
                "status": {
                    "state": "satisfied"
                    if finding.status in (FindingStatus.VERIFIED, FindingStatus.CLOSED)
                    else "not-satisfied"
                },
            },
        }
        tested = by_control.get(finding.control_id) if finding.control_id else None
        if tested is not None:
            item["related-observations"] = [{"observation-uuid": _uuid("observation", audit.pk, tested.pk)}]
        oscal_findings.append(item)
    result: dict[str, Any] = {
        "uuid": _uuid("result", audit.pk),
        "title": audit.title,
        "description": f"{audit.get_kind_display()} audit of {audit.framework}",
        "start": _instant(datetime.combine(audit.period_start, datetime.min.time(), tzinfo=UTC)),
        "end": _instant(datetime.combine(audit.period_end, datetime.max.time(), tzinfo=UTC).replace(microsecond=0)),
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": ref} for ref in reviewed]} if reviewed else {"include-all": {}}
            ]
        },
    }
    if observations:
        result["observations"] = observations
    if oscal_findings:
        result["findings"] = oscal_findings
    document = {
        "assessment-results": {
            "uuid": _uuid("assessment-results", audit.pk),
            "metadata": {
                "title": audit.title,
                "last-modified": _instant(now),
                "version": str(audit.updated_at.strftime("%Y%m%d%H%M%S")),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": f"#audit-{audit.pk}"},
            "results": [result],
        }
    }
    validate_assessment_results(document)
    return document


def validate_assessment_results(document: Any) -> AssessmentResults:
    if not isinstance(document, dict) or "assessment-results" not in document:
        raise ImportProblem(['(root): an assessment-results document is an object with one key, "assessment-results".'])
    try:
        return AssessmentResults.model_validate(document["assessment-results"])
    except pydantic.ValidationError as exc:
        raise ImportProblem(pydantic_messages(exc, "assessment-results")) from exc


def _severity(props: list[Any] | None) -> str:
    for prop in props or []:
        if prop.name == "severity" and prop.value in Severity.values:
            return str(prop.value)
    return Severity.MEDIUM


@dataclass(frozen=True)
class ResultsImport:
    """What an assessment-results import did: the findings it created, those it had created before."""

    created: list[Finding]
    unchanged: int


def _target_control(target: str, controls: dict[str, Control]) -> Control | None:
    """The control a finding's target names: an objective or control id ("bk-1.1_obj", "bk-1") matched to a
    control's ref_id, else to the first control mapped to a requirement of that id (or of its parent "bk-1")."""
    token = target.removesuffix("_obj").removesuffix("_smt")
    candidates = [token]
    while "." in candidates[-1]:
        candidates.append(candidates[-1].rsplit(".", 1)[0])
    for candidate in candidates:
        control = controls.get(candidate.lower())
        if control is not None:
            return control
        mapped = (
            Control.objects.filter(requirements__ref_id__iexact=candidate, requirements__framework__is_active=True)
            .order_by("ref_id")
            .first()
        )
        if mapped is not None:
            return mapped
    return None


@transaction.atomic
def import_assessment_results(data: bytes, *, audit: Audit | None = None, now: datetime | None = None) -> ResultsImport:
    """Findings whose target is not satisfied become findings, on the policy SLA, for the control the target
    names. Validated first (trestle: a problem names its path in the document; nothing is half-imported);
    idempotent: a finding's OSCAL uuid is kept and a re-import of it changes nothing."""
    now = now or timezone.now()
    document = validate_assessment_results(parse_json(data))
    created: list[Finding] = []
    unchanged = 0
    controls = {control.ref_id.lower(): control for control in Control.objects.all()}
    for result in document.results:
        for item in result.findings or []:
            status = item.target.status
            state = getattr(status.state, "value", status.state) if status is not None else None
            if state != "not-satisfied":
                continue
            if Finding.objects.filter(oscal_uuid=item.uuid).exists():
                unchanged += 1
                continue
            severity = _severity(item.props)
            finding = Finding(
                audit=audit,
                control=_target_control(str(item.target.target_id), controls),
                title=item.title[:300],
                description=item.description,
                severity=severity,
                identified_at=now,
                due_at=finding_due(severity, now),
                oscal_uuid=item.uuid,
            )
            finding.full_clean()
            finding.save()
            created.append(finding)
    return ResultsImport(created=created, unchanged=unchanged)


def export_json(audit: Audit, *, now: datetime | None = None) -> str:
    return json.dumps(export_assessment_results(audit, now=now), indent=1)
