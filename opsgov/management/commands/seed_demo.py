"""`manage.py seed_demo`: demo teams, services and one user per role (idempotent).

Each area adds its own demo records from a `demo.py` module in its app with a
`seed(stdout)` function (idempotent too), called after the core records. Demo users share
one password, so the command refuses to run with DEBUG off unless told to.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.module_loading import module_has_submodule

from opsgov import services
from opsgov.gates import demo as demo_gates
from opsgov.gates import services as gate_services
from opsgov.models import Lifecycle, Service, ServiceTier, Team
from opsgov.roles import ALL_ROLES, COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

DEMO_PASSWORD = "opsgov-demo"  # noqa: S105 - demo data, refused in production below

TEAMS = [
    ("platform", "Platform", "Runs the shared infrastructure and the API gateway.", "platform@example.com"),
    ("payments", "Payments", "Checkout, billing and the payments ledger.", "payments@example.com"),
    ("identity", "Identity", "Sign-in, accounts and permissions.", "identity@example.com"),
]
SERVICES = [
    (
        "api-gateway",
        "API gateway",
        ServiceTier.TIER_1,
        "platform",
        Lifecycle.ACTIVE,
        "Public entry point for all APIs.",
    ),
    ("checkout", "Checkout", ServiceTier.TIER_1, "payments", Lifecycle.ACTIVE, "Basket and checkout flow."),
    ("payments-ledger", "Payments ledger", ServiceTier.TIER_1, "payments", Lifecycle.ACTIVE, "Double-entry ledger."),
    ("auth", "Authentication", ServiceTier.TIER_1, "identity", Lifecycle.ACTIVE, "OAuth2/OIDC provider."),
    ("web-frontend", "Web frontend", ServiceTier.TIER_2, "platform", Lifecycle.ACTIVE, "Customer-facing web app."),
    ("reporting", "Reporting", ServiceTier.TIER_3, "payments", Lifecycle.ACTIVE, "Nightly finance reports."),
    ("legacy-search", "Legacy search", ServiceTier.TIER_3, "platform", Lifecycle.DEPRECATED, "Replaced in 2026."),
]


def _username(role: str) -> str:
    return role.lower().replace(" ", "-")


class Command(BaseCommand):
    help = "Create demo teams, services and users (one per role, password 'opsgov-demo'). Safe to run twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Run even with DEBUG off (never on a production system: demo users share a known password).",
        )

    def handle(self, *args: Any, allow_without_debug: bool, **options: Any) -> None:
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "DEBUG is off: demo users with a known password would be created. "
                "Pass --allow-without-debug if this really is a demo system."
            )
        with transaction.atomic():
            teams = {}
            for slug, name, description, email in TEAMS:
                team = Team.objects.filter(slug=slug).first()
                teams[slug] = team or services.team_create(slug=slug, name=name, description=description, email=email)
            for slug, name, tier, team_slug, lifecycle, description in SERVICES:
                if not Service.objects.filter(slug=slug).exists():
                    services.service_create(
                        slug=slug,
                        name=name,
                        tier=tier,
                        owner_team=teams[team_slug],
                        lifecycle=lifecycle,
                        description=description,
                        links=[{"title": "Runbook", "url": f"https://runbooks.example.com/{slug}"}],
                    )
            created_users = []
            admin = User.objects.filter(username="admin").first()
            if admin is None:
                User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
                created_users.append("admin")
            for role in ALL_ROLES:
                username = _username(role)
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "email": f"{username}@example.com",
                        "first_name": role,
                        # The admin holds the audit trail (compliance), login lockouts (security) and records.
                        "is_staff": role in (COMPLIANCE_OFFICER, SRE_LEAD, SECURITY_LEAD),
                    },
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
                    created_users.append(username)
                user.groups.add(Group.objects.get(name=role))
            # Each area adds its own demo records from `<app>/demo.py: seed(stdout=...)`.
            for app_config in apps.get_app_configs():
                if module_has_submodule(app_config.module, "demo"):
                    import_module(f"{app_config.name}.demo").seed(stdout=self.stdout)
            services.compute_metrics()
            gate_services.evaluate_gates()
            demo_gates.seed(stdout=self.stdout)

        self.stdout.write(
            f"Demo data ready: {Team.objects.count()} teams, {Service.objects.count()} services"
            + (f"; new users: {', '.join(created_users)}" if created_users else "")
            + "."
        )
        self.stdout.write(
            f"Log in as admin / {DEMO_PASSWORD} (superuser), or as one of the roles: "
            + ", ".join(_username(role) for role in ALL_ROLES)
            + f" (password {DEMO_PASSWORD})."
        )
