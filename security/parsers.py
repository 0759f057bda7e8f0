"""Scanner reports read into one shape: which scopes a report covered and what it found there.

Formats (``ScanFormat``), each with the traps its tool sets (../shared/fixtures/scanners/README.md):

- ``trivy``: ``trivy image -f json`` with ``SchemaVersion`` 2. ``Vulnerabilities`` is absent or null
  for a clean target (the target is still covered: its findings are fixed); ``Severity`` is
  UPPERCASE (``UNKNOWN`` means none); ``Status: fixed`` means *a fix exists*, not that the
  finding is fixed; ``not_affected`` marks it not applicable.
- ``trivy-legacy``: Trivy before 0.20, a bare list of results (``Vulnerabilities`` may be null).
- ``grype``: ``grype -o json``; TitleCase severities with ``Negligible`` (-> info) and
  ``Unknown``; the match id may be a GHSA with the CVE in ``relatedVulnerabilities``.
- ``pip-audit``: no severity at all; PYSEC/GHSA ids with CVEs in ``aliases``; ``skip_reason``
  dependencies are listed as skipped.
- ``osv-scanner``: OSV records whose ``severity[].score`` is a CVSS vector; ``groups`` say which
  ids are one flaw.
- ``cyclonedx``: a CycloneDX 1.4-1.6 BOM. ``components`` become the asset's inventory;
  ``vulnerabilities`` (VEX) are findings: ``analysis.state`` not_affected / false_positive ->
  not applicable with the justification, resolved / resolved_with_pedigree -> fixed. A BOM
  without a ``vulnerabilities`` array is an inventory only and covers no scope.
- ``dependabot``: one Dependabot alert (the REST shape, or a ``dependabot_alert`` webhook
  body with the alert under ``alert``). An alert is not a scan: it covers no scope, its ``state``
  says whether its own finding is open, fixed or dismissed (not applicable).

A scope is ``<format family>:<target>``: a finding is fixed only when a later report covering
the same scope of the same asset no longer lists it.

Severity: the scanner's, normalised (critical, high, medium, low, info); else the highest one
a CVSS vector gives (the ``cvss`` package); else None, and the importer takes the severity an
alias carries or the policy's default. Every problem is a ``FormatError`` naming the field path
(``$.Results[0].Target``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError
from django.utils.dateparse import parse_datetime
from packageurl import PackageURL

from .models import SEVERITY_ORDER, FindingStatus, ScanFormat, Severity


class FormatError(ValueError):
    """The report is not (a valid report of) the format: `path` is where, `message` says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class UnknownFormat(ValueError):
    """No format read the report; `tried` maps each format tried to why it failed."""

    def __init__(self, tried: dict[str, FormatError]) -> None:
        self.tried = tried
        reasons = "; ".join(f"{name}: {error}" for name, error in tried.items())
        super().__init__(f"Not a report of a supported format. Tried {reasons}.")


@dataclass
class ParsedFinding:
    scope: str
    package_key: str
    package_name: str
    package_version: str
    purl: str
    ids: list[str]
    severity: str | None
    severity_source: str = ""
    title: str = ""
    fixed_versions: str = ""
    published_at: datetime | None = None
    status: str = FindingStatus.OPEN
    justification: str = ""


@dataclass
class ParsedComponent:
    name: str
    version: str
    ecosystem: str
    purl: str


@dataclass
class ParsedReport:
    format: str
    artifact_name: str | None
    scopes: list[str]
    findings: list[ParsedFinding]
    components: list[ParsedComponent] | None = None
    reported_at: datetime | None = None
    skipped: list[str] = field(default_factory=list)


# --- Typed access with paths -------------------------------------------------------------


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(path, f"expected an object, got {_kind(value)}")
    return value


def _list(value: Any, path: str, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise FormatError(path, f"expected a list, got {_kind(value)}")
    return value


def _strings(value: Any, path: str) -> list[str]:
    """An optional list, keeping its strings (fixed-in versions: scanners mix in nulls)."""
    return [item for item in _list(value, path, optional=True) if isinstance(item, str)]


def _str(value: Any, path: str, *, optional: bool = False, max_length: int = 300) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise FormatError(path, f"expected a non-empty string, got {_kind(value)}")
    if len(value) > max_length:
        raise FormatError(path, f"longer than {max_length} characters")
    return value.strip()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _instant(value: Any, path: str) -> datetime | None:
    """An ISO 8601 timestamp with an offset (nanoseconds cut to microseconds); None when absent."""
    if value in (None, ""):
        return None
    text = _str(value, path, max_length=64)
    if "." in text:  # Falco and Trivy write up to nine fraction digits; Python reads six.
        head, _, tail = text.partition(".")
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise FormatError(path, f"not an ISO 8601 timestamp: {text!r}")
    if parsed.tzinfo is None:
        raise FormatError(path, "a timestamp needs an offset (Z or +hh:mm)")
    return parsed.astimezone(UTC)


# --- Severity ----------------------------------------------------------------------------

_SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.INFO,
    "info": Severity.INFO,
    "none": Severity.INFO,
}


def normalise_severity(value: Any) -> str | None:
    """critical/high/medium/low/info from any scanner's word (UPPERCASE, TitleCase, moderate,
    Negligible); None for unknown or missing."""
    if not isinstance(value, str):
        return None
    return _SEVERITY_WORDS.get(value.strip().lower())


def severity_from_score(score: float) -> str:
    """The CVSS v3 qualitative rating of a base score."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.INFO


def severity_from_vector(vector: Any, *, method: str = "") -> str | None:
    """The base severity of a CVSS vector (v2, v3.x or v4.0); None when it is not a valid vector."""
    if not isinstance(vector, str) or not vector.strip() or len(vector) > 300:
        return None
    text = vector.strip()
    try:
        if text.startswith("CVSS:4"):
            word = CVSS4(text).severity
        elif text.startswith("CVSS:3"):
            word = CVSS3(text).severities()[0]
        elif method.upper().startswith("CVSSV3"):
            version = "3.0" if method.upper() == "CVSSV3" else "3.1"
            word = CVSS3(f"CVSS:{version}/{text}").severities()[0]
        elif method.upper().startswith("CVSSV4"):
            word = CVSS4(f"CVSS:4.0/{text}").severity
        else:
            word = CVSS2(text).severities()[0]
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return normalise_severity(word)


def most_severe(values: list[str | None]) -> str | None:
    ranks: list[str] = [str(severity) for severity in SEVERITY_ORDER]
    known = [value for value in values if value in ranks]
    return min(known, key=ranks.index) if known else None


# --- Packages and ids ----------------------------------------------------------------------

#: Trivy result types, Grype artifact types, OSV and Dependabot ecosystems -> (purl type, namespace).
_ECOSYSTEMS: dict[str, tuple[str, str | None]] = {
    "debian": ("deb", "debian"),
    "deb": ("deb", "debian"),
    "ubuntu": ("deb", "ubuntu"),
    "alpine": ("apk", "alpine"),
    "apk": ("apk", "alpine"),
    "redhat": ("rpm", "redhat"),
    "centos": ("rpm", "centos"),
    "rocky": ("rpm", "rocky"),
    "alma": ("rpm", "almalinux"),
    "amazon": ("rpm", "amazon"),
    "rpm": ("rpm", None),
    "pip": ("pypi", None),
    "pipenv": ("pypi", None),
    "poetry": ("pypi", None),
    "python": ("pypi", None),
    "python-pkg": ("pypi", None),
    "pypi": ("pypi", None),
    "npm": ("npm", None),
    "yarn": ("npm", None),
    "pnpm": ("npm", None),
    "node-pkg": ("npm", None),
    "gomod": ("golang", None),
    "gobinary": ("golang", None),
    "go-module": ("golang", None),
    "go": ("golang", None),
    "cargo": ("cargo", None),
    "rust": ("cargo", None),
    "rust-crate": ("cargo", None),
    "crates.io": ("cargo", None),
    "composer": ("composer", None),
    "packagist": ("composer", None),
    "bundler": ("gem", None),
    "gemspec": ("gem", None),
    "gem": ("gem", None),
    "rubygems": ("gem", None),
    "jar": ("maven", None),
    "pom": ("maven", None),
    "gradle": ("maven", None),
    "java-archive": ("maven", None),
    "maven": ("maven", None),
    "nuget": ("nuget", None),
    "dotnet-core": ("nuget", None),
}


# Reports name the same package once per flaw, and the same packages again in every scan: parsing and
# building purls is the parser's main cost, so both are cached (pure functions of their arguments).
@lru_cache(maxsize=8192)
def _purl_key(purl: str, version: str) -> tuple[str, str]:
    parsed = PackageURL.from_string(purl)
    key = PackageURL(
        type=parsed.type, namespace=parsed.namespace, name=parsed.name, version=parsed.version or version or None
    )
    return key.to_string(), parsed.type


@lru_cache(maxsize=8192)
def _built_purl(kind: str, namespace: str | None, name: str, version: str) -> str:
    return str(PackageURL(type=kind, namespace=namespace, name=name, version=version or None).to_string())


def package_identity(
    *, purl: str = "", ecosystem: str = "", name: str, version: str, path: str
) -> tuple[str, str, str]:
    """(package_key, purl, ecosystem) of a package: the purl without qualifiers and subpath when
    there is one (so debian-12 and debian-12.5 builds of one package are one package), else one
    built from the ecosystem, else ``<ecosystem>:<name>@<version>``."""
    if purl:
        try:
            key, kind = _purl_key(purl, version)
        except ValueError as exc:
            raise FormatError(path, f"not a valid purl: {exc}") from None
        return key, purl, kind
    mapped = _ECOSYSTEMS.get(ecosystem.strip().lower())
    if mapped is not None:
        try:
            built = _built_purl(mapped[0], mapped[1], name, version)
        except ValueError as exc:
            raise FormatError(path, f"cannot build a purl: {exc}") from None
        return built, built, mapped[0]
    fallback = f"{ecosystem or 'unknown'}:{name}" + (f"@{version}" if version else "")
    return fallback, "", ecosystem


def canonical_id(ids: list[str]) -> str:
    """The id a flaw is known by: the first CVE, else the first GHSA, else the first id."""
    for prefix in ("CVE-", "GHSA-"):
        for candidate in ids:
            if candidate.upper().startswith(prefix):
                return candidate
    return ids[0]


def _ids(*groups: list[str]) -> list[str]:
    seen: list[str] = []
    for group in groups:
        for value in group:
            if value and value not in seen:
                seen.append(value)
    return seen


def _id_list(values: Any, path: str) -> list[str]:
    return [
        _str(value, f"{path}[{index}]", max_length=100)
        for index, value in enumerate(_list(values, path, optional=True))
    ]


# --- Trivy -------------------------------------------------------------------------------

_VENDOR_SEVERITY = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH, 4: Severity.CRITICAL}


def _trivy_results(results: list[Any], base: str, fmt: str) -> tuple[list[str], list[ParsedFinding]]:
    scopes: list[str] = []
    findings: list[ParsedFinding] = []
    for index, raw in enumerate(results):
        path = f"{base}[{index}]"
        result = _obj(raw, path)
        target = _str(result.get("Target"), f"{path}.Target")
        scope = f"trivy:{target}"
        scopes.append(scope)
        ecosystem = _str(result.get("Type"), f"{path}.Type", optional=True)
        for number, raw_vuln in enumerate(
            _list(result.get("Vulnerabilities"), f"{path}.Vulnerabilities", optional=True)
        ):
            vpath = f"{path}.Vulnerabilities[{number}]"
            vuln = _obj(raw_vuln, vpath)
            vuln_id = _str(vuln.get("VulnerabilityID"), f"{vpath}.VulnerabilityID", max_length=100)
            name = _str(vuln.get("PkgName"), f"{vpath}.PkgName")
            version = _str(vuln.get("InstalledVersion"), f"{vpath}.InstalledVersion", optional=True, max_length=200)
            identifier = vuln.get("PkgIdentifier")
            purl = ""
            if identifier is not None:
                purl = _str(
                    _obj(identifier, f"{vpath}.PkgIdentifier").get("PURL"),
                    f"{vpath}.PkgIdentifier.PURL",
                    optional=True,
                    max_length=1000,
                )
            key, purl, _ = package_identity(
                purl=purl, ecosystem=ecosystem, name=name, version=version, path=f"{vpath}.PkgIdentifier.PURL"
            )
            severity = normalise_severity(vuln.get("Severity"))
            source = "scanner" if severity else ""
            if severity is None:
                severity, source = _trivy_fallback_severity(vuln, vpath)
            status = _str(vuln.get("Status"), f"{vpath}.Status", optional=True, max_length=40)
            findings.append(
                ParsedFinding(
                    scope=scope,
                    package_key=key,
                    package_name=name,
                    package_version=version,
                    purl=purl,
                    ids=[vuln_id],
                    severity=severity,
                    severity_source=source,
                    title=_str(vuln.get("Title"), f"{vpath}.Title", optional=True, max_length=10_000)[:500],
                    fixed_versions=_str(
                        vuln.get("FixedVersion"), f"{vpath}.FixedVersion", optional=True, max_length=1000
                    )[:300],
                    published_at=_instant(vuln.get("PublishedDate"), f"{vpath}.PublishedDate"),
                    status=FindingStatus.NOT_APPLICABLE if status == "not_affected" else FindingStatus.OPEN,
                    justification="Trivy: the vendor says not_affected" if status == "not_affected" else "",
                )
            )
    return scopes, findings


def _trivy_fallback_severity(vuln: dict[str, Any], path: str) -> tuple[str | None, str]:
    cvss = vuln.get("CVSS")
    if isinstance(cvss, dict):
        found = [
            severity_from_vector(entry.get(field))
            for entry in cvss.values()
            if isinstance(entry, dict)
            for field in ("V40Vector", "V3Vector", "V2Vector")
        ]
        if (best := most_severe(found)) is not None:
            return best, "cvss"
    vendor = vuln.get("VendorSeverity")
    if isinstance(vendor, dict):
        found = [_VENDOR_SEVERITY.get(value) for value in vendor.values() if isinstance(value, int)]
        if (best := most_severe(list(found))) is not None:
            return best, "vendor"
    return None, ""


def parse_trivy(data: Any) -> ParsedReport:
    report = _obj(data, "$")
    if "SchemaVersion" not in report:
        raise FormatError("$.SchemaVersion", "missing (a Trivy report has SchemaVersion 2)")
    if report["SchemaVersion"] != 2 or isinstance(report["SchemaVersion"], bool):
        raise FormatError("$.SchemaVersion", f"{report['SchemaVersion']!r} is not 2")
    artifact = _str(report.get("ArtifactName"), "$.ArtifactName", optional=True)
    scopes, findings = _trivy_results(_list(report.get("Results"), "$.Results", optional=True), "$.Results", "trivy")
    return ParsedReport(
        format=ScanFormat.TRIVY,
        artifact_name=artifact or None,
        scopes=scopes,
        findings=findings,
        reported_at=_instant(report.get("CreatedAt"), "$.CreatedAt"),
    )


def parse_trivy_legacy(data: Any) -> ParsedReport:
    results = _list(data, "$")
    if not results:
        raise FormatError("$", "an empty list (a legacy Trivy report lists one result per target)")
    first = _obj(results[0], "$[0]")
    if "Target" not in first:
        raise FormatError("$[0].Target", "missing (every legacy Trivy result names its Target)")
    scopes, findings = _trivy_results(results, "$", "trivy-legacy")
    artifact = scopes[0].removeprefix("trivy:").split(" (")[0]
    return ParsedReport(format=ScanFormat.TRIVY_LEGACY, artifact_name=artifact, scopes=scopes, findings=findings)


# --- Grype -------------------------------------------------------------------------------


def parse_grype(data: Any) -> ParsedReport:
    report = _obj(data, "$")
    if "matches" not in report:
        raise FormatError("$.matches", "missing (a Grype report lists its matches)")
    descriptor = _obj(report.get("descriptor"), "$.descriptor")
    if descriptor.get("name") != "grype":
        raise FormatError("$.descriptor.name", f"{descriptor.get('name')!r} is not 'grype'")
    source = _obj(report.get("source") or {}, "$.source")
    target = source.get("target")
    artifact = ""
    if isinstance(target, dict):
        artifact = _str(target.get("userInput"), "$.source.target.userInput", optional=True)
    elif isinstance(target, str):
        artifact = target.strip()
    scope = f"grype:{artifact or 'target'}"
    findings: list[ParsedFinding] = []
    for index, raw in enumerate(_list(report.get("matches"), "$.matches")):
        path = f"$.matches[{index}]"
        match = _obj(raw, path)
        vuln = _obj(match.get("vulnerability"), f"{path}.vulnerability")
        vuln_id = _str(vuln.get("id"), f"{path}.vulnerability.id", max_length=100)
        related = _list(match.get("relatedVulnerabilities"), f"{path}.relatedVulnerabilities", optional=True)
        related_ids: list[str] = []
        vectors: list[str | None] = []
        for number, raw_related in enumerate(related):
            rpath = f"{path}.relatedVulnerabilities[{number}]"
            entry = _obj(raw_related, rpath)
            related_ids.append(_str(entry.get("id"), f"{rpath}.id", max_length=100))
            for cvss in _list(entry.get("cvss"), f"{rpath}.cvss", optional=True):
                if isinstance(cvss, dict):
                    vectors.append(severity_from_vector(cvss.get("vector")))
        for cvss in _list(vuln.get("cvss"), f"{path}.vulnerability.cvss", optional=True):
            if isinstance(cvss, dict):
                vectors.append(severity_from_vector(cvss.get("vector")))
        severity = normalise_severity(vuln.get("severity"))
        source_name = "scanner" if severity else ""
        if severity is None and (severity := most_severe(vectors)) is not None:
            source_name = "cvss"
        artifact_data = _obj(match.get("artifact"), f"{path}.artifact")
        name = _str(artifact_data.get("name"), f"{path}.artifact.name")
        version = _str(artifact_data.get("version"), f"{path}.artifact.version", optional=True, max_length=200)
        key, purl, _ = package_identity(
            purl=_str(artifact_data.get("purl"), f"{path}.artifact.purl", optional=True, max_length=1000),
            ecosystem=_str(artifact_data.get("type"), f"{path}.artifact.type", optional=True),
            name=name,
            version=version,
            path=f"{path}.artifact.purl",
        )
        fix: dict[str, Any] = vuln["fix"] if isinstance(vuln.get("fix"), dict) else {}
        versions = _strings(fix.get("versions"), f"{path}.vulnerability.fix.versions")
        findings.append(
            ParsedFinding(
                scope=scope,
                package_key=key,
                package_name=name,
                package_version=version,
                purl=purl,
                ids=_ids([vuln_id], related_ids),
                severity=severity,
                severity_source=source_name,
                title=_str(
                    vuln.get("description"), f"{path}.vulnerability.description", optional=True, max_length=100_000
                )[:500],
                fixed_versions=", ".join(versions)[:300],
            )
        )
    return ParsedReport(
        format=ScanFormat.GRYPE,
        artifact_name=artifact or None,
        scopes=[scope],
        findings=findings,
        reported_at=_instant(descriptor.get("timestamp"), "$.descriptor.timestamp"),
    )


# --- pip-audit ---------------------------------------------------------------------------


def parse_pip_audit(data: Any) -> ParsedReport:
    report = _obj(data, "$")
    if "dependencies" not in report:
        raise FormatError("$.dependencies", "missing (a pip-audit report lists its dependencies)")
    findings: list[ParsedFinding] = []
    skipped: list[str] = []
    scope = "pip-audit:environment"
    for index, raw in enumerate(_list(report.get("dependencies"), "$.dependencies")):
        path = f"$.dependencies[{index}]"
        dependency = _obj(raw, path)
        name = _str(dependency.get("name"), f"{path}.name")
        if "skip_reason" in dependency and "vulns" not in dependency:
            skipped.append(f"{name}: {_str(dependency.get('skip_reason'), f'{path}.skip_reason', max_length=2000)}")
            continue
        if "vulns" not in dependency:
            raise FormatError(f"{path}.vulns", "missing (each dependency has vulns or a skip_reason)")
        version = _str(dependency.get("version"), f"{path}.version", max_length=200)
        key, purl, _ = package_identity(ecosystem="pypi", name=name, version=version, path=path)
        for number, raw_vuln in enumerate(_list(dependency.get("vulns"), f"{path}.vulns")):
            vpath = f"{path}.vulns[{number}]"
            vuln = _obj(raw_vuln, vpath)
            fixes = _strings(vuln.get("fix_versions"), f"{vpath}.fix_versions")
            findings.append(
                ParsedFinding(
                    scope=scope,
                    package_key=key,
                    package_name=name,
                    package_version=version,
                    purl=purl,
                    ids=_ids(
                        [_str(vuln.get("id"), f"{vpath}.id", max_length=100)],
                        _id_list(vuln.get("aliases"), f"{vpath}.aliases"),
                    ),
                    severity=None,
                    title=_str(vuln.get("description"), f"{vpath}.description", optional=True, max_length=100_000)[
                        :500
                    ],
                    fixed_versions=", ".join(fixes)[:300],
                )
            )
    return ParsedReport(
        format=ScanFormat.PIP_AUDIT, artifact_name=None, scopes=[scope], findings=findings, skipped=skipped
    )


# --- osv-scanner -------------------------------------------------------------------------


def _osv_severity(record: dict[str, Any], path: str) -> str | None:
    found: list[str | None] = []
    for index, raw in enumerate(_list(record.get("severity"), f"{path}.severity", optional=True)):
        entry = _obj(raw, f"{path}.severity[{index}]")
        found.append(severity_from_vector(entry.get("score")))
    specific = record.get("database_specific")
    if isinstance(specific, dict):
        found.append(normalise_severity(specific.get("severity")))
    return most_severe(found)


def parse_osv_scanner(data: Any) -> ParsedReport:
    report = _obj(data, "$")
    if "results" not in report:
        raise FormatError("$.results", "missing (an osv-scanner report lists results per source)")
    scopes: list[str] = []
    findings: list[ParsedFinding] = []
    for index, raw in enumerate(_list(report.get("results"), "$.results")):
        path = f"$.results[{index}]"
        result = _obj(raw, path)
        source = _obj(result.get("source"), f"{path}.source")
        scope = f"osv-scanner:{_str(source.get('path'), f'{path}.source.path')}"
        scopes.append(scope)
        for number, raw_package in enumerate(_list(result.get("packages"), f"{path}.packages", optional=True)):
            ppath = f"{path}.packages[{number}]"
            entry = _obj(raw_package, ppath)
            package = _obj(entry.get("package"), f"{ppath}.package")
            name = _str(package.get("name"), f"{ppath}.package.name")
            version = _str(package.get("version"), f"{ppath}.package.version", optional=True, max_length=200)
            key, purl, _ = package_identity(
                purl=_str(package.get("purl"), f"{ppath}.package.purl", optional=True, max_length=1000),
                ecosystem=_str(package.get("ecosystem"), f"{ppath}.package.ecosystem", optional=True),
                name=name,
                version=version,
                path=f"{ppath}.package",
            )
            records: dict[str, tuple[dict[str, Any], str]] = {}
            for vnumber, raw_record in enumerate(
                _list(entry.get("vulnerabilities"), f"{ppath}.vulnerabilities", optional=True)
            ):
                rpath = f"{ppath}.vulnerabilities[{vnumber}]"
                record = _obj(raw_record, rpath)
                records[_str(record.get("id"), f"{rpath}.id", max_length=100)] = (record, rpath)
            groups: list[list[str]] = []
            for gnumber, raw_group in enumerate(_list(entry.get("groups"), f"{ppath}.groups", optional=True)):
                gpath = f"{ppath}.groups[{gnumber}]"
                group_data = _obj(raw_group, gpath)
                groups.append(
                    _ids(
                        _id_list(group_data.get("ids"), f"{gpath}.ids"),
                        _id_list(group_data.get("aliases"), f"{gpath}.aliases"),
                    )
                )
            grouped = {value for group in groups for value in group}
            groups.extend([[record_id] for record_id in records if record_id not in grouped])
            for group in groups:
                members = [records[value] for value in group if value in records]
                ids = _ids(group, *[_id_list(record.get("aliases"), f"{rpath}.aliases") for record, rpath in members])
                if not ids:
                    continue
                severity = most_severe([_osv_severity(record, rpath) for record, rpath in members])
                title = next(
                    (str(record.get("summary")) for record, _ in members if isinstance(record.get("summary"), str)), ""
                )
                published = [_instant(record.get("published"), f"{rpath}.published") for record, rpath in members]
                findings.append(
                    ParsedFinding(
                        scope=scope,
                        package_key=key,
                        package_name=name,
                        package_version=version,
                        purl=purl,
                        ids=ids,
                        severity=severity,
                        severity_source="cvss" if severity else "",
                        title=title[:500],
                        published_at=min((value for value in published if value), default=None),
                    )
                )
    return ParsedReport(format=ScanFormat.OSV_SCANNER, artifact_name=None, scopes=scopes, findings=findings)


# --- CycloneDX ---------------------------------------------------------------------------

_CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")


def _components(raw: Any, path: str, out: list[ParsedComponent], refs: dict[str, ParsedComponent]) -> None:
    for index, item in enumerate(_list(raw, path, optional=True)):
        cpath = f"{path}[{index}]"
        component = _obj(item, cpath)
        name = _str(component.get("name"), f"{cpath}.name")
        version = _str(component.get("version"), f"{cpath}.version", optional=True, max_length=200)
        purl = _str(component.get("purl"), f"{cpath}.purl", optional=True, max_length=1000)
        ecosystem = ""
        if purl:
            try:
                ecosystem = PackageURL.from_string(purl).type
            except ValueError as exc:
                raise FormatError(f"{cpath}.purl", f"not a valid purl: {exc}") from None
        parsed = ParsedComponent(name=name, version=version, ecosystem=ecosystem, purl=purl)
        out.append(parsed)
        ref = component.get("bom-ref")
        if isinstance(ref, str) and ref:
            refs[ref] = parsed
        _components(component.get("components"), f"{cpath}.components", out, refs)


def parse_cyclonedx(data: Any) -> ParsedReport:
    bom = _obj(data, "$")
    if bom.get("bomFormat") != "CycloneDX":
        raise FormatError("$.bomFormat", f"{bom.get('bomFormat')!r} is not 'CycloneDX'")
    if bom.get("specVersion") not in _CYCLONEDX_VERSIONS:
        raise FormatError("$.specVersion", f"{bom.get('specVersion')!r} is not one of {', '.join(_CYCLONEDX_VERSIONS)}")
    metadata = _obj(bom.get("metadata") or {}, "$.metadata")
    subject = metadata.get("component")
    artifact = ""
    if subject is not None:
        artifact = _str(_obj(subject, "$.metadata.component").get("name"), "$.metadata.component.name")
    components: list[ParsedComponent] = []
    refs: dict[str, ParsedComponent] = {}
    _components(bom.get("components"), "$.components", components, refs)
    scopes: list[str] = []
    findings: list[ParsedFinding] = []
    if "vulnerabilities" in bom:
        scope = f"cyclonedx:{artifact or 'bom'}"
        scopes.append(scope)
        for index, raw in enumerate(_list(bom.get("vulnerabilities"), "$.vulnerabilities")):
            findings.extend(_cyclonedx_vulnerability(raw, f"$.vulnerabilities[{index}]", scope, refs))
    return ParsedReport(
        format=ScanFormat.CYCLONEDX,
        artifact_name=artifact or None,
        scopes=scopes,
        findings=findings,
        components=components,
        reported_at=_instant(metadata.get("timestamp"), "$.metadata.timestamp"),
    )


_VEX_STATUS = {
    "not_affected": FindingStatus.NOT_APPLICABLE,
    "false_positive": FindingStatus.NOT_APPLICABLE,
    "resolved": FindingStatus.FIXED,
    "resolved_with_pedigree": FindingStatus.FIXED,
    "exploitable": FindingStatus.OPEN,
    "in_triage": FindingStatus.OPEN,
}


def _cyclonedx_vulnerability(
    raw: Any, path: str, scope: str, refs: dict[str, ParsedComponent]
) -> Iterator[ParsedFinding]:
    vuln = _obj(raw, path)
    vuln_id = _str(vuln.get("id"), f"{path}.id", max_length=100)
    aliases = [
        _str(_obj(ref, f"{path}.references[{index}]").get("id"), f"{path}.references[{index}].id", max_length=100)
        for index, ref in enumerate(_list(vuln.get("references"), f"{path}.references", optional=True))
    ]
    found: list[str | None] = []
    scanner_given = False
    for index, raw_rating in enumerate(_list(vuln.get("ratings"), f"{path}.ratings", optional=True)):
        rating = _obj(raw_rating, f"{path}.ratings[{index}]")
        word = normalise_severity(rating.get("severity"))
        scanner_given = scanner_given or word is not None
        found.append(word or severity_from_vector(rating.get("vector"), method=str(rating.get("method") or "")))
    severity = most_severe(found)
    status = FindingStatus.OPEN
    justification = ""
    analysis = vuln.get("analysis")
    if analysis is not None:
        analysis = _obj(analysis, f"{path}.analysis")
        state = analysis.get("state")
        if state is not None:
            if state not in _VEX_STATUS:
                raise FormatError(f"{path}.analysis.state", f"{state!r} is not one of {', '.join(_VEX_STATUS)}")
            status = _VEX_STATUS[state]
            if status == FindingStatus.NOT_APPLICABLE:
                reason = _str(analysis.get("justification"), f"{path}.analysis.justification", optional=True)
                detail = _str(analysis.get("detail"), f"{path}.analysis.detail", optional=True, max_length=10_000)
                justification = f"VEX {state}" + (f" ({reason})" if reason else "") + (f": {detail}" if detail else "")
    affects = _list(vuln.get("affects"), f"{path}.affects", optional=True)
    if not affects:
        raise FormatError(f"{path}.affects", "empty (a vulnerability must name the components it affects)")
    for index, raw_affect in enumerate(affects):
        apath = f"{path}.affects[{index}].ref"
        ref = _str(_obj(raw_affect, f"{path}.affects[{index}]").get("ref"), apath, max_length=1000)
        component = refs.get(ref)
        if component is None and ref.startswith("pkg:"):
            component = ParsedComponent(name="", version="", ecosystem="", purl=ref)
        if component is None:
            raise FormatError(apath, f"{ref!r} is no component's bom-ref in this BOM")
        key, purl, _ = package_identity(
            purl=component.purl,
            ecosystem=component.ecosystem,
            name=component.name,
            version=component.version,
            path=apath,
        )
        name = component.name or PackageURL.from_string(purl).name
        version = component.version or (PackageURL.from_string(purl).version or "")
        yield ParsedFinding(
            scope=scope,
            package_key=key,
            package_name=name,
            package_version=version,
            purl=purl,
            ids=_ids([vuln_id], aliases),
            severity=severity,
            severity_source=("scanner" if scanner_given else "cvss") if severity else "",
            title=_str(vuln.get("description"), f"{path}.description", optional=True, max_length=100_000)[:500],
            published_at=_instant(vuln.get("published"), f"{path}.published"),
            status=status,
            justification=justification,
        )


# --- Dependabot --------------------------------------------------------------------------


def parse_dependabot(data: Any) -> ParsedReport:
    body = _obj(data, "$")
    base = "$"
    repository = ""
    if "alert" in body and "security_advisory" not in body:
        repo = body.get("repository")
        if isinstance(repo, dict) and isinstance(repo.get("full_name"), str):
            repository = repo["full_name"]
        body = _obj(body.get("alert"), "$.alert")
        base = "$.alert"
    if "security_advisory" not in body:
        raise FormatError(f"{base}.security_advisory", "missing (a Dependabot alert carries its security_advisory)")
    advisory = _obj(body.get("security_advisory"), f"{base}.security_advisory")
    dependency = _obj(body.get("dependency"), f"{base}.dependency")
    package = _obj(dependency.get("package"), f"{base}.dependency.package")
    name = _str(package.get("name"), f"{base}.dependency.package.name")
    ecosystem = _str(package.get("ecosystem"), f"{base}.dependency.package.ecosystem")
    manifest = _str(dependency.get("manifest_path"), f"{base}.dependency.manifest_path", optional=True) or "manifest"
    state = body.get("state")
    states = {
        "open": FindingStatus.OPEN,
        "fixed": FindingStatus.FIXED,
        "dismissed": FindingStatus.NOT_APPLICABLE,
        "auto_dismissed": FindingStatus.NOT_APPLICABLE,
    }
    if state not in states:
        raise FormatError(f"{base}.state", f"{state!r} is not one of {', '.join(states)}")
    ids = [_str(advisory.get("ghsa_id"), f"{base}.security_advisory.ghsa_id", max_length=100)]
    if advisory.get("cve_id") is not None:
        ids.append(_str(advisory.get("cve_id"), f"{base}.security_advisory.cve_id", max_length=100))
    for index, raw in enumerate(
        _list(advisory.get("identifiers"), f"{base}.security_advisory.identifiers", optional=True)
    ):
        ids.append(
            _str(
                _obj(raw, f"{base}.security_advisory.identifiers[{index}]").get("value"),
                f"{base}.security_advisory.identifiers[{index}].value",
                max_length=100,
            )
        )
    vulnerability = body.get("security_vulnerability")
    severity = normalise_severity(advisory.get("severity"))
    if isinstance(vulnerability, dict):
        severity = normalise_severity(vulnerability.get("severity")) or severity
    key, purl, _ = package_identity(ecosystem=ecosystem, name=name, version="", path=f"{base}.dependency.package")
    justification = ""
    if states[state] == FindingStatus.NOT_APPLICABLE:
        reason = body.get("dismissed_reason")
        comment = body.get("dismissed_comment")
        justification = (
            "Dependabot: "
            + (str(reason) if reason else str(state))
            + (f": {comment}" if isinstance(comment, str) and comment else "")
        )
    if not repository:
        html_url = body.get("html_url")
        if isinstance(html_url, str) and "/security/" in html_url:
            repository = "/".join(html_url.split("/security/")[0].split("/")[-2:])
    return ParsedReport(
        format=ScanFormat.DEPENDABOT,
        artifact_name=repository or None,
        scopes=[],
        findings=[
            ParsedFinding(
                scope=f"dependabot:{manifest}",
                package_key=key,
                package_name=name,
                package_version="",
                purl=purl,
                ids=_ids(ids),
                severity=severity,
                severity_source="scanner" if severity else "",
                title=_str(
                    advisory.get("summary"), f"{base}.security_advisory.summary", optional=True, max_length=10_000
                )[:500],
                published_at=_instant(advisory.get("published_at"), f"{base}.security_advisory.published_at"),
                status=states[state],
                justification=justification[:2000],
            )
        ],
        reported_at=_instant(body.get("updated_at"), f"{base}.updated_at"),
    )


# --- Detection ---------------------------------------------------------------------------

PARSERS: dict[str, Callable[[Any], ParsedReport]] = {
    ScanFormat.TRIVY: parse_trivy,
    ScanFormat.TRIVY_LEGACY: parse_trivy_legacy,
    ScanFormat.GRYPE: parse_grype,
    ScanFormat.PIP_AUDIT: parse_pip_audit,
    ScanFormat.OSV_SCANNER: parse_osv_scanner,
    ScanFormat.CYCLONEDX: parse_cyclonedx,
    ScanFormat.DEPENDABOT: parse_dependabot,
}


def parse_report(data: Any, *, format: str | None = None) -> ParsedReport:
    """Read `data` (parsed JSON) as `format`, or as the first format that reads it.

    Raises UnknownFormat with every format tried and why it failed (a FormatError each).
    """
    names = [format] if format else list(PARSERS)
    tried: dict[str, FormatError] = {}
    for name in names:
        if name not in PARSERS:
            raise UnknownFormat({name: FormatError("format", f"unknown format; one of {', '.join(PARSERS)}")})
        try:
            return PARSERS[name](data)
        except FormatError as error:
            tried[name] = error
    raise UnknownFormat(tried)


def load_json(content: bytes | str) -> Any:
    """Parse report bytes; a FormatError at "$" when it is not JSON."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError("$", f"not JSON: {exc}") from None
