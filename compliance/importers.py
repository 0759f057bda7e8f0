"""Framework imports: an OSCAL 1.1 catalog (JSON) and a requirement library (YAML).

Both validate the whole document before writing anything, and report problems with the path
in the document (``catalog.groups[0].controls[1].id: String should match pattern ...``).
The OSCAL catalog is validated with compliance-trestle's pydantic models of OSCAL; the
library with the pydantic model below. An import is one transaction: a document that fails
halfway writes nothing. A framework is (slug, version): a new version adds rows, never
rewrites an older version; the same version with the same document changes nothing; the same
version with a different document is refused (bump the version).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from pydantic import BaseModel, ConfigDict, Field
from trestle.oscal.catalog import Catalog, Control

from .models import Framework, FrameworkSource, Requirement

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_ERRORS = 20
_INSERT = re.compile(r"\{\{\s*insert:\s*param,\s*([^}\s]+)\s*\}\}")


class ImportProblem(ValidationError):
    """A document that cannot be imported; `messages` name the path in the document."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__({"document": list(messages)})


@dataclass(frozen=True)
class ImportResult:
    framework: Framework
    created: bool
    requirements: int


def _path(prefix: str, loc: Sequence[Any]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part[:1].isupper():
            continue  # the name of a union branch (trestle's Group1/Group2), not a key of the document
        else:
            text += f".{part}"
    return text


def pydantic_messages(exc: pydantic.ValidationError, prefix: str) -> list[str]:
    """One line per problem, `path: reason`, each path once, at most MAX_ERRORS lines."""
    lines: list[str] = []
    for error in exc.errors():
        line = f"{_path(prefix, error['loc'])}: {error['msg']}"
        if line not in lines:
            lines.append(line)
    if len(lines) > MAX_ERRORS:
        lines = [*lines[:MAX_ERRORS], f"... and {len(lines) - MAX_ERRORS} more problems"]
    return lines


def _check_size(data: bytes) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ImportProblem([f"The document is {len(data)} bytes; at most {MAX_DOCUMENT_BYTES} are accepted."])


def _existing(slug: str, version: str, sha256: str) -> Framework | None:
    framework = Framework.objects.filter(slug=slug, version=version).first()
    if framework is not None and framework.document_sha256 != sha256:
        raise ImportProblem(
            [
                f"Version {version!r} of framework {slug!r} was imported from a different document; "
                "a version is never rewritten: give the new document a new version."
            ]
        )
    return framework


# --- OSCAL catalog ------------------------------------------------------------------


def parse_json(data: bytes) -> Any:
    _check_size(data)
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ImportProblem([f"The document is not UTF-8 text: {exc.reason} at byte {exc.start}."]) from exc
    except json.JSONDecodeError as exc:
        raise ImportProblem([f"Line {exc.lineno}, column {exc.colno}: {exc.msg}."]) from exc


def validate_catalog(document: Any) -> Catalog:
    if not isinstance(document, dict) or "catalog" not in document:
        raise ImportProblem(['(root): an OSCAL catalog document is an object with one key, "catalog".'])
    extra = sorted(set(document) - {"catalog"})
    if extra:
        raise ImportProblem([f"(root).{extra[0]}: unexpected key beside catalog."])
    try:
        return Catalog.model_validate(document["catalog"])
    except pydantic.ValidationError as exc:
        raise ImportProblem(pydantic_messages(exc, "catalog")) from exc


def _prose(control: Control) -> str:
    values: dict[str, str] = {
        str(param.id): ", ".join(getattr(param, "values", None) or []) or str(param.label or param.id)
        for param in control.params or []
    }
    texts = [part.prose for part in control.parts or [] if part.name == "statement" and part.prose]
    return "\n".join(_INSERT.sub(lambda match: values.get(match.group(1)) or match.group(1), text) for text in texts)


@dataclass
class _Node:
    ref_id: str
    title: str
    description: str
    assessable: bool
    depth: int
    parent: str | None


def _catalog_nodes(catalog: Catalog) -> Iterator[_Node]:
    def controls(items: Sequence[Control], depth: int, parent: str | None) -> Iterator[_Node]:
        for control in items:
            yield _Node(control.id, control.title, _prose(control), True, depth, parent)
            yield from controls(getattr(control, "controls", None) or [], depth + 1, control.id)

    def groups(items: Sequence[Any], depth: int, parent: str | None) -> Iterator[_Node]:
        for index, group in enumerate(items):
            ref = group.id or f"group-{depth}-{index}"
            yield _Node(ref, group.title, "", False, depth, parent)
            # trestle models a group with subgroups and one with controls as two classes (Group1, Group2).
            yield from groups(getattr(group, "groups", None) or [], depth + 1, ref)
            yield from controls(getattr(group, "controls", None) or [], depth + 1, ref)

    yield from groups(getattr(catalog, "groups", None) or [], 1, None)
    yield from controls(getattr(catalog, "controls", None) or [], 1, None)


def _write(
    *, slug: str, version: str, title: str, source: str, source_uuid: str, sha256: str, nodes: Sequence[_Node]
) -> ImportResult:
    seen: set[str] = set()
    for index, node in enumerate(nodes):
        if node.ref_id in seen:
            raise ImportProblem([f"requirement {index} ({node.ref_id}): this id appears twice in the document."])
        seen.add(node.ref_id)
    framework = Framework(
        slug=slug,
        version=version,
        title=title[:300],
        source=source,
        source_uuid=source_uuid,
        document_sha256=sha256,
    )
    framework.full_clean()
    framework.save()
    by_ref: dict[str, Requirement] = {}
    for position, node in enumerate(nodes):
        requirement = Requirement(
            framework=framework,
            parent=by_ref.get(node.parent) if node.parent else None,
            ref_id=node.ref_id,
            title=node.title[:300],
            description=node.description,
            assessable=node.assessable,
            depth=node.depth,
            position=position,
            urn=getattr(node, "urn", ""),
        )
        requirement.save()
        by_ref[node.ref_id] = requirement
    return ImportResult(framework=framework, created=True, requirements=len(by_ref))


@transaction.atomic
def import_oscal_catalog(data: bytes, *, slug: str = "") -> ImportResult:
    """Import an OSCAL catalog (JSON bytes): groups become headings, controls assessable requirements."""
    sha256 = hashlib.sha256(data).hexdigest()
    catalog = validate_catalog(parse_json(data))
    slug = slug or slugify(catalog.metadata.title)[:100] or "catalog"
    version = catalog.metadata.version
    existing = _existing(slug, version, sha256)
    if existing is not None:
        return ImportResult(framework=existing, created=False, requirements=existing.requirements.count())
    return _write(
        slug=slug,
        version=version,
        title=catalog.metadata.title,
        source=FrameworkSource.OSCAL_CATALOG,
        source_uuid=str(catalog.uuid),
        sha256=sha256,
        nodes=list(_catalog_nodes(catalog)),
    )


# --- Requirement library (YAML) ----------------------------------------------------------


class LibraryNode(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    urn: str = Field(min_length=1, max_length=300)
    ref_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    parent_urn: str | None = None
    assessable: bool = True
    depth: int = Field(default=1, ge=1, le=20)
    description: str = ""


class LibraryDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    urn: str = Field(min_length=1, max_length=300)
    ref_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    version: str | int
    requirement_nodes: list[LibraryNode] = Field(min_length=1)


@dataclass
class _UrnNode(_Node):
    urn: str = ""


def validate_library(data: bytes) -> LibraryDocument:
    _check_size(data)
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"Line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ImportProblem([f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})."]) from exc
    if not isinstance(document, dict):
        raise ImportProblem(["(root): a library is a mapping with urn, ref_id, name, version, requirement_nodes."])
    try:
        library = LibraryDocument.model_validate(document)
    except pydantic.ValidationError as exc:
        raise ImportProblem(pydantic_messages(exc, "library")) from exc
    problems: list[str] = []
    seen: set[str] = set()
    for index, node in enumerate(library.requirement_nodes):
        where = f"library.requirement_nodes[{index}]"
        if node.urn in seen:
            problems.append(f"{where}.urn: {node.urn!r} appears twice.")
        if node.parent_urn is not None and node.parent_urn not in seen:
            problems.append(f"{where}.parent_urn: {node.parent_urn!r} is not the urn of an earlier node.")
        seen.add(node.urn)
    if problems:
        raise ImportProblem(problems[:MAX_ERRORS])
    return library


@transaction.atomic
def import_library(data: bytes, *, slug: str = "") -> ImportResult:
    """Import a requirement library (YAML bytes): its nodes, in document order, with their tree."""
    sha256 = hashlib.sha256(data).hexdigest()
    library = validate_library(data)
    slug = slug or slugify(library.ref_id)[:100] or "library"
    version = str(library.version)
    existing = _existing(slug, version, sha256)
    if existing is not None:
        return ImportResult(framework=existing, created=False, requirements=existing.requirements.count())
    ref_of = {node.urn: node.ref_id for node in library.requirement_nodes}
    nodes = [
        _UrnNode(
            ref_id=node.ref_id,
            title=node.name,
            description=node.description,
            assessable=node.assessable,
            depth=node.depth,
            parent=ref_of[node.parent_urn] if node.parent_urn else None,
            urn=node.urn,
        )
        for node in library.requirement_nodes
    ]
    return _write(
        slug=slug,
        version=version,
        title=library.name,
        source=FrameworkSource.LIBRARY_YAML,
        source_uuid=library.urn,
        sha256=sha256,
        nodes=nodes,
    )


def import_document(data: bytes, *, filename: str, slug: str = "") -> ImportResult:
    """Import by file name: .json is an OSCAL catalog, .yaml/.yml a library."""
    lowered = filename.lower()
    if lowered.endswith(".json"):
        return import_oscal_catalog(data, slug=slug)
    if lowered.endswith((".yaml", ".yml")):
        return import_library(data, slug=slug)
    raise ImportProblem([f"{filename}: expected an OSCAL catalog (.json) or a requirement library (.yaml)."])
