"""Demo runbooks and alert rules for the demo services (called from monitoring's demo seeding).

Seven runbooks written from the template (one of them the security incident runbook the
security gate asks for), one of them overdue for review, and a
Prometheus rule file with alerting and recording rules for the demo services:
most alerts link an opsgov runbook through their ``runbook_url`` (the page
URL under OPSGOV_BASE_URL), one links an external runbook, and the reporting
service's alert has none, so the catalog and the monitoring gate show a
realistic gap. Idempotent (skipped when the demo runbooks exist), deterministic
relative to today.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from opsgov.models import Service

from ..models import Runbook
from ..models.catalog import policy_today
from . import services

RULE_FILE_NAME = "opsgov-demo.rules.yml"

# (slug, title, service slugs, owner username, days since the last review, body)
RUNBOOKS: list[tuple[str, str, list[str], str, int, str]] = [
    (
        "checkout-high-error-rate",
        "Checkout: high error rate",
        ["checkout"],
        "sre-lead",
        41,
        """\
## Overview

`CheckoutHighErrorRate` fires when more than 5 % of checkout requests fail for 5 minutes.
Customers cannot pay: treat it as SEV-1 until you know better.

- **Services:** Checkout (tier 1), with the payments ledger behind it
- **Usual severity:** SEV-1 (critical: system down)
- **Alerts:** `CheckoutHighErrorRate`, `CheckoutLatencyHigh`

## Symptoms

- 5xx responses on `POST /checkout/confirm`; the checkout dashboard's error panel is red.
- Support reports "payment could not be completed".

## Impact

Every order in flight. Revenue stops while the error rate is high.

## Diagnosis

1. Was there a deploy in the last hour? `kubectl -n checkout rollout history deployment/checkout`
2. Is the ledger healthy? Look at `PaymentsLedgerReplicationLag` and the ledger dashboard.
3. Read the first errors: `kubectl -n checkout logs deploy/checkout --since=15m | grep ERROR | head`

## Mitigation

A deploy in the last hour: roll it back.

```sh
kubectl -n checkout rollout undo deployment/checkout
```

- The ledger is failing: follow [PostgreSQL failover](/monitoring/runbooks/postgresql-failover/).
- A payment provider is down: switch providers in the feature flags (`checkout.provider=secondary`).

## Escalation

| When | Who |
|------|-----|
| Not mitigated within 15 minutes | Tech Lead of Payments |
| A payment provider is down | DevOps Lead (provider contracts) |
| Customers charged twice | SRE Lead, who informs the Product Owner |

## Verification

The error ratio `job:checkout_errors:ratio5m` stays under 1 % for 15 minutes and test orders succeed.

## Follow-up

SEV-1: a post-incident review within 5 business days. Update this runbook with what you learned.

## References

- Checkout dashboard, payments provider status pages
""",
    ),
    (
        "payments-ledger-replication-lag",
        "Payments ledger: replication lag",
        ["payments-ledger"],
        "devops-lead",
        73,
        """\
## Overview

`PaymentsLedgerReplicationLag` fires when the ledger's read replica is more than 30 s behind
the primary for 10 minutes. Balances shown to customers are stale; writes are unaffected.

## Symptoms

Balances lag behind payments; reporting queries time out.

## Impact

Customers see old balances. Reconciliation jobs read stale data.

## Diagnosis

1. `SELECT now() - pg_last_xact_replay_timestamp();` on the replica.
2. Disk and network of the replica host on the infrastructure dashboard.
3. Long-running queries on the replica:

```sql
SELECT pid, now() - query_start, query FROM pg_stat_activity ORDER BY 2 DESC LIMIT 5;
```

## Mitigation

- Cancel the long query holding replay back: `SELECT pg_cancel_backend(<pid>);`
- Point read traffic at the primary for a while: `ledger.read_from_primary=true`.

## Escalation

| When | Who |
|------|-----|
| Lag above 5 minutes | DevOps Lead |
| The primary is affected | SRE Lead; see PostgreSQL failover |

## Verification

Lag under 5 s for 15 minutes; reporting queries complete.

## Follow-up

Record the cause; if a report caused it, move it to the analytics replica.

## References

- [PostgreSQL failover](/monitoring/runbooks/postgresql-failover/)
""",
    ),
    (
        "api-gateway-5xx",
        "API gateway: 5xx and saturation",
        ["api-gateway"],
        "sre-lead",
        20,
        """\
## Overview

`ApiGatewayHigh5xx` and `ApiGatewaySaturated` cover the public entry point: every API call
passes through it, so its trouble is everyone's trouble.

## Symptoms

502/503/504 from `api.example.com`; connection queue growing on the gateway dashboard.

## Impact

All public APIs, the web frontend and partner integrations.

## Diagnosis

1. Which upstream fails? The gateway's per-route error panel names it.
2. Saturation: CPU and open connections per gateway pod.

## Mitigation

- One upstream failing: open its circuit breaker (`gateway route disable <route>`), then follow its runbook.
- Saturation: scale out: `kubectl -n edge scale deployment/gateway --replicas=12`.

## Escalation

| When | Who |
|------|-----|
| Not mitigated within 15 minutes | Tech Lead of Platform |
| Traffic looks like an attack | Security Lead |

## Verification

5xx ratio under 0.5 % and p99 latency under 300 ms for 15 minutes.

## Follow-up

Post-incident review for SEV-1 and SEV-2.

## References

- Gateway dashboard, upstream runbooks
""",
    ),
    (
        "auth-login-failures",
        "Authentication: login failures",
        ["auth"],
        "tech-lead",
        95,
        """\
## Overview

`AuthLoginFailureSpike` fires when failed logins triple over their usual rate for 10 minutes.
Either sign-in is broken, or someone is guessing passwords.

## Symptoms

Users cannot sign in; the identity provider's error panel shows `invalid_grant` or 5xx.

## Impact

No sign-in for customers or staff; sessions already open keep working.

## Diagnosis

1. Errors (5xx) or refusals (401)? 5xx: a fault; 401 from few IP ranges: an attack.
2. Signing keys valid? `auth keys list --expiring-within 7d`

## Mitigation

- Expired key: rotate it (`auth keys rotate`).
- Credential stuffing: enable the rate limit on `/oauth/token` and block the ranges.

## Escalation

| When | Who |
|------|-----|
| Attack suspected | Security Lead, at once |
| Sign-in down more than 15 minutes | SRE Lead |

## Verification

Login success rate back above 97 %.

## Follow-up

Security incidents follow the security incident procedure as well.

## References

- Identity provider dashboard
""",
    ),
    (
        "web-frontend-errors",
        "Web frontend: JavaScript errors and slow pages",
        ["web-frontend"],
        "tech-lead",
        240,
        """\
## Overview

`WebFrontendErrorBudgetBurn` fires when the frontend's error budget burns fast.

## Symptoms

Real-user monitoring shows errors after a release; pages load slowly.

## Impact

Customers on the web; the mobile apps are not affected.

## Diagnosis

1. Compare with the last release in the deploy log.
2. The error tracker's top new error since the release.

## Mitigation

Roll the frontend back to the previous release: `deploy web-frontend --rollback`.

## Escalation

| When | Who |
|------|-----|
| Not mitigated within an hour | Tech Lead |

## Verification

Error rate back to the week's baseline.

## Follow-up

Add a test for the error that escaped.

## References

- Real-user monitoring dashboard
""",
    ),
    (
        "postgresql-failover",
        "PostgreSQL failover",
        ["checkout", "payments-ledger"],
        "devops-lead",
        60,
        """\
## Overview

Promote the standby when a primary PostgreSQL server is lost. Used by the checkout and
ledger runbooks; never fail over without the DevOps Lead or SRE Lead on the call.

## Symptoms

Connections refused by the primary; `PostgresPrimaryDown` firing.

## Impact

All writes to the affected database stop.

## Diagnosis

1. Is the primary really down? `pg_isready -h <primary>` from two hosts.
2. Standby lag: `SELECT now() - pg_last_xact_replay_timestamp();`

## Mitigation

```sh
patronictl -c /etc/patroni.yml failover --candidate <standby> --force
```

Then point the connection pooler at the new primary and restart it.

## Escalation

| When | Who |
|------|-----|
| Always, before failing over | DevOps Lead or SRE Lead |
| Possible data loss | SRE Lead, who informs the Product Owner and the Compliance Officer |

## Verification

Writes succeed; replication to a new standby is running.

## Follow-up

Rebuild the old primary as a standby; a post-incident review.

## References

- Patroni documentation, database dashboard
""",
    ),
    (
        "security-incident",
        "Security incident response",
        [],
        "security-lead",
        34,
        """\
## Overview

What to do when a security alert is a true positive, a critical vulnerability is exploited, or
credentials leak. The security gate asks for this runbook (the policy's `security.incident_runbook`)
and for its review on time.

## Symptoms

A Falco or webhook alert triaged as a true positive; a burst of failed logins or lockouts; a
token used from a network it never came from; a critical finding with a public exploit.

## Impact

Possibly customer data and every service the compromised host, image or account reaches.

## Diagnosis

1. Which asset, service and account? The security alert and its escalated incident name them.
2. Is it still going on? Recent logins, tokens and outbound connections of that host or account.
3. What else runs the same image or package? Search the assets' inventories.

## Mitigation

- Contain first: isolate the host (`kubectl cordon <node>`), revoke the account's tokens, rotate its secrets.
- Patch or roll back the vulnerable image; keep a copy of the compromised one for the investigation.

## Escalation

| When | Who |
|------|-----|
| Always, on a true positive | Security Lead (incident commander) |
| Customer or personal data may be exposed | Compliance Officer, who decides on notifying the regulator |
| Production must be taken down | SRE Lead, who informs the Product Owner |

## Verification

No further alerts from the asset for 24 hours; the credentials involved are rotated; a rescan
shows the finding fixed.

## Follow-up

A post-incident review within 5 business days; an access review of the accounts involved.

## References

- Security alert queue, the findings list, the access reviews
""",
    ),
]


def rule_file_yaml() -> str:
    """The demo rule file; opsgov runbooks are linked by their page URL under OPSGOV_BASE_URL."""
    base = settings.OPSGOV_BASE_URL.rstrip("/")

    def url(slug: str) -> str:
        return base + reverse("monitoring:runbook-detail", kwargs={"slug": slug})

    return f"""\
groups:
  - name: checkout
    rules:
      - record: job:checkout_errors:ratio5m
        expr: >-
          sum(rate(http_requests_total{{job="checkout",code=~"5.."}}[5m]))
          / sum(rate(http_requests_total{{job="checkout"}}[5m]))
      - alert: CheckoutHighErrorRate
        expr: job:checkout_errors:ratio5m > 0.05
        for: 5m
        labels:
          severity: critical
          service: checkout
        annotations:
          summary: Checkout 5xx ratio above 5%
          runbook_url: {url("checkout-high-error-rate")}
      - alert: CheckoutLatencyHigh
        expr: >-
          histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{job="checkout"}}[5m])))
          > 1.5
        for: 10m
        labels:
          severity: warning
          service: checkout
        annotations:
          summary: Checkout p99 latency above 1.5 s
          runbook_url: {url("checkout-high-error-rate")}
  - name: payments-ledger
    interval: 1m
    rules:
      - alert: PaymentsLedgerReplicationLag
        expr: pg_replication_lag_seconds{{service="payments-ledger"}} > 30
        for: 10m
        labels:
          severity: high
          service: payments-ledger
        annotations:
          summary: Ledger replica more than 30 s behind
          runbook_url: {url("payments-ledger-replication-lag")}
      - alert: PostgresPrimaryDown
        expr: pg_up{{service="payments-ledger",role="primary"}} == 0
        for: 1m
        labels:
          severity: critical
          service: payments-ledger
        annotations:
          summary: Ledger primary database unreachable
          runbook_url: {url("postgresql-failover")}
  - name: edge
    rules:
      - record: job:gateway_requests:rate5m
        expr: sum by (route) (rate(gateway_requests_total[5m]))
      - alert: ApiGatewayHigh5xx
        expr: sum(rate(gateway_requests_total{{code=~"5.."}}[5m])) / sum(rate(gateway_requests_total[5m])) > 0.02
        for: 5m
        labels:
          severity: critical
          service: api-gateway
        annotations:
          summary: API gateway answers more than 2% 5xx
          runbook_url: {url("api-gateway-5xx")}
      - alert: ApiGatewaySaturated
        expr: avg(gateway_open_connections / gateway_max_connections) > 0.85
        for: 15m
        keep_firing_for: 10m
        labels:
          severity: warning
          service: api-gateway
        annotations:
          summary: Gateway connection pool above 85%
          runbook_url: {url("api-gateway-5xx")}
  - name: identity
    rules:
      - alert: AuthLoginFailureSpike
        expr: sum(rate(auth_login_failures_total[10m])) > 3 * sum(rate(auth_login_failures_total[1d] offset 1d))
        for: 10m
        labels:
          severity: high
          service: auth
        annotations:
          summary: Failed logins tripled
          runbook_url: {url("auth-login-failures")}
  - name: web
    rules:
      - alert: WebFrontendErrorBudgetBurn
        expr: job:web_errors:ratio1h > 14.4 * 0.001
        for: 2m
        labels:
          severity: high
          service: web-frontend
        annotations:
          summary: Web frontend burning its error budget 14x too fast
          runbook_url: {url("web-frontend-errors")}
      - alert: WebFrontendCDNOriginErrors
        expr: sum(rate(cdn_origin_errors_total[5m])) > 10
        for: 5m
        labels:
          severity: warning
          service: web-frontend
        annotations:
          summary: CDN cannot reach the frontend origin
          runbook_url: https://cdn-vendor.example.com/docs/origin-errors
  - name: reporting
    rules:
      - alert: ReportingNightlyJobLate
        expr: time() - reporting_last_success_timestamp_seconds > 26 * 3600
        for: 30m
        labels:
          severity: warning
          service: reporting
        annotations:
          summary: The nightly finance report has not completed for 26 hours
"""


def seed(*, stdout: TextIO) -> None:
    """Create the demo runbooks and import the demo rule file, unless the demo runbooks exist already."""
    slugs = [slug for slug, *_ in RUNBOOKS]
    if Runbook.objects.filter(slug__in=slugs).exists():
        stdout.write("Demo runbooks already present; skipped.\n")
        return
    User = get_user_model()
    fallback = User.objects.filter(is_superuser=True).order_by("pk").first()
    today = policy_today()
    with transaction.atomic():
        for slug, title, service_slugs, username, age_days, body in RUNBOOKS:
            owner = User.objects.filter(username=username).first() or fallback
            reviewed_on = today - timedelta(days=age_days)
            runbook = services.runbook_create(
                title=title,
                slug=slug,
                body=body,
                owner=owner,
                services=Service.objects.filter(slug__in=service_slugs),
                last_reviewed_at=reviewed_on,
            )
            services.runbook_mark_reviewed(runbook=runbook, actor=owner, on=reviewed_on)
        result = services.import_rule_files(files=[(RULE_FILE_NAME, rule_file_yaml())])
    overdue = sum(1 for runbook in Runbook.objects.filter(slug__in=slugs) if runbook.is_review_overdue(today))
    stdout.write(
        f"Demo runbooks: {len(RUNBOOKS)} ({overdue} overdue for review); "
        f"alert rules: {result.added} imported from {RULE_FILE_NAME}.\n"
    )
