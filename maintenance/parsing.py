"""Server-side parsers of what a host's patch report carries (the shipped script posts the tools' raw output).

Each parser raises :class:`ReportError` naming the part and the line it could
not read, so the endpoint answers 400 with that line and stores nothing.

- ``apt-get -s dist-upgrade`` (run with LC_ALL=C): every ``Inst`` line is a
  pending update: ``Inst pkg [installed] (candidate origin[, origin] [arch])``;
  an origin containing ``-security`` marks a security update. ``Conf``, ``Remv``
  and the progress and summary lines are read and ignored; anything else is an error.
- ``/var/log/apt/history.log`` (the stanzas added since the last report):
  ``Key: value`` lines, stanzas separated by blank lines; ``Start-Date`` and
  ``End-Date`` are local times with no zone and two spaces between date and
  time, read in the host's declared time zone. ``Upgrade:``/``Install:`` list
  ``pkg:arch (old, new)`` / ``pkg:arch (new[, automatic])``.
- ``needrestart -b``: ``NEEDRESTART-KEY: value`` lines; ``KSTA`` 0 is unknown
  (not "ok"), 1 current, 2 ABI-compatible upgrade pending, 3 version upgrade
  pending (reboot needed); ``SVC`` lines list services running old libraries;
  unknown keys are ignored.
- Renovate's ``reportType=file`` JSON: ``repositories.<repo>.branches[].upgrades[]``,
  with ``currentVersion``/``newVersion`` (or the older ``fromVersion``/``toVersion``)
  and ``depName`` (or ``lookupName``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


class ReportError(ValueError):
    """A part of a report that does not parse: `part` and 1-based `line` say where."""

    def __init__(self, part: str, line: int | None, message: str) -> None:
        self.part = part
        self.line = line
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class PendingUpdate:
    package: str
    installed: str
    candidate: str
    origin: str
    security: bool
    arch: str = ""


_INST = re.compile(
    r"^Inst (?P<package>\S+)(?: \[(?P<installed>[^\]]+)\])? "
    r"\((?P<candidate>\S+) (?P<origin>[^\[]*?) ?\[(?P<arch>[^\]]+)\]\)"
    r"(?: \[[^\]]*\])*$"
)
_IGNORED_APT = (
    re.compile(r"^$"),
    re.compile(r"^ {2}\S"),  # package lists under "The following ..."
    re.compile(r"^(Conf|Remv|Purg) \S+"),
    re.compile(r"^[A-Z][A-Za-z ]*\.\.\.( Done)?$"),  # Reading package lists... Done
    re.compile(r"^The following .*:$"),
    re.compile(r"^\d+ upgraded, \d+ newly installed, \d+ (to remove|downgraded)"),
    re.compile(r"^(NOTE|WARNING|[WN]): "),
    re.compile(r"^Use '.*' to remove"),
    re.compile(r"^(Reading|Building|Calculating) "),
)


def parse_apt_simulate(text: str) -> list[PendingUpdate]:
    """The pending updates an ``apt-get -s dist-upgrade`` output lists."""
    found: list[PendingUpdate] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip()
        if line.startswith("Inst "):
            match = _INST.match(line)
            if not match:
                raise ReportError(
                    "apt_simulate",
                    number,
                    f"not 'Inst pkg [installed] (candidate origin [arch])': {line[:200]!r}",
                )
            origin = match["origin"].strip()
            found.append(
                PendingUpdate(
                    package=match["package"],
                    installed=match["installed"] or "",
                    candidate=match["candidate"],
                    origin=origin,
                    security="-security" in origin,
                    arch=match["arch"],
                )
            )
        elif line.startswith("E: "):
            raise ReportError("apt_simulate", number, f"apt reported an error: {line[3:][:200]}")
        elif not any(pattern.match(line) for pattern in _IGNORED_APT):
            raise ReportError("apt_simulate", number, f"not a line of apt-get -s output: {line[:200]!r}")
    return found


@dataclass(frozen=True)
class Installed:
    package: str
    version: str
    at: datetime
    start: str


_HISTORY_TIME = "%Y-%m-%d  %H:%M:%S"
_HISTORY_KEYS = {
    "Start-Date",
    "End-Date",
    "Commandline",
    "Requested-By",
    "Install",
    "Upgrade",
    "Remove",
    "Purge",
    "Downgrade",
    "Reinstall",
    "Error",
    "Alternative",
    "Warning",
}
_PACKAGE_ITEM = re.compile(r"(?P<name>[^\s,()]+) \((?P<versions>[^()]*)\)")


def _history_time(value: str, tz: ZoneInfo, number: int) -> datetime:
    try:
        return datetime.strptime(value.strip(), _HISTORY_TIME).replace(tzinfo=tz)
    except ValueError:
        try:  # single space, as some tools re-write the log
            return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
        except ValueError:
            raise ReportError("history", number, f"not a date 'YYYY-MM-DD  HH:MM:SS': {value.strip()[:60]!r}") from None


def parse_history(text: str, *, tz: ZoneInfo) -> list[Installed]:
    """Packages installed or upgraded by the stanzas of an apt history log, at each stanza's End-Date
    (its Start-Date if it has none), read in `tz`."""
    found: list[Installed] = []
    stanza: dict[str, tuple[int, str]] = {}

    def close() -> None:
        if not stanza:
            return
        if "Start-Date" not in stanza:
            first = min(number for number, _ in stanza.values())
            raise ReportError("history", first, "a stanza without Start-Date")
        start_line, start_text = stanza["Start-Date"]
        started = _history_time(start_text, tz, start_line)
        end_line, end_text = stanza.get("End-Date", stanza["Start-Date"])
        ended = _history_time(end_text, tz, end_line)
        for key in ("Install", "Upgrade", "Reinstall", "Downgrade"):
            if key not in stanza:
                continue
            number, value = stanza[key]
            items = list(_PACKAGE_ITEM.finditer(value))
            if value.strip() and not items:
                raise ReportError("history", number, f"{key}: not a list of 'pkg:arch (versions)'")
            for item in items:
                versions = [part.strip() for part in item["versions"].split(",")]
                version = versions[-1] if key == "Upgrade" or key == "Downgrade" else versions[0]
                if version == "automatic" or not version:
                    version = versions[0]
                found.append(Installed(item["name"].split(":")[0], version, ended, start_text.strip()))
        del started
        stanza.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line:
            close()
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            raise ReportError("history", number, f"not a 'Key: value' line: {line[:200]!r}")
        if key not in _HISTORY_KEYS:
            continue  # a key a newer apt writes: not ours to refuse
        stanza[key] = (number, value)
    close()
    return found


@dataclass
class NeedRestart:
    kernel_status: int | None = None
    running_kernel: str = ""
    expected_kernel: str = ""
    services: list[str] = field(default_factory=list)

    @property
    def reboot_needed(self) -> bool:
        return self.kernel_status == 3

    def as_json(self) -> dict[str, Any]:
        return {
            "kernel_status": self.kernel_status,
            "running_kernel": self.running_kernel,
            "expected_kernel": self.expected_kernel,
            "services": self.services,
        }


_NEEDRESTART = re.compile(r"^NEEDRESTART-(?P<key>[A-Z]+):\s*(?P<value>.*)$")


def parse_needrestart(text: str) -> NeedRestart:
    result = NeedRestart()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _NEEDRESTART.match(line)
        if not match:
            raise ReportError("needrestart", number, f"not a 'NEEDRESTART-KEY: value' line: {line[:200]!r}")
        key, value = match["key"], match["value"].strip()
        if key == "KSTA":
            if value not in ("0", "1", "2", "3"):
                raise ReportError("needrestart", number, f"KSTA must be 0, 1, 2 or 3, not {value[:20]!r}")
            result.kernel_status = int(value)
        elif key == "KCUR":
            result.running_kernel = value[:120]
        elif key == "KEXP":
            result.expected_kernel = value[:120]
        elif key == "SVC":
            result.services.append(value[:255])
    return result


@dataclass(frozen=True)
class DependencyUpdate:
    repository: str
    package: str
    current: str
    new: str
    update_type: str
    security: bool
    released_at: str = ""


def parse_renovate(data: Any) -> list[DependencyUpdate]:
    """The dependency updates of a Renovate ``reportType=file`` report (already JSON-decoded)."""
    if not isinstance(data, dict) or not isinstance(data.get("repositories"), dict):
        raise ReportError("renovate", None, "expected an object with 'repositories'")
    found: list[DependencyUpdate] = []
    for repo, body in data["repositories"].items():
        if not isinstance(body, dict):
            raise ReportError(f"renovate.repositories.{repo}", None, "expected an object")
        for b_index, branch in enumerate(body.get("branches") or []):
            upgrades = branch.get("upgrades") if isinstance(branch, dict) else None
            if not isinstance(upgrades, list):
                raise ReportError(f"renovate.repositories.{repo}.branches[{b_index}]", None, "expected 'upgrades' list")
            for u_index, upgrade in enumerate(upgrades):
                path = f"renovate.repositories.{repo}.branches[{b_index}].upgrades[{u_index}]"
                if not isinstance(upgrade, dict):
                    raise ReportError(path, None, "expected an object")
                name = upgrade.get("depName") or upgrade.get("packageName") or upgrade.get("lookupName")
                new = upgrade.get("newVersion") or upgrade.get("toVersion") or upgrade.get("newDigest")
                current = upgrade.get("currentVersion") or upgrade.get("fromVersion") or ""
                if not isinstance(name, str) or not name:
                    raise ReportError(path, None, "missing depName")
                if not isinstance(new, str) or not new:
                    raise ReportError(path, None, "missing newVersion")
                found.append(
                    DependencyUpdate(
                        repository=str(repo),
                        package=name,
                        current=str(current),
                        new=new,
                        update_type=str(upgrade.get("updateType") or ""),
                        security=bool(upgrade.get("isVulnerabilityAlert")),
                        released_at=str(upgrade.get("releaseTimestamp") or ""),
                    )
                )
    return found
