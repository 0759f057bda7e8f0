"""Runbook bodies: the Markdown template of a new runbook, and the sanitized rendering of any.

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

from typing import Any

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from ..links import is_own_url

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


# --- Rendering ---------------------------------------------------------------------------


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
