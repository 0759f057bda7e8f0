"""Markdown written by people (runbooks, DR plans, knowledge-base articles) as sanitised HTML, in one place.

* Markdown is rendered by Python-Markdown and the resulting HTML is sanitised by nh3 (an allowlist
  of tags, attributes and URL schemes: no scripts, no event handlers, no styles, no ``javascript:``
  links; links open with ``rel="noopener noreferrer"``) before it is marked safe.
* A page loads no image from elsewhere (:func:`is_own_url`): a Markdown image of another site
  becomes a link to it ("… (external image)"), and an HTML <img> of another site loses its ``src``.
  Any other image would be fetched by every reader's browser (a tracking pixel, or a page that
  changes under the reviewer), and the site's Content-Security-Policy (img-src 'self' data:)
  refuses it anyway.
* Scheme-relative links (``//host/...``) and URLs that browsers would rewrite (a backslash,
  whitespace, a control character) lose their ``href``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

#: Whitespace, control characters and the backslash: browsers drop or rewrite them in URLs.
UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


def is_own_url(url: str) -> bool:
    """Whether `url` points at opsgov itself: a relative path, or OPSGOV_BASE_URL's scheme and host."""
    url = url.strip()
    if not url or UNSAFE_URL_CHARACTER.search(url):
        return False
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.lower()
    except ValueError:
        return False
    if not parts.scheme and not netloc:
        return not url.startswith("//")
    base = urlsplit(settings.OPSGOV_BASE_URL)
    return (parts.scheme.lower(), netloc) == (base.scheme.lower(), base.netloc.lower())


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
    """`text` (Markdown, possibly with raw HTML) as sanitised HTML, safe to put in a page."""
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
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
