"""`manage.py create_integration --kind KIND --service SLUG [...]`: a new alert source.

Creates the integration through incidents.services.integration_create and
prints its ingestion URL (absolute, from OPSGOV_BASE_URL) and its token. The
token is shown this once: only its hash is stored. An unknown kind, service or
severity, a malformed --map entry or a --routing-label the kind cannot route
by, stops with a message saying what is accepted, and nothing is created.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from incidents import services
from incidents.models import EXTERNAL_INTEGRATION_KINDS, IntegrationKind
from opsgov.models import Service
from opsgov.policy import get_policy


def parse_mapping(entries: list[str], defined: list[str]) -> dict[str, str]:
    """["critical=SEV-1", "p2=SEV-2"] -> {"critical": "SEV-1", "p2": "SEV-2"}; CommandError on a bad entry."""
    mapping: dict[str, str] = {}
    for entry in entries:
        source, sep, target = entry.partition("=")
        source, target = source.strip().lower(), target.strip().upper()
        if not sep or not source or not target:
            raise CommandError(f"--map {entry!r}: write SOURCE=SEVERITY, e.g. critical=SEV-1.")
        if target not in defined:
            raise CommandError(
                f"--map {entry!r}: unknown severity {target!r}; the policy defines {', '.join(defined)}."
            )
        mapping[source] = target
    return mapping


class Command(BaseCommand):
    help = (
        "Create an alert integration for a service and print its ingestion URL and token (shown once, stored hashed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            required=True,
            choices=[kind.value for kind in EXTERNAL_INTEGRATION_KINDS],
            help="alertmanager (webhook receiver), pagerduty or generic (PagerDuty Events API v2).",
        )
        parser.add_argument("--service", required=True, metavar="SLUG", help="Slug of the service alerts belong to.")
        parser.add_argument("--name", help="Display name (default: '<service name> <kind>').")
        parser.add_argument(
            "--default-severity",
            default="SEV-3",
            metavar="SEV",
            help="Severity when an alert carries none that maps (default: SEV-3).",
        )
        parser.add_argument(
            "--no-auto-resolve",
            dest="auto_resolve",
            action="store_false",
            help="Do not resolve incidents when the source reports the alert resolved.",
        )
        parser.add_argument(
            "--routing-label",
            default="",
            metavar="LABEL",
            help="Where an alert names its service (slug or alias): an Alertmanager label (default: service), or "
            "for pagerduty/generic payload.component (default) or custom_details.<key>. Missing or unknown "
            "values go to --service.",
        )
        parser.add_argument(
            "--map",
            nargs="+",
            action="extend",
            default=[],
            metavar="SOURCE=SEV",
            help="Source severity to policy severity, e.g. --map critical=SEV-1 p3=SEV-3 (merged over the defaults).",
        )

    def handle(
        self,
        *args: Any,
        kind: str,
        service: str,
        name: str | None,
        default_severity: str,
        auto_resolve: bool,
        map: list[str],  # the option's name
        routing_label: str = "",
        **options: Any,
    ) -> None:
        defined = sorted(get_policy().incidents.severities)
        default_severity = default_severity.strip().upper()
        if default_severity not in defined:
            raise CommandError(
                f"--default-severity {default_severity!r} is not a severity of the policy ({', '.join(defined)})."
            )
        mapping = parse_mapping(map, defined)
        try:
            target = Service.objects.get(slug=service)
        except Service.DoesNotExist:
            known = list(Service.objects.order_by("slug").values_list("slug", flat=True)[:20])
            hint = f" Known services: {', '.join(known)}." if known else " There are no services yet."
            raise CommandError(f"No service with slug {service!r}.{hint}") from None
        kind_label = IntegrationKind(kind).label
        try:
            integration, token = services.integration_create(
                name=(name or f"{target.name} {kind_label}")[:120],
                kind=kind,
                service=target,
                severity_mapping=mapping,
                default_severity=default_severity,
                auto_resolve=auto_resolve,
                routing_label=routing_label.strip(),
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
            raise CommandError(f"The integration is invalid: {problems}") from None

        base = settings.OPSGOV_BASE_URL.rstrip("/")
        header_route = (
            "ingest-alertmanager-bearer" if kind == IntegrationKind.ALERTMANAGER else "ingest-pagerduty-bearer"
        )
        self.stdout.write(f"Created integration {integration.name!r} ({kind}) for service {target.slug}.")
        self.stdout.write(
            f"Routing: by {integration.routing_label!r} (a service's slug or alias); "
            f"missing or unknown values go to {target.slug}."
        )
        self.stdout.write(f"URL: {base}{integration.ingest_path(token)}")
        self.stdout.write(f"Token: {token}")
        self.stdout.write(f"Or POST to {base}{reverse(header_route)} with the header 'Authorization: Bearer <token>'.")
        if kind != IntegrationKind.ALERTMANAGER:
            # What Events v2 senders (Alertmanager's pagerduty_configs, Grafana, ...) are configured with.
            self.stdout.write(
                f"Events v2 senders: url {base}{reverse('ingest-events-v2')}, routing_key <token> (in the body)."
            )
        self.stdout.write("The token is shown only now (it is stored hashed): keep it in your alert source's secrets.")
