"""`manage.py import_access_accounts CAMPAIGN FILE`: add another system's accounts to an open access review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from security import access_reviews
from security.models import AccessReviewCampaign


class Command(BaseCommand):
    help = (
        "Import a CSV of another system's accounts (header system,account,person,entitlements,last_login; "
        "entitlements separated by ';') into an open access review campaign. One bad line refuses the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", type=int, help="The campaign's id.")
        parser.add_argument("file", help="The CSV (UTF-8); '-' reads standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = AccessReviewCampaign.objects.filter(pk=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"campaign: no access review campaign {options['campaign']}.")
        text = _read(options["file"])
        try:
            added = access_reviews.import_accounts(campaign=campaign, text=text)
        except ValidationError as exc:
            raise CommandError(_message(options["file"], exc)) from None
        self.stdout.write(f"{added} account(s) added to {campaign.title}.")


def _read(path: str) -> str:
    try:
        return Path("/dev/stdin" if path == "-" else path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None


def _message(path: str, exc: ValidationError) -> str:
    return f"{path}: " + "; ".join(
        f"{field}: {error}" for field, errors in exc.message_dict.items() for error in errors
    )
