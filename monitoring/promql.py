"""PromQL text checks, without a database or a Prometheus: what monitoring accepts as a query.

* A **counter selector** (:func:`is_counter_selector`): an SLO pulled from
  Prometheus names its good and total events as a counter's name with label
  matchers, nothing else (monitoring.slos.prometheus_pull reads them as raw
  samples; the rule export puts them inside ``rate(...)``). The SLO model
  refuses anything else (:func:`selector_errors`).
* An **expression** (:func:`promql_problem`): every ``expr`` of an imported rule
  file is parsed by the ``promql-parser`` package (the Rust ``promql-parser``
  crate, which follows Prometheus' own grammar and function signatures), after a
  guard that refuses an expression with more than :data:`MAX_EXPR_OPERATORS`
  operators and parentheses (the parser's time grows with their square, and it
  recurses without bound: a 10,000-deep nesting crashes the process).
"""

from __future__ import annotations

import re
from typing import Protocol

import promql_parser

_NAME = r"[A-Za-z_:][A-Za-z0-9_:]*"
_LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'" + r"|`[^`]*`"
_MATCHER = rf"\s*{_LABEL}\s*(?:=~|!~|!=|=)\s*(?:{_STRING})\s*"
_MATCHERS = rf"\{{(?:{_MATCHER}(?:,{_MATCHER})*,?)?\s*\}}"
_SELECTOR = re.compile(rf"^\s*(?:{_NAME}\s*(?:{_MATCHERS})?|{_MATCHERS})\s*$")

#: Most operators and parentheses (together) in one expression: the PromQL parser's cost grows with
#: their square (about 8 ms at 128) and its recursion is unbounded (module docstring).
MAX_EXPR_OPERATORS = 128
# What the complexity guard counts, once quoted strings and comments are taken out.
_PROMQL_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')
_PROMQL_OPERATOR_RE = re.compile(r"==|!=|>=|<=|[-+*/%^<>(]|\b(?:and|or|unless|atan2)\b")


class Queries(Protocol):
    """What holds an SLO's PromQL queries (an SLO)."""

    good_query: str
    total_query: str


def is_counter_selector(query: str) -> bool:
    """Whether `query` is a PromQL instant-vector selector (name and/or label matchers, nothing else)."""
    return bool(query.strip()) and bool(_SELECTOR.match(query)) and query.strip() != "{}"


def selector_errors(slo: Queries) -> dict[str, str]:
    """The fields of `slo` whose query is not a counter selector, with the reason."""
    errors = {}
    for field in ("good_query", "total_query"):
        query = getattr(slo, field)
        if not is_counter_selector(query):
            errors[field] = (
                f"{query.strip()!r} is not a counter selector; write the counter with its label matchers, "
                'e.g. http_requests_total{job="api",code!~"5.."}'
                if query.strip()
                else "is empty; an SLO pulled from Prometheus needs both queries"
            )
    return errors


def promql_problem(expr: str) -> str | None:
    """What is wrong with a PromQL expression (None if it parses), by the promql-parser package.

    Refuses, without parsing, an expression with more than MAX_EXPR_OPERATORS operators and
    parentheses (module docstring).
    """
    operators = len(_PROMQL_OPERATOR_RE.findall(_PROMQL_STRING_RE.sub('""', expr)))
    if operators > MAX_EXPR_OPERATORS:
        return (
            f"too complex to check: {operators} operators and parentheses (at most {MAX_EXPR_OPERATORS}); "
            "split it with recording rules"
        )
    try:
        promql_parser.parse(expr)
    except ValueError as exc:
        return str(exc) or "invalid PromQL"
    return None
