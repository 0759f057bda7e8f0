"""README's Configuration table names every environment variable the code reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = r"([A-Z][A-Z0-9_]*)"
QUOTED = rf"[\"']{NAME}[\"']"

PYTHON_READS = [
    re.compile(rf"os\.environ\.(?:get|setdefault|pop)\(\s*{QUOTED}"),
    re.compile(rf"os\.environ\[\s*{QUOTED}\s*\]"),
    re.compile(rf"os\.getenv\(\s*{QUOTED}"),
    re.compile(rf"\benv(?:\.\w+)?\(\s*{QUOTED}"),  # environs: env.int("PORT"), env("X")
    re.compile(rf"_read\(\s*env\.\w+,\s*{QUOTED}"),  # opsgov.settings' strict parsing
]
SECRETS = re.compile(rf"envsecret\(\s*{QUOTED}")  # NAME, or the file named by NAME_FILE
SHELL_READS = re.compile(rf"(?<!\$)\$\{{{NAME}")  # Procfile, docker-compose.yml: ${NAME...}
MAKE_READS = re.compile(rf"\$\(or \$\({NAME}\)")  # Makefile: $(or $(NAME),default)
# Read by the test suite only; users set them to run the tests, so they are in the table too.
TEST_ONLY = {"OPSGOV_TEST_REDIS_URL", "CI"}


def _python_sources() -> list[Path]:
    apps = [path.parent for path in ROOT.glob("*/apps.py")]
    files = [path for folder in apps for path in folder.rglob("*.py")]
    return [*files, ROOT / "gunicorn.conf.py", ROOT / "manage.py"]


def variables_read() -> dict[str, str]:
    """{variable: a file that reads it}."""
    found: dict[str, str] = {}
    for path in _python_sources():
        text = path.read_text()
        for pattern in PYTHON_READS:
            for name in pattern.findall(text):
                found.setdefault(name, str(path.relative_to(ROOT)))
        for name in SECRETS.findall(text):
            found.setdefault(name, str(path.relative_to(ROOT)))
            found.setdefault(f"{name}_FILE", str(path.relative_to(ROOT)))
    for file_name, pattern in (
        ("Procfile", SHELL_READS),
        ("docker-compose.yml", SHELL_READS),
        ("Makefile", MAKE_READS),
    ):
        for name in pattern.findall((ROOT / file_name).read_text()):
            found.setdefault(name, file_name)
    return found


def documented() -> set[str]:
    """The names in the first column of README.md's Configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(rf"`{NAME}`", line.split("|")[1]))
    return names


def test_the_scan_finds_what_the_code_reads() -> None:
    read = variables_read()
    # One of each way of reading: settings' strict parsing, os.environ, a secret file, gunicorn, compose, make.
    assert {"DATABASE_URL", "OPSGOV_VAR_DIR", "SECRET_KEY_FILE", "GUNICORN_TIMEOUT", "OPSGOV_BIND", "PORT"} <= set(read)
    assert read["ALLOWED_HOSTS"] == "opsgov/settings.py"  # read over two lines


def test_every_variable_read_is_in_the_readme_table() -> None:
    missing = {name: where for name, where in variables_read().items() if name not in documented()}
    assert missing == {}, "add these to README.md's Configuration table (default and meaning)"


def test_the_table_names_no_variable_nothing_reads() -> None:
    assert documented() - set(variables_read()) - TEST_ONLY == set()


def test_the_test_only_variables_are_read_by_the_tests() -> None:
    text = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("*.py"))
    for name in TEST_ONLY:
        assert re.search(rf"os\.environ(?:\.get\(|\[)\s*[\"']{name}[\"']", text), name
