"""Runbook bodies: the Markdown template of a new runbook, and their sanitised rendering.

Rendering is core's (opsgov.rendering.render_markdown, shared with DR plans and knowledge-base
articles): Markdown through an nh3 allowlist, no image from another site, no scheme-relative or
rewritable link targets.
"""

from __future__ import annotations

from opsgov.rendering import render_markdown

__all__ = ["RUNBOOK_TEMPLATE", "TEMPLATE_SECTIONS", "render_markdown"]

# --- Template ----------------------------------------------------------------------------

#: Sections of a new runbook, after the seed's sample runbook (phase 8, "Templates and
#: Examples"): an operator's path from the alert to a verified fix, with the seed's roles and
#: severity levels in the escalation table and its post-incident review as follow-up.
TEMPLATE_SECTIONS: tuple[str, ...] = (
    "Overview",
    "Symptoms",
    "Impact",
    "Diagnosis",
    "Mitigation",
    "Escalation",
    "Verification",
    "Follow-up",
    "References",
)

RUNBOOK_TEMPLATE = """\
## Overview

What this runbook covers and which alerts link here, in a paragraph that an on-call
engineer can act on at 3 a.m.

- **Services:** the services it is for
- **Usual severity:** e.g. SEV-2 (high: major feature broken)
- **Alerts:** e.g. `HighErrorRate`

## Symptoms

What the alert, the dashboards and users show when this happens.

## Impact

Who and what is affected, and how badly: availability, latency, data, customers.

## Diagnosis

1. Open the service dashboard and compare error rate and latency with the last deploy.
2. Check the logs for the first errors: `query or command`.
3. Confirm the cause before acting: `command`.

## Mitigation

Actions that restore service, safest first, with the exact commands:

```sh
# e.g. roll back the last deployment
kubectl -n <namespace> rollout undo deployment/<name>
```

## Escalation

| When | Who |
|------|-----|
| Not mitigated within the severity's response target | Tech Lead |
| Infrastructure or deployment involved | DevOps Lead |
| Security impact suspected | Security Lead |
| Customers affected for long | SRE Lead, who informs the Product Owner |

## Verification

How to tell the service is healthy again: which metric, check or SLO burn rate.

## Follow-up

Open an incident if none exists; SEV-1 and SEV-2 need a post-incident review.
Record action items, and update this runbook with what you learned.

## References

- Dashboard: https://
- Related runbooks and architecture documents
"""
