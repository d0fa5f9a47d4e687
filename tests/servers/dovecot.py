"""A throwaway Dovecot IMAP server on loopback for tests (Debian package dovecot-imapd).

Three ways in, all on 127.0.0.1: a plain IMAP port that also offers STARTTLS,
an implicit-TLS (imaps) port, and XOAUTH2 next to PLAIN/LOGIN (tokens checked
against a local userinfo endpoint). The certificate comes from a throwaway CA
(`threadline.sandbox.tls.make_test_ca`) so clients verify it like a real one.
Each user has its own passwd-file, so a test can add a fresh user at any time. Stop it with `stop()` (kills the master by its pid).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.servers.oauth_userinfo import UserinfoEndpoint
from threadline.sandbox.tls import TlsFiles, make_test_ca

MAIL_USER = "tlmail"  # Dovecot refuses to run mail processes as root


def dovecot_binary() -> str | None:
    """Path of the `dovecot` binary, or None when it is not installed."""
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class MailUser:
    """One mailbox account on the test server."""

    username: str
    password: str
    token: str  # a valid XOAUTH2 access token for this user


class DovecotServer:
    """One Dovecot instance in `directory`: start(), add_user(), doveadm(), stop()."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.userinfo = UserinfoEndpoint()
        self.tls: TlsFiles | None = None
        self._binary = dovecot_binary() or "dovecot"
        self._mail_user = MAIL_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def config_path(self) -> Path:
        return self.directory / "dovecot.conf"

    def start(self) -> DovecotServer:
        """Write the configuration, start the master and wait for both ports to accept."""
        # Dovecot's auth and mail processes run as the unprivileged mail user and must reach these files.
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        for sub in ("run", "state", "mail", "users"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.tls = make_test_ca(self.directory / "tls")
        self.userinfo.start()
        self._ensure_mail_user()
        (self.directory / "oauth2.conf.ext").write_text(
            f"introspection_mode = auth\nintrospection_url = {self.userinfo.url}\n"
            "username_attribute = email\nactive_attribute = active\nactive_value = true\nforce_introspection = yes\n")
        self.config_path.write_text(self._config())
        if os.geteuid() == 0:
            shutil.chown(self.directory / "mail", self._mail_user, self._mail_user)
            shutil.chown(self.directory / "state", self._mail_user, self._mail_user)
        # The master daemonizes and keeps inherited fds open: never capture its output through pipes.
        with (self.directory / "start.log").open("w") as out:
            subprocess.run([self._binary, "-c", str(self.config_path)], check=True,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait_for_port(self.imap_port)
            self._wait_for_port(self.imaps_port)
            self._wait_for(self._pid_file.exists, "write run/master.pid")  # written just after listening
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def _pid_file(self) -> Path:
        return self.directory / "run" / "master.pid"

    def stop(self) -> None:
        """Stop the master (it takes its children with it) and the userinfo endpoint."""
        if self._pid_file.exists():
            pid = int(self._pid_file.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._wait_for(lambda: not _alive(pid), "stop", timeout=1.0, raise_on_timeout=False)
            if _alive(pid):
                # Shutdown can stall ~5 s on login processes waiting for the (already stopped) stats
                # service. The daemonized master leads its own process group: end that group.
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.userinfo.stop()

    def add_user(self, prefix: str = "rep") -> MailUser:
        """Create a fresh user (new address, password and XOAUTH2 token); visible to Dovecot at once."""
        tag = uuid.uuid4().hex[:10]
        user = MailUser(f"{prefix}-{tag}@example.com", f"pw-{uuid.uuid4().hex}", f"tok-{uuid.uuid4().hex}")
        # One passwd-file per user: a new file is read at once, whereas edits to a shared file made within
        # the same second as its last read can go unnoticed.
        (self.directory / "users" / user.username).write_text(f"{user.username}:{{PLAIN}}{user.password}\n")
        self.userinfo.grant(user.token, user.username)
        return user

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c <our config> args...` and return its output (raises on failure)."""
        done = subprocess.run(["doveadm", "-c", str(self.config_path), *args],
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"doveadm {args} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def log_text(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _ensure_mail_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(MAIL_USER)
        except KeyError:
            added = subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", MAIL_USER],
                                   check=False, capture_output=True, text=True)
            if added.returncode != 0:      # fine if another test worker created it meanwhile
                try:
                    pwd.getpwnam(MAIL_USER)
                except KeyError:
                    raise RuntimeError(f"useradd {MAIL_USER} failed: {added.stderr.strip()}") from None

    def _wait_for_port(self, port: int) -> None:
        def accepts() -> bool:
            try:
                with socket.create_connection((self.host, port), timeout=0.2):
                    return True
            except OSError:
                return False
        self._wait_for(accepts, f"listen on {port}")

    def _wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 5.0,
                  raise_on_timeout: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                if raise_on_timeout:
                    raise RuntimeError(f"dovecot did not {what}; log:\n{self.log_text()[-2000:]}")
                return
            time.sleep(0.02)

    def _config(self) -> str:
        assert self.tls is not None
        d, u = self.directory, self._mail_user
        return f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.tls.cert}
ssl_key = <{self.tls.key}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
# Refused logins answer at once (the default 2 s delay only slows the tests down).
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%u
mail_uid = {u}
mail_gid = {u}
first_valid_uid = 1
default_internal_user = {u}
default_login_user = {u}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/users/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {d}/oauth2.conf.ext
}}
userdb {{
  driver = static
  # doveadm looks users up without a passdb pass (both passdbs are limited to their mechanisms)
  args = uid={u} gid={u} home={d}/mail/%u allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
# No brute-force penalty: otherwise one refused-login test slows every later login from 127.0.0.1.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # The daemonized master is nobody's child here; if nothing reaps it, it lingers as a zombie.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")
