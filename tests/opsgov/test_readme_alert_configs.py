"""The README's "Connecting your alerts" configurations are accepted by the tools they are for.

Each ```yaml block of the section starts with a comment naming its file:
`# alertmanager.yml` blocks go through Debian's `amtool check-config`,
`# prometheus.yml` blocks through `promtool check config`. promtool also
checks that a `credentials_file` exists, so those paths are pointed at files
made in a temporary folder (the configuration is otherwise checked as written).
The Events v2 URL in the receivers is the one opsgov serves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import resolve

from ..conftest import missing_service

SECTION = "## Connecting your alerts"
TOOLS = {
    "alertmanager.yml": ("amtool", ["check-config"], "prometheus-alertmanager"),
    "prometheus.yml": ("promtool", ["check", "config"], "prometheus"),
}
BASE_URL = "https://opsgov.example.com"


def section() -> str:
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start : end if end != -1 else None]


def yaml_blocks() -> list[tuple[str, str]]:
    """(file name from the first-line comment, the block's text) for every ```yaml block of the section."""
    blocks = []
    for text in re.findall(r"^```yaml\n(.*?)^```", section(), flags=re.M | re.S):
        first = text.splitlines()[0]
        assert first.startswith("# "), f"a README yaml block must start with '# <file name>':\n{text}"
        blocks.append((first[2:].strip(), text))
    return blocks


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(found, os.X_OK):
        missing_service(f"{name} (Debian's {package})", f"apt-get install -y {package}")
    return found


def test_the_section_has_the_configurations_a_user_copies() -> None:
    names = [name for name, _ in yaml_blocks()]
    assert names.count("alertmanager.yml") >= 2
    assert "prometheus.yml" in names
    text = section()
    for receiver in ("webhook_configs:", "pagerduty_configs:", "routing_key:", "authorization:"):
        assert receiver in text, receiver
    for status in ("202", "400", "401", "403", "405", "411", "413", "415", "503"):
        assert f"| {status} |" in text, status


@pytest.mark.parametrize("index", range(len(yaml_blocks())))
def test_every_yaml_block_passes_its_tools_check(index: int, tmp_path: Path) -> None:
    name, text = yaml_blocks()[index]
    assert name in TOOLS, f"no checker for {name}"
    command, arguments, package = TOOLS[name]
    binary = tool(command, package)

    def secret_file(match: re.Match[str]) -> str:
        path = tmp_path / "secrets" / Path(match.group(2)).name
        path.parent.mkdir(exist_ok=True)
        path.write_text("a-secret-value\n")
        return f"{match.group(1)}{path}"

    config = tmp_path / name
    config.write_text(re.sub(r"(credentials_file: )(\S+)", secret_file, text))
    completed = subprocess.run(
        [binary, *arguments, str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, (
        f"{command} refused the README's {name}:\n{text}\n{completed.stdout}{completed.stderr}"
    )


def test_the_urls_in_the_receivers_are_routes_opsgov_serves() -> None:
    urls = re.findall(r"url: (\S+)", "\n".join(text for _, text in yaml_blocks()))
    assert urls
    for url in urls:
        assert url.startswith(BASE_URL), url
        path = url[len(BASE_URL) :].replace("<token>", "A" * 43)
        assert resolve(path).func.__name__ in {"alertmanager", "pagerduty"}, url
