"""The seed's roles as Django groups, and what each may do.

Groups are created by a data migration; their permissions are synced from
ROLE_PERMISSIONS after every `migrate` (post_migrate), so models added by a
later app get their permissions without a hand-written migration. Patterns are
"app_label.codename" with shell wildcards; they match only permissions of the
apps opsgov governs (plus the audit log).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from .evidence import evidence_delete_permissions

SRE_LEAD = "SRE Lead"
DEVOPS_LEAD = "DevOps Lead"
TECH_LEAD = "Tech Lead"
SECURITY_LEAD = "Security Lead"
COMPLIANCE_OFFICER = "Compliance Officer"
SUPPORT_TEAM = "Support Team"
PRODUCT_OWNER = "Product Owner"

ALL_ROLES: tuple[str, ...] = (
    SRE_LEAD,
    DEVOPS_LEAD,
    TECH_LEAD,
    SECURITY_LEAD,
    COMPLIANCE_OFFICER,
    SUPPORT_TEAM,
    PRODUCT_OWNER,
)

GOVERNED_APPS = (
    "opsgov",
    "monitoring",
    "incidents",
    "maintenance",
    "security",
    "compliance",
    "support",
    "backups",
    "auditlog",
    "axes",
)

# Apps whose permissions only patterns naming the app grant (not "*.view_*"): who tried to log in
# from where (django-axes) is for the Security Lead.
RESTRICTED_APPS = ("axes",)

# Every role reads everything governed: operations are a shared concern.
_READ_ALL = "*.view_*"
# Runbooks and the alert-rule catalog (monitoring): the SRE Lead (monitoring.*), DevOps and Tech Leads write.
_CATALOG_WRITE = ("monitoring.*_runbook", "monitoring.*_rulefile", "monitoring.*_rulegroup", "monitoring.*_alertrule")

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Owns operations and reliability: teams, services and everything on-call. The only role with
    # incidents.import_incident_history (through incidents.*): explicit past instants in the API.
    SRE_LEAD: (_READ_ALL, "opsgov.*_team", "opsgov.*_service", "monitoring.*", "incidents.*", "backups.*"),
    # Infrastructure and deployment.
    # SLOs are written by SRE and DevOps leads; pushing SLI data is `add_slibucket`.
    DEVOPS_LEAD: (
        _READ_ALL,
        "opsgov.add_service",
        "opsgov.change_service",
        "maintenance.*",
        "backups.*",
        *_CATALOG_WRITE,
        "monitoring.*_slo",
        "monitoring.add_slibucket",
    ),
    # Technical support and fixes.
    # Integrations (alert routing and their secrets) stay with the SRE Lead.
    TECH_LEAD: (
        _READ_ALL,
        "opsgov.change_service",
        "incidents.*_incident",
        "incidents.*_timelineevent",
        "incidents.*_postincidentreview",
        "incidents.*_actionitem",
        *_CATALOG_WRITE,
    ),
    # Sees login failures and lockouts (django-axes' admin) and unlocks accounts (deleting the attempt record).
    SECURITY_LEAD: (_READ_ALL, "security.*", "axes.view_*", "axes.delete_accessattempt"),
    COMPLIANCE_OFFICER: (_READ_ALL, "compliance.*"),
    # Works tickets; a P1 means the system is down, so it may declare an incident (seed step 7).
    SUPPORT_TEAM: (_READ_ALL, "support.*", "incidents.add_incident"),
    # Prioritises improvements (seed step 4).
    PRODUCT_OWNER: (_READ_ALL, "incidents.change_actionitem", "support.*_npscampaign", "support.*_csatsurvey"),
}

# Quality gates (opsgov.gates.services, opsgov.gates.waivers): every role may request a waiver and
# revoke its own (approval is checked against the gate's approver roles, not a permission);
# the leads and the compliance officer may re-run a gate on demand.
for _role in ALL_ROLES:
    ROLE_PERMISSIONS[_role] += ("opsgov.add_gatewaiver", "opsgov.change_gatewaiver")
for _role in (SRE_LEAD, DEVOPS_LEAD, TECH_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER):
    ROLE_PERMISSIONS[_role] += ("opsgov.run_gate_evaluation",)
# Security operations (step 5): the Security Lead owns (security.*); SRE and DevOps Leads read and fix:
# they import scans and ask for risk acceptances (only a Security Lead other than the requester approves).
for _role in (SRE_LEAD, DEVOPS_LEAD):
    ROLE_PERMISSIONS[_role] += ("security.add_scan", "security.add_riskacceptance", "security.change_riskacceptance")

# Backups & DR (step 8): the SRE Lead owns a DR drill; the Security Lead validates its data protection and
# the Compliance Officer its compliance (backups.services.drill_approve checks the role for each kind).
for _role in (SECURITY_LEAD, COMPLIANCE_OFFICER):
    ROLE_PERMISSIONS[_role] += ("backups.add_drdrillapproval",)


def _grants(pattern: str, code: str) -> bool:
    app_label = code.split(".", 1)[0]
    if app_label in RESTRICTED_APPS and not pattern.startswith(f"{app_label}."):
        return False
    return fnmatchcase(code, pattern)


def permission_codes_for(role: str, available: list[str]) -> list[str]:
    """The "app_label.codename" strings of `available` that `role` is granted.

    Never the delete permission of evidence (opsgov.evidence): nobody deletes evidence.
    """
    patterns = ROLE_PERMISSIONS[role]
    refused = evidence_delete_permissions()
    return [code for code in available if code not in refused and any(_grants(pattern, code) for pattern in patterns)]


def sync_roles(group_model: Any, permission_model: Any) -> None:
    """Create the role groups and set their permissions from ROLE_PERMISSIONS.

    Takes the models as arguments so a data migration can pass historical ones.
    """
    permissions = {
        f"{perm.content_type.app_label}.{perm.codename}": perm
        for perm in permission_model.objects.select_related("content_type").filter(
            content_type__app_label__in=GOVERNED_APPS
        )
    }
    available = sorted(permissions)
    for role in ALL_ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([permissions[code] for code in permission_codes_for(role, available)])
