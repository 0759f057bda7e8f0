"""Runbooks: the only code that writes them, their Markdown rendering, and the template for new ones.

* Writes (:func:`runbook_create`, :func:`runbook_update`, :func:`runbook_mark_reviewed`)
  take keyword-only arguments, validate with ``full_clean()`` and run in one
  transaction each. Every change is kept in the audit trail (auditlog, registered
  in monitoring.apps), with the signed-in user as actor.
* Writing a runbook is reviewing it: a new runbook is reviewed today by its
  author unless a past review day is given (when moving runbooks over from
  another tool). Later edits do not count as a review: a review is recorded
  explicitly (who and which day), so "reviewed" means someone checked the whole
  document, not that someone fixed a typo.
* Markdown is rendered by Python-Markdown and the resulting HTML is sanitized
  by nh3 (an allowlist of tags, attributes and URL schemes: no scripts, no
  event handlers, no ``javascript:`` links) before it is marked safe.
* A runbook loads no image from elsewhere (monitoring.links.is_own_url): a Markdown
  image of another site becomes a link to it ("… (external image)"), and an HTML
  <img> of another site loses its ``src``. Scheme-relative links (``//host/...``)
  and URLs that browsers would rewrite (a backslash, whitespace, a control
  character) lose their ``href``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import markdown
import nh3
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from opsgov.errors import DomainError
from opsgov.models import Service

from ..links import is_own_url
from ..models import Runbook
from ..models.catalog import policy_today

Actor = AbstractBaseUser | AnonymousUser | None

UPDATABLE_FIELDS: tuple[str, ...] = ("title", "slug", "body", "owner", "services")
#: Slugs that would shadow a page under /monitoring/runbooks/.
RESERVED_SLUGS: frozenset[str] = frozenset({"new"})

# --- Template ------------------------------------------------------------------------------

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


# --- Rendering -----------------------------------------------------------------------------


class _ForeignImagesToLinks(Treeprocessor):
    """Replace a Markdown image of another site by a link to it: readers choose to open it."""

    def run(self, root: Any) -> None:
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag != "img" or is_own_url(child.get("src", "")):
                    continue
                link = child.makeelement("a", {"href": child.get("src", "")})
                alt = (child.get("alt") or "").strip()
                link.text = f"{alt} (external image)" if alt else "External image"
                link.tail = child.tail
                parent[index] = link


class _ForeignImagesExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # After the inline patterns (priority 20), which make the <img> elements.
        md.treeprocessors.register(_ForeignImagesToLinks(md), "opsgov_foreign_images", 5)


_EXTENSIONS = ["abbr", "def_list", "fenced_code", "tables", "sane_lists"]
_EXTENSION_CONFIGS = {"tables": {"use_align_attribute": True}}

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre",
        "s", "samp", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute_filter: images only from opsgov, no scheme-relative or rewritable link targets."""
    if tag == "img" and attribute == "src":
        return value if is_own_url(value) else None
    if tag == "a" and attribute == "href":
        stripped = value.strip()
        if stripped.startswith("//") or any(char in stripped for char in "\\\t\n\r"):
            return None
    return value


def render_markdown(text: str) -> SafeString:
    """`text` (Markdown, possibly with raw HTML) as sanitized HTML, safe to put in a page."""
    html = markdown.markdown(
        text,
        extensions=[*_EXTENSIONS, _ForeignImagesExtension()],
        extension_configs=_EXTENSION_CONFIGS,
        output_format="html",
    )
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
        attribute_filter=_filter_attribute,
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above


# --- Writes -------------------------------------------------------------------------------


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def unique_slug(title: str, *, exclude_pk: int | None = None) -> str:
    """A slug from `title` that no other runbook uses ("db-failover", then "db-failover-2", ...)."""
    base = slugify(title)[:72] or "runbook"
    if base in RESERVED_SLUGS:
        base = f"{base}-runbook"
    others = Runbook.objects.filter(slug__startswith=base)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    taken = set(others.values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _check_slug(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise DomainError(f"{slug!r} is reserved for a page; choose another slug.", field="slug")


def _not_in_future(day: date, field: str) -> None:
    if day > policy_today():
        raise DomainError("A review day cannot be in the future.", field=field)


@transaction.atomic
def runbook_create(
    *,
    title: str,
    body: str,
    owner: Any,
    services: Iterable[Service] = (),
    slug: str = "",
    last_reviewed_at: date | None = None,
    actor: Actor = None,
) -> Runbook:
    """Create a runbook. Without `slug` one is made from the title; without `last_reviewed_at` it is
    reviewed today by `actor` (the author checked it by writing it)."""
    reviewed_by = None
    if last_reviewed_at is None:
        last_reviewed_at = policy_today()
        reviewed_by = _user(actor)
    else:
        _not_in_future(last_reviewed_at, "last_reviewed_at")
    runbook = Runbook(
        title=title,
        slug=slug or unique_slug(title),
        body=body,
        owner=owner,
        last_reviewed_at=last_reviewed_at,
        last_reviewed_by=reviewed_by,
    )
    _check_slug(runbook.slug)
    runbook.full_clean()
    runbook.save()
    runbook.services.set(list(services))
    return runbook


@transaction.atomic
def runbook_update(*, runbook: Runbook, data: dict[str, Any]) -> Runbook:
    """Change title, slug, body, owner and/or services. A review is recorded with runbook_mark_reviewed."""
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    for name, value in data.items():
        if name != "services":
            setattr(runbook, name, value)
    if "slug" in data and not data["slug"]:
        runbook.slug = unique_slug(runbook.title, exclude_pk=runbook.pk)
    _check_slug(runbook.slug)
    runbook.full_clean()
    runbook.save()
    if "services" in data:
        runbook.services.set(list(data["services"]))
    return runbook


@transaction.atomic
def runbook_mark_reviewed(*, runbook: Runbook, actor: Actor, on: date | None = None) -> Runbook:
    """Record that `actor` reviewed the runbook on `on` (default: today in the policy's time zone).

    The next review is then due ``policy.monitoring.runbook_review_every`` later. A review
    day in the future, or before the current last review, is refused.
    """
    reviewer = _user(actor)
    if reviewer is None:
        raise DomainError("A review is recorded for a signed-in person.", field="reviewed_by")
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    day = on or policy_today()
    _not_in_future(day, "reviewed_on")
    if day < runbook.last_reviewed_at:
        raise DomainError(
            f"The runbook was already reviewed on {runbook.last_reviewed_at:%Y-%m-%d}, after {day:%Y-%m-%d}.",
            field="reviewed_on",
        )
    runbook.last_reviewed_at = day
    runbook.last_reviewed_by = reviewer
    runbook.full_clean()
    runbook.save(update_fields=["last_reviewed_at", "last_reviewed_by", "updated_at"])
    return runbook
