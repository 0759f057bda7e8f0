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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.urls import Resolver404, resolve

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

_FILE_KEYS = frozenset({"groups"})
_GROUP_KEYS = frozenset({"name", "interval", "query_offset", "limit", "labels", "rules"})
_RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"})
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


# --- YAML with line numbers ---------------------------------------------------------------


class _Mapping(dict[str, Any]):
    """A YAML mapping that knows the line (1-based) where it starts and where each of its keys is."""

    line: int = 0
    key_lines: dict[str, int]


class _RuleFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading every scalar as a string (as Prometheus, written in Go, does).

    So ``severity: on`` is "on", not True, and ``for: 300`` is "300" (then refused: a
    duration needs a unit). Only null stays null. Mappings remember their lines and
    refuse repeated keys, as Go's YAML decoder does.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":null", ":merge"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping = _Mapping()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a string, not {key!r}", key_node.start_mark
                )
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is repeated (first on line {mapping.key_lines[key]})", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
            mapping.key_lines[key] = line
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
    line: int
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


class _FileChecker:
    """Walks one loaded rule file, collecting every error with its place."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[RuleFileError] = []

    def error(
        self, message: str, *, line: int | None, path: str, group: str | None = None, rule: str | None = None
    ) -> None:
        self.errors.append(RuleFileError(file=self.file, message=message, line=line, group=group, rule=rule, path=path))

    @staticmethod
    def _line_of(mapping: Any, key: str) -> int | None:
        if isinstance(mapping, _Mapping):
            return mapping.key_lines.get(key, mapping.line)
        return None

    def _unknown_keys(self, mapping: _Mapping, allowed: frozenset[str], path: str, **where: str | None) -> None:
        for key in mapping:
            if key not in allowed:
                self.error(
                    f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})",
                    line=mapping.key_lines[key],
                    path=f"{path}.{key}" if path else key,
                    **where,
                )

    def _duration(self, mapping: _Mapping, key: str, path: str, **where: str | None) -> timedelta | None:
        value = mapping.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(
                f"must be a duration, not a {_kind(value)}", line=self._line_of(mapping, key), path=path, **where
            )
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(str(exc), line=self._line_of(mapping, key), path=path, **where)
            return None

    def _string_map(self, mapping: _Mapping, key: str, path: str, *, what: str, **where: str | None) -> dict[str, str]:
        value = mapping.get(key)
        if value is None:
            return {}
        if not isinstance(value, _Mapping):
            self.error(
                f"must be a mapping of {what} names to values", line=self._line_of(mapping, key), path=path, **where
            )
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            line = value.key_lines[name]
            if not _LABEL_NAME_RE.match(name) or (what == "label" and name == "__name__"):
                self.error(f"invalid {what} name {name!r}", line=line, path=f"{path}.{name}", **where)
            if item is None:
                item = ""
            if not isinstance(item, str):
                self.error(
                    f"the value must be a string, not a {_kind(item)}", line=line, path=f"{path}.{name}", **where
                )
                continue
            result[name] = item
        return result

    def check(self, data: Any) -> list[ParsedGroup]:
        if data is None:
            self.error("the file is empty; a rule file has a 'groups' list", line=None, path="groups")
            return []
        if not isinstance(data, _Mapping):
            self.error(f"a rule file is a mapping with a 'groups' list, not a {_kind(data)}", line=1, path="")
            return []
        self._unknown_keys(data, _FILE_KEYS, "")
        groups = data.get("groups")
        if groups is None:
            self.error("'groups' is missing", line=data.line, path="groups")
            return []
        if not isinstance(groups, list):
            self.error(
                f"'groups' must be a list, not a {_kind(groups)}", line=self._line_of(data, "groups"), path="groups"
            )
            return []
        total = sum(
            len(group["rules"])
            for group in groups
            if isinstance(group, _Mapping) and isinstance(group.get("rules"), list)
        )
        if total > MAX_RULES_PER_FILE:
            self.error(
                f"{total} rules in one file; at most {MAX_RULES_PER_FILE} are accepted (split the file)",
                line=self._line_of(data, "groups"),
                path="groups",
            )
            return []
        parsed: list[ParsedGroup] = []
        seen: dict[str, int] = {}
        for index, group in enumerate(groups):
            result = self._group(group, index, seen, self._line_of(data, "groups"))
            if result is not None:
                parsed.append(result)
        return parsed

    def _group(self, group: Any, index: int, seen: dict[str, int], list_line: int | None) -> ParsedGroup | None:
        path = f"groups[{index}]"
        if not isinstance(group, _Mapping):
            self.error(f"a group must be a mapping, not a {_kind(group)}", line=list_line, path=path)
            return None
        name = group.get("name")
        label = name if isinstance(name, str) and name else f"#{index + 1}"
        where: dict[str, str | None] = {"group": label}
        self._unknown_keys(group, _GROUP_KEYS, path, **where)
        if not isinstance(name, str) or not name.strip():
            self.error("a group needs a non-empty 'name'", line=group.line, path=f"{path}.name", **where)
        elif name in seen:
            self.error(
                f"group name {name!r} is repeated in the file (first on line {seen[name]})",
                line=self._line_of(group, "name"),
                path=f"{path}.name",
                **where,
            )
        else:
            seen[name] = self._line_of(group, "name") or group.line
        interval = self._duration(group, "interval", f"{path}.interval", **where)
        self._string_map(group, "labels", f"{path}.labels", what="label", **where)
        rules = group.get("rules")
        if rules is None:
            rules = []
        if not isinstance(rules, list):
            self.error(
                f"'rules' must be a list, not a {_kind(rules)}",
                line=self._line_of(group, "rules"),
                path=f"{path}.rules",
                **where,
            )
            rules = []
        parsed_rules: list[ParsedRule] = []
        recording = 0
        alert_lines: dict[str, int] = {}
        for rule_index, rule in enumerate(rules):
            rule_path = f"{path}.rules[{rule_index}]"
            alert = rule.get("alert") if isinstance(rule, _Mapping) else None
            if isinstance(alert, str) and alert:
                line = rule.key_lines.get("alert", rule.line)
                if alert in alert_lines:
                    self.error(
                        f"alert {alert!r} is repeated in the group (first on line {alert_lines[alert]}); "
                        "an alert name must be unique in its group: it identifies the rule across imports",
                        line=line,
                        path=f"{rule_path}.alert",
                        group=label,
                        rule=alert,
                    )
                alert_lines.setdefault(alert, line)
            kind, parsed = self._rule(rule, rule_path, label, self._line_of(group, "rules"))
            if kind == "record":
                recording += 1
            if parsed is not None:
                parsed_rules.append(ParsedRule(**{**parsed.__dict__, "position": len(parsed_rules)}))
        return ParsedGroup(
            name=label,
            interval=interval,
            rules=parsed_rules,
            recording_rule_count=recording,
            line=group.line,
            position=index,
        )

    def _rule(self, rule: Any, path: str, group: str, list_line: int | None) -> tuple[str, ParsedRule | None]:
        if not isinstance(rule, _Mapping):
            self.error(f"a rule must be a mapping, not a {_kind(rule)}", line=list_line, path=path, group=group)
            return "", None
        alert, record = rule.get("alert"), rule.get("record")
        name = alert if isinstance(alert, str) and alert else record if isinstance(record, str) and record else None
        number = int(path.rsplit("[", 1)[1].rstrip("]")) + 1
        where: dict[str, str | None] = {"group": group, "rule": name or f"#{number}"}
        errors_before = len(self.errors)
        self._unknown_keys(rule, _RULE_KEYS, path, **where)
        has_alert = alert is not None and alert != ""
        has_record = record is not None and record != ""
        if has_alert and has_record:
            self.error("only one of 'alert' and 'record' may be set", line=rule.line, path=path, **where)
        elif not has_alert and not has_record:
            self.error("one of 'alert' or 'record' must be set", line=rule.line, path=path, **where)
        for key in ("alert", "record"):
            if rule.get(key) is not None and not isinstance(rule.get(key), str):
                self.error(
                    f"must be a string, not a {_kind(rule[key])}",
                    line=self._line_of(rule, key),
                    path=f"{path}.{key}",
                    **where,
                )
        expr = rule.get("expr")
        if expr is None or (isinstance(expr, str) and not expr.strip()):
            self.error(
                "'expr' is missing: every rule needs a PromQL expression", line=rule.line, path=f"{path}.expr", **where
            )
        elif not isinstance(expr, str):
            self.error(
                f"'expr' must be a string, not a {_kind(expr)}",
                line=self._line_of(rule, "expr"),
                path=f"{path}.expr",
                **where,
            )
        elif (problem := promql_problem(expr)) is not None:
            self.error(
                f"'expr' is not valid PromQL: {problem}", line=self._line_of(rule, "expr"), path=f"{path}.expr", **where
            )
        for_duration = self._duration(rule, "for", f"{path}.for", **where)
        keep_firing_for = self._duration(rule, "keep_firing_for", f"{path}.keep_firing_for", **where)
        labels = self._string_map(rule, "labels", f"{path}.labels", what="label", **where)
        annotations = self._string_map(rule, "annotations", f"{path}.annotations", what="annotation", **where)
        if has_record and not has_alert:
            if isinstance(record, str) and not _METRIC_NAME_RE.match(record):
                self.error(
                    f"{record!r} is not a valid metric name for a recording rule",
                    line=self._line_of(rule, "record"),
                    path=f"{path}.record",
                    **where,
                )
            for key in ("for", "keep_firing_for", "annotations"):
                if rule.get(key) is not None:
                    self.error(
                        f"a recording rule has no {key!r}", line=self._line_of(rule, key), path=f"{path}.{key}", **where
                    )
            return "record", None
        if not has_alert or len(self.errors) > errors_before:
            return "alert", None
        url = annotations.get(RUNBOOK_ANNOTATION, "").strip()
        if url and not is_absolute_http_url(url) and not _is_opsgov_runbook_path(url):
            self.error(
                f"{url!r} is not an absolute http(s) URL (https://host/...) nor the path of an opsgov runbook page "
                "(/monitoring/runbooks/<slug>/)",
                line=self._line_of(rule.get("annotations"), RUNBOOK_ANNOTATION),
                path=f"{path}.annotations.{RUNBOOK_ANNOTATION}",
                **where,
            )
            return "alert", None
        assert isinstance(alert, str) and isinstance(expr, str)
        return "alert", ParsedRule(
            name=alert,
            expr=expr.strip(),
            for_duration=for_duration,
            keep_firing_for=keep_firing_for,
            labels=labels,
            annotations=annotations,
            line=rule.line,
            index=int(path.rsplit("[", 1)[1].rstrip("]")),
            position=0,
            runbook_url_line=self._line_of(rule.get("annotations"), RUNBOOK_ANNOTATION) if url else None,
        )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return type(value).__name__


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
    try:
        data = yaml.load(text, Loader=_RuleFileLoader)  # noqa: S506 - a SafeLoader subclass (strings only)
    except yaml.YAMLError as exc:
        raise RuleImportError([_yaml_error(name, exc)]) from None
    checker = _FileChecker(name)
    groups = checker.check(data)
    if checker.errors:
        raise RuleImportError(sorted(checker.errors, key=lambda error: error.line or 0))
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
