"""How long ago something happened, in words: "just now", "5 minutes ago", for pages and evidence alike."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.timesince import timesince

#: The units of plain text, largest first.
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def ago(moment: datetime, now: datetime, *, on_page: bool = False) -> str:
    """`moment` seen from `now`, in its largest whole unit: "just now" under a minute (or in the future),
    else e.g. "3 hours ago".

    Plain text by default (evidence rows, emails, CSV): days at most ("12 days ago"), ordinary spaces.
    ``on_page=True`` (a page's "Evaluated 5 minutes ago"): Django's ``timesince``, which goes on to weeks,
    months and years and joins number and unit with a no-break space, so the phrase never wraps.
    """
    if now - moment < timedelta(minutes=1):
        return "just now"
    if on_page:
        return f"{timesince(moment, now, depth=1)} ago"
    seconds = int((now - moment).total_seconds())
    for unit, size in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"  # pragma: no cover - a minute or more always has a unit
