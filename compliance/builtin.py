"""The built-in framework: opsgov's eight operations steps as requirements, in our own words.

Each step is a heading; its tasks and deliverables are assessable requirements, and its approval
(the role that signs it off) is one more. Each step's gate is the natural live evidence for it
(the generic "gate" evidence provider), which `install_builtin(bind_gates=True)` binds.
"""

from __future__ import annotations

import hashlib
import json

from django.db import transaction

from .importers import ImportResult, _existing, _Node, _write
from .models import Control, ControlStatus, EvidenceBinding, FrameworkSource, TestFrequency

SLUG = "opsgov-operations"
VERSION = "1"
TITLE = "opsgov operations governance (built in)"

# (step, title, gate key, approver role, [(ref, requirement), ...])
STEPS: list[tuple[int, str, str, str, list[tuple[str, str]]]] = [
    (
        1,
        "Monitoring and alerting",
        "monitoring",
        "SRE Lead",
        [
            ("1.1", "Each live service has a service-level objective fed with recent measurements"),
            ("1.2", "Every alert rule points its responder to a runbook"),
            ("1.3", "Someone can be paged for every service at any time"),
        ],
    ),
    (
        2,
        "Incident management",
        "incident_management",
        "SRE Lead",
        [
            ("2.1", "Incidents are classified by severity with a response target per severity"),
            ("2.2", "Escalation paths exist and leave no on-call gaps"),
            ("2.3", "Serious incidents get a blameless review on time"),
        ],
    ),
    (
        3,
        "Maintenance",
        "maintenance",
        "Product Owner",
        [
            ("3.1", "Recurring maintenance is scheduled per service at its cadence"),
            ("3.2", "Maintenance windows are approved before they start"),
        ],
    ),
    (
        4,
        "Continuous improvement",
        "continuous_improvement",
        "Product Owner",
        [
            ("4.1", "Reviews turn into owned, dated action items"),
            ("4.2", "Action items are closed and few are overdue"),
        ],
    ),
    (
        5,
        "Security operations",
        "security_operations",
        "Security Lead",
        [
            ("5.1", "Vulnerabilities are fixed within the deadline for their severity"),
            ("5.2", "Access is reviewed on schedule"),
            ("5.3", "Security alerts are triaged"),
        ],
    ),
    (
        6,
        "Compliance and audit",
        "compliance",
        "Compliance Officer",
        [
            ("6.1", "Controls are mapped to requirements and backed by current evidence"),
            ("6.2", "An internal audit covers the last year; its findings are fixed on time"),
            ("6.3", "Exceptions are approved by a second person and expire"),
        ],
    ),
    (
        7,
        "Customer support",
        "support",
        "Support Team",
        [
            ("7.1", "Tickets are answered and resolved within the tier's targets"),
            ("7.2", "Customer satisfaction is measured and on target"),
        ],
    ),
    (
        8,
        "Backup and disaster recovery",
        "backup_dr",
        "DevOps Lead",
        [
            ("8.1", "Backups run on schedule for every protected system"),
            ("8.2", "Restores are tested regularly and meet recovery objectives"),
            ("8.3", "A disaster-recovery drill is run every quarter"),
        ],
    ),
]


def _nodes() -> list[_Node]:
    nodes: list[_Node] = []
    for step, title, _gate, role, requirements in STEPS:
        heading = f"S{step}"
        nodes.append(_Node(heading, f"Step {step}: {title}", "", False, 1, None))
        for ref, text in requirements:
            nodes.append(_Node(ref, text, "", True, 2, heading))
        nodes.append(_Node(f"{step}.A", f"Step {step} signed off by the {role}", "", True, 2, heading))
    return nodes


def _document_sha256() -> str:
    return hashlib.sha256(json.dumps(STEPS, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def install_builtin(*, bind_gates: bool = False) -> ImportResult:
    """Create the built-in framework (idempotent); with `bind_gates`, one key control per step bound to its gate."""
    sha256 = _document_sha256()
    existing = _existing(SLUG, VERSION, sha256)
    result = (
        ImportResult(framework=existing, created=False, requirements=existing.requirements.count())
        if existing is not None
        else _write(
            slug=SLUG,
            version=VERSION,
            title=TITLE,
            source=FrameworkSource.BUILT_IN,
            source_uuid=f"urn:opsgov:framework:{SLUG}",
            sha256=sha256,
            nodes=_nodes(),
        )
    )
    if bind_gates:
        requirements = {item.ref_id: item for item in result.framework.requirements.all()}
        for step, title, gate, _role, reqs in STEPS:
            control, _ = Control.objects.get_or_create(
                ref_id=f"OPS-{step}",
                defaults={
                    "title": f"{title}: quality gate passes",
                    "description": f"The step {step} quality gate is evaluated and passes.",
                    "test_frequency": TestFrequency.QUARTERLY,
                    "status": ControlStatus.IMPLEMENTED,
                    "is_key": True,
                },
            )
            control.requirements.add(*(requirements[ref] for ref, _text in reqs), requirements[f"{step}.A"])
            EvidenceBinding.objects.get_or_create(control=control, provider="gate", scope=gate)
    return result
