"""Improvement items other apps find (opsgov.events.ImprovementItem) become ActionItems of the backlog.

One item per event key (ActionItem.source_key, prefixed "improvement:"): a repeated event changes nothing.
Subscribed in IncidentsConfig.ready.
"""

from __future__ import annotations

from opsgov.events import ImprovementItem

from .models import ActionItem


def handle_improvement_item(item: ImprovementItem) -> None:
    source_key = f"improvement:{item.key}"
    if ActionItem.objects.filter(source_key=source_key).exists():
        return
    description = item.description + (f"\n\nSource: {item.source}." if item.source else "")
    ActionItem.objects.create(
        title=item.title[:255],
        description=description.strip(),
        service_id=item.service_id,
        source_key=source_key,
    )
