"""Prometheus alerting rule files read and checked, without the database (monitoring.catalog.services imports them).

The format is Prometheus' own (``rule_files``; what ``promtool check rules``
checks)::

    groups:
      - name: checkout            # unique in the file
        interval: 1m              # optional
        rules:
          - alert: HighErrorRate  # an alerting rule ...
            expr: job:checkout_errors:ratio5m > 0.05
            for: 5m               # optional durations: 30s, 5m, 1h30m, 1d ...
            keep_firing_for: 10m
            labels: {severity: critical, service: checkout}
            annotations: {summary: ..., runbook_url: https://...}
          - record: job:x:rate5m  # ... or a recording rule (counted, not cataloged)
            expr: sum(rate(x[5m]))

Validation follows Prometheus (unknown keys, empty or repeated group names,
rules that are both or neither alert and record, missing ``expr``, bad
durations, ``for``/``annotations`` on recording rules, invalid label names)
and adds one rule of the catalog: an alert name appears once per group, since
(file name, group, alert name) is a rule's identity across imports. Every
``expr`` (alerting and recording rules) is parsed as PromQL by a real parser,
the ``promql-parser`` package (the Rust ``promql-parser`` crate, which follows
Prometheus' own grammar and function signatures): syntax errors, unknown
functions and wrong argument types (``rate(x)``) are errors, as for
``promtool check rules``. Before parsing, an expression with more than
``monitoring.promql.MAX_EXPR_OPERATORS`` operators and parentheses is refused as
too complex (monitoring.promql.promql_problem); real rules stay far below.
Every error names the file, line, group and rule; a file with any error is
rejected whole (:class:`RuleImportError`).

The checks are pydantic models of the file, group and rule (one validator per
field), beside the checks pydantic cannot make (names unique across groups and
rules, alert or record, what a recording rule may not have); each problem's
location (pydantic's ``loc``) is looked up in the YAML node tree for its line.

What opsgov makes of an alerting rule
-------------------------------------
* **severity**: a valid ``opsgov_severity`` label (e.g. ``SEV-2``), else the
  ``severity`` label through :data:`SEVERITY_LABELS`; empty when neither gives a
  severity the policy defines.
* **service**: the Service whose slug is the ``service`` label; no label, or
  no such service, leaves the rule without a service (flagged in the catalog,
  and listed in the import's result: ``unknown_services`` and
  ``without_service_label`` per file).
* **runbook**: the ``runbook_url`` annotation. A URL of an opsgov runbook page
  (``<OPSGOV_BASE_URL>/monitoring/runbooks/<slug>/``, or that path alone) links
  that Runbook (an unknown slug is an error); any other absolute http(s) URL
  with a host is kept as an external runbook link. Anything else is an error
  naming the annotation: other paths, scheme-relative ``//host/...`` URLs,
  other schemes (monitoring.links). A runbook linked by hand in opsgov
  (monitoring.catalog.services.alert_rule_link_runbook) is kept by later
  imports, unless the file's annotation names an opsgov runbook. A rule with no
  runbook is flagged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.urls import Resolver404, resolve
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from opsgov.errors import DomainError
from opsgov.policy import SOURCE_SEVERITY_MAPPING, get_policy

from ..links import is_absolute_http_url, is_own_url
from ..promql import promql_problem

#: Largest rule file accepted (the API answers 413 above it).
MAX_FILE_BYTES = 1024 * 1024
#: Most rules (alerting and recording) in one file: YAML aliases can repeat a list of rules many
#: times in a small file, and each repeat would be checked and stored.
MAX_RULES_PER_FILE = 5000

#: ``severity`` label values understood (compared in lower case) and the policy severity each
#: means: the defaults alert ingestion applies too (opsgov.policy.SOURCE_SEVERITY_MAPPING).
#: An ``opsgov_severity`` label naming a policy severity overrides the mapping.
SEVERITY_LABELS = SOURCE_SEVERITY_MAPPING
SEVERITY_OVERRIDE_LABEL = "opsgov_severity"
SERVICE_LABEL = "service"
RUNBOOK_ANNOTATION = "runbook_url"

# Prometheus' duration syntax (model.ParseDuration): units from years down to milliseconds, in order.
_DURATION_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_DURATION_UNITS = {
    "y": timedelta(days=365),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


# --- Durations ----------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """A Prometheus duration ("0", "30s", "5m", "1h30m", "2d", "1w", "500ms") as a timedelta; ValueError if not one."""
    if text == "0":
        return timedelta(0)
    match = _DURATION_RE.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 1d)")
    return sum(
        (int(value) * _DURATION_UNITS[unit] for unit, value in match.groupdict().items() if value),
        timedelta(0),
    )


def format_duration(value: timedelta | None) -> str:
    """A timedelta in Prometheus' notation (largest units first: 5400 s is "1h30m"); "" for None."""
    if value is None:
        return ""
    milliseconds = round(value / timedelta(milliseconds=1))
    if milliseconds == 0:
        return "0s"
    parts = []
    for unit, length in _DURATION_UNITS.items():
        size = round(length / timedelta(milliseconds=1))
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# --- Errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleFileError:
    """One problem in a rule file: where it is (file, line, group, rule, field path) and what is wrong."""

    file: str
    message: str
    line: int | None = None
    group: str | None = None
    rule: str | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = []
        if self.group is not None:
            parts.append(f"group {self.group!r}")
        if self.rule is not None:
            parts.append(f"rule {self.rule!r}")
        context = f" ({', '.join(parts)})" if parts else ""
        field_path = f"{self.path}: " if self.path else ""
        return f"{where}{context}: {field_path}{self.message}"

    def as_json(self) -> dict[str, Any]:
        """The API's error row: ``field`` (file and path), ``message``, plus file, line, group and rule."""
        return {
            "field": f"{self.file}:{self.path}" if self.path else self.file,
            "message": str(self),
            "file": self.file,
            "line": self.line,
            "group": self.group,
            "rule": self.rule,
        }


class RuleImportError(DomainError):
    """Rule files that cannot be imported; nothing was written. `errors` lists every problem found."""

    def __init__(self, errors: Sequence[RuleFileError]) -> None:
        self.errors = list(errors)
        files = sorted({error.file for error in self.errors})
        summary = f"{len(self.errors)} problem{'s' if len(self.errors) != 1 else ''} in {', '.join(files)}"
        super().__init__(f"Nothing imported: {summary}.", field="file")


# --- YAML, and the lines of its nodes -----------------------------------------------------


class _RuleFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading every scalar as a string (as Prometheus, written in Go, does).

    So ``severity: on`` is "on", not True, and ``for: 300`` is "300" (then refused: a
    duration needs a unit). Only null stays null. Mappings refuse repeated keys and
    keys that are not strings, as Go's YAML decoder does.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":null", ":merge"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a string, not {key!r}", key_node.start_mark
                )
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is repeated (first on line {key_lines[key]})", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
            key_lines[key] = key_node.start_mark.line + 1
        return mapping


def _construct_deep_mapping(loader: _RuleFileLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    return loader.construct_mapping(node, deep=True)


_RuleFileLoader.add_constructor("tag:yaml.org,2002:map", _construct_deep_mapping)


def _yaml_error(file: str, exc: yaml.YAMLError) -> RuleFileError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is not None:
        message += f" at column {mark.column + 1}"
    return RuleFileError(file=file, message=message, line=mark.line + 1 if mark is not None else None)


Loc = tuple[str | int, ...]


def _line(root: yaml.Node, loc: Loc, *, of_mapping: bool = False) -> int:
    """The line of `loc` (pydantic's: keys and list indexes) in the loaded node tree: a key's own line; a list
    item on its list's key's line, or where it starts when it is a mapping; an absent key, or with `of_mapping`
    any key, on the line where its mapping starts."""
    node: yaml.Node | None = root
    line = mapping_line = root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            mapping_line = node.start_mark.line + 1
            key, node = next(((key, value) for key, value in node.value if key.value == part), (None, None))
            line = mapping_line if key is None else key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part]
    if isinstance(node, yaml.MappingNode) and loc and isinstance(loc[-1], int):
        return node.start_mark.line + 1
    return mapping_line if of_mapping else line


# --- The checks: pydantic models of the file, and what they cannot check ---------------------

#: The kind of a problem shown on the line where the mapping lacking the field starts (a missing field).
_MISSING = "missing"


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", type(None): "null"}.get(type(value), type(value).__name__)


def _problem(message: str, kind: str = "invalid") -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _problem(f"must be a duration, not a {_kind(value)}")
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _problem(str(exc)) from None


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _problem(f"must be a string, not a {_kind(value)}")
    return value


def _names_to_strings(what: str) -> PlainValidator:
    """Labels or annotations: valid names to strings (null is ""), every bad entry reported."""

    def check(value: Any) -> dict[str, str]:
        if value is not None and not isinstance(value, dict):
            raise _problem(f"must be a mapping of {what} names to values")
        problems: list[InitErrorDetails] = []
        for name, item in (value or {}).items():
            if not _LABEL_NAME_RE.match(name) or (what == "label" and name == "__name__"):
                problems.append({"type": _problem(f"invalid {what} name {name!r}"), "loc": (name,), "input": item})
            if item is not None and not isinstance(item, str):
                message = f"the value must be a string, not a {_kind(item)}"
                problems.append({"type": _problem(message), "loc": (name,), "input": item})
        if problems:
            raise ValidationError.from_exception_data(what, problems)
        return {name: item or "" for name, item in (value or {}).items()}

    return PlainValidator(check)


def _expr(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _problem("'expr' is missing: every rule needs a PromQL expression", _MISSING)
    if not isinstance(value, str):
        raise _problem(f"'expr' must be a string, not a {_kind(value)}")
    if (problem := promql_problem(value)) is not None:
        raise _problem(f"'expr' is not valid PromQL: {problem}")
    return value.strip()


def _group_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _problem("a group needs a non-empty 'name'", _MISSING)
    return value


def _rule_count(groups: list[Any]) -> int:
    return sum(
        len(group["rules"]) for group in groups if isinstance(group, dict) and isinstance(group.get("rules"), list)
    )


def _groups(value: Any) -> list[Any]:
    if value is None:
        raise _problem("'groups' is missing", _MISSING)
    if (total := _rule_count(_rules(value, "groups"))) > MAX_RULES_PER_FILE:
        raise _problem(f"{total} rules in one file; at most {MAX_RULES_PER_FILE} are accepted (split the file)")
    return list(value)


def _rules(value: Any, name: str = "rules") -> list[Any]:
    if value is not None and not isinstance(value, list):
        raise _problem(f"'{name}' must be a list, not a {_kind(value)}")
    return value or []


_VALIDATE_DEFAULT = Field(None, validate_default=True)
Duration = Annotated[timedelta | None, PlainValidator(_duration)]
Text = Annotated[str | None, PlainValidator(_text)]
Labels = Annotated[dict[str, str], _names_to_strings("label"), _VALIDATE_DEFAULT]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: Text = None
    record: Text = None
    expr: Annotated[str, PlainValidator(_expr), _VALIDATE_DEFAULT]
    for_: Duration = Field(None, alias="for")
    keep_firing_for: Duration = None
    labels: Labels
    annotations: Annotated[dict[str, str], _names_to_strings("annotation"), _VALIDATE_DEFAULT]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, PlainValidator(_group_name), _VALIDATE_DEFAULT]
    interval: Duration = None
    query_offset: Any = None
    limit: Any = None
    labels: Labels
    rules: Annotated[list[_Rule], BeforeValidator(_rules), _VALIDATE_DEFAULT]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: Annotated[list[_Group], BeforeValidator(_groups), _VALIDATE_DEFAULT]


#: The order of the checks, so that problems on one line are listed as a reader goes through a file, group or
#: rule (its own fields' checks by field name; the others by kind).
_ORDER = ("repeated_alert", "extra_forbidden", "name", "groups", "interval", "alert_and_record", "alert", "record",
          "expr", "for", "keep_firing_for", "labels", "annotations", "rules", "metric_name", "recording_rule",
          "runbook_url")  # fmt: skip


def _rule_problems(rule: dict[str, Any], loc: Loc, *, valid: bool) -> Iterator[tuple[Loc, str, str]]:
    """A rule's checks across its fields: alert or record; what a recording rule may not have; where the runbook
    of an otherwise `valid` alerting rule is."""
    alert, record = rule.get("alert"), rule.get("record")
    if alert not in (None, "") and record not in (None, ""):
        yield loc, "only one of 'alert' and 'record' may be set", "alert_and_record"
    elif alert in (None, "") and record in (None, ""):
        yield loc, "one of 'alert' or 'record' must be set", "alert_and_record"
    elif record not in (None, ""):
        if isinstance(record, str) and not _METRIC_NAME_RE.match(record):
            yield (*loc, "record"), f"{record!r} is not a valid metric name for a recording rule", "metric_name"
        for key in ("for", "keep_firing_for", "annotations"):
            if rule.get(key) is not None:
                yield (*loc, key), f"a recording rule has no {key!r}", "recording_rule"
    elif valid and _is_foreign_path(url := ((rule.get("annotations") or {}).get(RUNBOOK_ANNOTATION) or "").strip()):
        message = (
            f"{url!r} is not an absolute http(s) URL (https://host/...) nor the path of an opsgov runbook page "
            "(/monitoring/runbooks/<slug>/)"
        )
        yield (*loc, "annotations", RUNBOOK_ANNOTATION), message, "runbook_url"


def _is_foreign_path(url: str) -> bool:
    """A runbook_url that is neither an absolute http(s) URL nor an opsgov runbook page's path."""
    return bool(url) and not is_absolute_http_url(url) and not _is_opsgov_runbook_path(url)


def _cross_problems(groups: list[Any], root: yaml.Node, invalid: set[Loc]) -> Iterator[tuple[Loc, str, str]]:
    """What pydantic does not check: group names unique in the file, alert names unique in their group (a rule's
    identity on import), and each rule's checks across its fields (`invalid`: the rules pydantic refused)."""
    first_group: dict[str, int] = {}
    for index, group in enumerate(groups):
        name = group.get("name") if isinstance(group, dict) else None
        if isinstance(name, str) and name.strip() and name in first_group:
            message = f"group name {name!r} is repeated in the file (first on line {first_group[name]})"
            yield ("groups", index, "name"), message, "name"
        elif isinstance(name, str) and name.strip():
            first_group[name] = _line(root, ("groups", index, "name"))
        rules = group.get("rules") if isinstance(group, dict) else None
        first_alert: dict[str, int] = {}
        for position, rule in enumerate(rules if isinstance(rules, list) else []):
            loc: Loc = ("groups", index, "rules", position)
            alert = rule.get("alert") if isinstance(rule, dict) else None
            if isinstance(alert, str) and alert in first_alert:
                message = (
                    f"alert {alert!r} is repeated in the group (first on line {first_alert[alert]}); "
                    "an alert name must be unique in its group: it identifies the rule across imports"
                )
                yield (*loc, "alert"), message, "repeated_alert"
            elif isinstance(alert, str) and alert:
                first_alert[alert] = _line(root, (*loc, "alert"))
            if isinstance(rule, dict):
                yield from _rule_problems(rule, loc, valid=loc not in invalid)


def _errors(file: str, data: dict[str, Any], root: yaml.Node, exc: ValidationError | None) -> list[RuleFileError]:
    """Every problem of the file: pydantic's and the others, in our words, with their line, group and rule."""
    models: dict[int, type[BaseModel]] = {0: _File, 1: _Group, 2: _Rule}
    found: list[tuple[Loc, str, str]] = []
    for error in exc.errors() if exc is not None else []:
        loc, message, kind = tuple(error["loc"]), error["msg"], error["type"]
        depth = sum(isinstance(part, int) for part in loc[:4])
        if kind == "extra_forbidden":
            keys = sorted(field.alias or name for name, field in models[depth].model_fields.items())
            message = f"unknown field {loc[-1]!r} (allowed: {', '.join(keys)})"
        elif kind == "model_type":  # a group or a rule
            message = f"a {('group', 'rule')[depth - 1]} must be a mapping, not a {_kind(error['input'])}"
        found.append((loc, message, kind))
    groups = data.get("groups")
    if isinstance(groups, list) and _rule_count(groups) <= MAX_RULES_PER_FILE:
        found += _cross_problems(groups, root, invalid={loc[:4] for loc, _, _ in found})
    errors = []
    for loc, message, kind in found:
        place = [part for part in loc[:4] if isinstance(part, int)]  # group and rule index
        where = {}
        if place and isinstance(group := groups[place[0]], dict):  # type: ignore[index]
            where["group"] = _name(place[0], group.get("name"))
            if len(place) == 2 and isinstance(rule := group["rules"][place[1]], dict):
                where["rule"] = _name(place[1], rule.get("alert"), rule.get("record"))
        step = kind if kind in _ORDER else loc[2 * len(place)] if len(loc) > 2 * len(place) else ""
        line = _line(root, loc, of_mapping=kind == _MISSING)
        order = (line, *place, *[-1] * (2 - len(place)), _ORDER.index(step) if step in _ORDER else 0)
        errors.append((order, RuleFileError(file, message, line=line, path=_path(loc), **where)))
    return [error for _, error in sorted(errors, key=lambda entry: entry[0])]


def _name(index: int, *names: Any) -> str:
    """A group's or rule's name as the file gives it, else its number."""
    return next((name for name in names if isinstance(name, str) and name), f"#{index + 1}")


def _path(loc: Loc) -> str:
    """("groups", 0, "rules", 1, "for") -> "groups[0].rules[1].for"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


# --- Parsed rule files (no database) ------------------------------------------------------


@dataclass(frozen=True)
class ParsedRule:
    name: str
    expr: str
    for_duration: timedelta | None
    keep_firing_for: timedelta | None
    labels: dict[str, str]
    annotations: dict[str, str]
    line: int
    index: int  # in the group's `rules` list (recording rules included)
    position: int  # among the group's alerting rules
    runbook_url_line: int | None = None


@dataclass(frozen=True)
class ParsedGroup:
    name: str
    interval: timedelta | None
    rules: list[ParsedRule]
    recording_rule_count: int
    position: int


@dataclass(frozen=True)
class ParsedFile:
    name: str
    content: str
    sha256: str
    groups: list[ParsedGroup]

    @property
    def recording_rule_count(self) -> int:
        return sum(group.recording_rule_count for group in self.groups)

    @property
    def alert_count(self) -> int:
        return sum(len(group.rules) for group in self.groups)


def _parsed(group: _Group, index: int, root: yaml.Node) -> ParsedGroup:
    """A checked group's alerting rules, with where they are (the import names them in its own errors)."""
    rules: list[ParsedRule] = []
    for at, rule in enumerate(group.rules):
        if rule.alert:
            loc: Loc = ("groups", index, "rules", at)
            has_runbook = bool(rule.annotations.get(RUNBOOK_ANNOTATION, "").strip())
            runbook_line = _line(root, (*loc, "annotations", RUNBOOK_ANNOTATION)) if has_runbook else None
            fields = (rule.alert, rule.expr, rule.for_, rule.keep_firing_for, rule.labels, rule.annotations)
            rules.append(
                ParsedRule(*fields, line=_line(root, loc), index=at, position=len(rules), runbook_url_line=runbook_line)
            )
    return ParsedGroup(group.name, group.interval, rules, len(group.rules) - len(rules), position=index)


def parse_rule_file(name: str, content: str | bytes) -> ParsedFile:
    """Read and check one rule file; raises RuleImportError with every problem found (no database access)."""
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RuleImportError([RuleFileError(file=name, message=f"not UTF-8 text (byte {exc.start})")]) from None
    else:
        text = content
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise RuleImportError([RuleFileError(file=name, message=f"larger than {MAX_FILE_BYTES // 1024} KiB")])
    loader = _RuleFileLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise RuleImportError([_yaml_error(name, exc)]) from None
    finally:
        loader.dispose()
    if root is None or data is None:
        message = "the file is empty; a rule file has a 'groups' list"
        raise RuleImportError([RuleFileError(name, message, path="groups")])
    if not isinstance(data, dict):
        message = f"a rule file is a mapping with a 'groups' list, not a {_kind(data)}"
        raise RuleImportError([RuleFileError(name, message, line=1)])
    try:
        checked, refused = _File.model_validate(data), None
    except ValidationError as exc:
        checked, refused = None, exc
    if errors := _errors(name, data, root, refused):
        raise RuleImportError(errors)
    assert checked is not None
    groups = [_parsed(group, index, root) for index, group in enumerate(checked.groups)]
    return ParsedFile(name=name, content=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), groups=groups)


# --- What opsgov makes of a rule ----------------------------------------------------------


def map_severity(labels: Mapping[str, str]) -> str:
    """The policy severity of a rule's labels (see the module docstring); "" when none applies."""
    defined = get_policy().incidents.severities
    override = labels.get(SEVERITY_OVERRIDE_LABEL, "").strip().upper()
    if override in defined:
        return override
    mapped = SEVERITY_LABELS.get(labels.get("severity", "").strip().lower(), "")
    return mapped if mapped in defined else ""


def _is_opsgov_runbook_path(url: str) -> bool:
    """Whether `url` is a bare path (no scheme, no host) of an opsgov runbook page."""
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and is_own_url(url) and opsgov_runbook_slug(url) is not None


def opsgov_runbook_slug(url: str) -> str | None:
    """The slug when `url` is the page of an opsgov runbook (on OPSGOV_BASE_URL's host, or a bare path)."""
    parts = urlsplit(url.strip())
    base = urlsplit(settings.OPSGOV_BASE_URL)
    if parts.netloc and (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return None
    path = parts.path
    prefix = base.path.rstrip("/")
    if parts.netloc and prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :]
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.view_name != "monitoring:runbook-detail":
        return None
    return str(match.kwargs["slug"])
