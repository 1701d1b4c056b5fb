"""A real Dovecot IMAP server (Debian's dovecot-imapd) for the tests: its own configuration in a temporary
directory, IMAP on a free loopback port, no TLS, users in a passwd-file, mail in Maildirs under the directory.

Run as an ordinary user, every process runs as that user. Run as root (CI), Dovecot drops its services to its
own system users and the mail belongs to `nobody` (Dovecot never touches mail as root); the directory is made
world-traversable so that they can reach it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
mail_location = maildir:{root}/mail/%n/Maildir
mail_uid = {mail_uid}
mail_gid = {mail_gid}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """`with Dovecot({"bounces": "secret"}) as d:` an IMAP server on 127.0.0.1:d.port; `d.maildir(user)` is the
    Maildir of a user (Postfix may deliver into it)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
        self.port = free_port()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
            internal, group, login = "dovecot", "dovecot", "dovenull"
        else:
            me = pwd.getpwuid(os.geteuid())
            self.mail_uid, self.mail_gid = me.pw_uid, me.pw_gid
            internal = login = me.pw_name
            group = str(me.pw_gid)
        self.config = self.root / "dovecot.conf"
        self.config.write_text(CONFIG.format(root=self.root, port=self.port, internal=internal,
                                             internal_group=group, login=login, mail_uid=self.mail_uid,
                                             mail_gid=self.mail_gid))
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        for user in users:
            for sub in ("cur", "new", "tmp"):
                (self.maildir(user) / sub).mkdir(parents=True)
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            for path in [self.root / "mail", *(self.root / "mail").rglob("*")]:
                os.chown(path, self.mail_uid, self.mail_gid)

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user / "Maildir"

    def __enter__(self) -> Dovecot:
        # the master daemonizes: its output must not be a pipe we wait on
        subprocess.run([DOVECOT, "-c", str(self.config)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
        self.__exit__(None, None, None)
        raise RuntimeError(f"dovecot did not start on port {self.port}: {log[-2000:]}")

    def __exit__(self, *exc) -> None:
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        pid_file = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
