"""Fixtures of the support tests: a business calendar in Berlin, a real dovecot IMAP server on loopback."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from opsgov.policy import clear_policy_cache
from opsgov.roles import SUPPORT_TEAM

from ..conftest import missing_service

#: E-mails in the shapes real mail clients send (see fixtures/README.md).
FIXTURES = Path(__file__).parent / "fixtures"

BERLIN_POLICY = """
[business_calendar]
time_zone = "Europe/Berlin"
holiday_country = "DE"
"""


def use_policy(settings: Any, tmp_path: Path, toml: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(toml)
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()


@pytest.fixture
def berlin(settings: Any, tmp_path: Path) -> None:
    use_policy(settings, tmp_path, BERLIN_POLICY)


@pytest.fixture
def agent(make_user: Callable[..., User]) -> User:
    return make_user("agent", SUPPORT_TEAM, email="agent@example.com")


@pytest.fixture(autouse=True)
def _attachments(settings: Any, tmp_path: Path) -> None:
    settings.SUPPORT_ATTACHMENT_DIR = str(tmp_path / "attachments")
    settings.SUPPORT_FROM_EMAIL = "Support <support@opsgov.example>"


# --- dovecot --------------------------------------------------------------------------------------


def _free_port() -> int:
    """A free loopback port in 10143-10199 (the range these tests may use)."""
    for port in range(10143, 10200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 10143-10199")


@dataclass
class Imap:
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"imap://{self.user}:{self.password}@127.0.0.1:{self.port}/INBOX?error_folder=Errors"

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes) -> None:
        client = self.client()
        try:
            status, _ = client.append("INBOX", None, None, raw)
            assert status == "OK"
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        client = self.client()
        try:
            status, data = client.select(f'"{folder}"', readonly=True)
            return int(data[0]) if status == "OK" and data[0] else 0
        finally:
            client.logout()


_CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
instance_name = opsgov-test-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""


@pytest.fixture
def imap_server() -> Iterator[Imap]:
    """Debian's dovecot on a loopback port, from a config in a temporary folder, one mailbox user."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        missing_service("dovecot", "apt-get install -y dovecot-imapd (.ci/run installs it)")
    # A folder of its own that dovecot's unprivileged processes can reach (pytest's tmp_path is root-only).
    root = Path(tempfile.mkdtemp(prefix="opsgov-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        mail_user = pwd.getpwnam("dovecot")
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
        os.chown(root / "mail", uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
        login_user = internal_user = pwd.getpwuid(uid).pw_name
        internal_group = grp.getgrgid(gid).gr_name
    port = _free_port()
    (root / "passwd").write_text("support:{PLAIN}mailbox-secret::::::\n")
    config = root / "dovecot.conf"
    config.write_text(
        _CONFIG.format(
            root=root,
            port=port,
            uid=uid,
            gid=gid,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
        )
    )
    process = subprocess.Popen([binary, "-F", "-c", str(config)], start_new_session=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                process.kill()
                raise RuntimeError(f"dovecot did not start: {log}") from None
            time.sleep(0.1)
    try:
        yield Imap(port=port, user="support", password="mailbox-secret")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
