"""manage.py send_nps_campaign: survey contacts for an NPS campaign (the policy's period per contact respected)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from support import nps
from support.models import Contact, NpsCampaign


class Command(BaseCommand):
    help = (
        "Send an NPS campaign: every contact (or those of --contact) not bounced and not surveyed within "
        "support.nps_min_interval gets a survey link through the outbox. --dry-run only says who would."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--name", help="Create a campaign of this name and send it.")
        target.add_argument("--campaign", type=int, help="Send (or resume) the campaign with this id.")
        parser.add_argument("--contact", action="append", default=[], help="Only this e-mail address (repeatable).")
        parser.add_argument("--batch", type=int, default=200, help="Contacts per transaction (default 200).")
        parser.add_argument("--dry-run", action="store_true", help="Count who would be surveyed; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch: must be at least 1")
        contacts = None
        if options["contact"]:
            emails = [email.strip().lower() for email in options["contact"]]
            found = dict(Contact.objects.filter(email__in=emails).values_list("email", "pk"))
            unknown = [email for email in emails if email not in found]
            if unknown:
                raise CommandError(f"--contact: no contact with the address {', '.join(unknown)}")
            contacts = list(found.values())
        if options["campaign"] is not None:
            campaign = NpsCampaign.objects.filter(pk=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"--campaign: no NPS campaign with id {options['campaign']}")
        else:
            name = options["name"].strip()
            if not name:
                raise CommandError("--name: must not be empty")
            campaign = NpsCampaign(name=name)
        now = timezone.now()
        if options["dry_run"]:
            plan = nps.plan_campaign(campaign=campaign, contacts=contacts, now=now)
            self.stdout.write(f"Dry run, nothing sent. {self._summary(plan)}")
            return
        if campaign.pk is None:
            campaign.save()
        self.stdout.write(f"Campaign {campaign.pk} ({campaign.name}):")
        plan, sent = nps.run_campaign(
            campaign=campaign,
            contacts=contacts,
            now=now,
            batch=options["batch"],
            progress=lambda done, total: self.stdout.write(f"  {done}/{total} contacts surveyed"),
        )
        self.stdout.write(f"{sent} survey(s) queued in the outbox. {self._summary(plan)}")

    @staticmethod
    def _summary(plan: nps.CampaignPlan) -> str:
        return (
            f"{len(plan.eligible)} contact(s) to survey; left out: {plan.bounced} bounced, "
            f"{plan.recent} surveyed within the policy's period, {plan.already} already in this campaign."
        )
