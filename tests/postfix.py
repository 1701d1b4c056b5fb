"""A real Postfix instance for the tests (not smtp-sink): its own config_directory, queue and data directories in
a temporary directory, SMTP on a free loopback port, nothing ever leaving the machine (every transport but the
virtual delivery agent is `error`).

It is the MX of two test domains: `mail_domain`, whose existing mailboxes are the ones named (mail to any other
user there is accepted at SMTP, then bounced by Postfix itself with an RFC 3464 report to the envelope sender), and
`bounce_domain`, where `bounces+anything@` (recipient_delimiter "+") lands in the Maildir of the `bounces` user of
a Dovecot server (`tests.dovecot`): Postfix's virtual agent delivers into the tree Dovecot serves.

`postfix -c DIR start` must be run as root (the master drops privileges to the `postfix` user itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.dovecot import Dovecot, free_port

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None)
RUNNABLE = POSTFIX is not None and os.geteuid() == 0 and Path("/etc/postfix/master.cf").exists()
WHY_NOT = ("postfix not installed (Debian package postfix)" if POSTFIX is None else
           "starting a Postfix instance needs root (postfix -c DIR start)")

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {root}/etc
queue_directory = {root}/queue
data_directory = {root}/data
syslog_name = postfix-digest-test
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test.invalid
mydomain = test.invalid
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
recipient_delimiter = +
virtual_mailbox_domains = {mail_domain}, {bounce_domain}
virtual_mailbox_maps = texthash:{root}/etc/mailboxes
virtual_mailbox_base = {mail_base}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
default_transport = error:no mail leaves the test instance
relay_transport = error:no mail leaves the test instance
delay_warning_time = 0
bounce_queue_lifetime = 0
smtpd_banner = $myhostname ESMTP
biff = no
"""


class Postfix:
    """`with Postfix(dovecot, "example.com", ["reader1"], "news.example.com") as p:` SMTP on 127.0.0.1:p.port."""

    def __init__(self, dovecot: Dovecot, mail_domain: str, mailboxes: list[str], bounce_domain: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="digest-postfix-"))
        os.chmod(self.root, 0o755)  # the master opens data_directory's lock as the postfix user
        self.port = free_port()
        etc = self.root / "etc"
        etc.mkdir()
        (self.root / "queue").mkdir()
        (self.root / "data").mkdir()
        shutil.chown(self.root / "data", "postfix", "postfix")
        (etc / "main.cf").write_text(MAIN_CF.format(root=self.root, mail_domain=mail_domain,
                                                    bounce_domain=bounce_domain, mail_base=dovecot.root / "mail",
                                                    uid=dovecot.mail_uid, gid=dovecot.mail_gid))
        rows = [f"{user}@{mail_domain} {mail_domain}/{user}/Maildir/" for user in mailboxes]
        rows.append(f"bounces@{bounce_domain} bounces/Maildir/")  # Dovecot's `bounces` user: its INBOX
        (etc / "mailboxes").write_text("\n".join(rows) + "\n")
        (etc / "master.cf").write_text(master_cf(self.port))

    def _postfix(self, *args: str) -> subprocess.CompletedProcess:
        # never a pipe for the output: the master it starts would keep it open
        with open(self.root / f"postfix-{args[0]}.out", "w+") as out:
            done = subprocess.run([POSTFIX, "-c", str(self.root / "etc"), *args], stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, timeout=60)
            out.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")

    def log(self) -> str:
        """What is still queued (Postfix logs to syslog, absent here; its maillog_file can deadlock the master
        where unix datagram queues are short, net.unix.max_dgram_qlen = 10)."""
        return self._postfix_queue()

    def _postfix_queue(self) -> str:
        done = subprocess.run(["postqueue", "-c", str(self.root / "etc"), "-p"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    def __enter__(self) -> Postfix:
        started = self._postfix("start")
        if started.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            raise RuntimeError(f"postfix -c {self.root}/etc start failed: {started.stdout.strip()[-2000:]}")
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"220"):
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"postfix did not listen on {self.port}: {self.log()[-2000:]}")

    def __exit__(self, *exc) -> None:
        self._postfix("stop")
        pid = self.root / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while pid.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


def master_cf(port: int) -> str:
    """Debian's master.cf, with smtpd on 127.0.0.1:`port` instead of :25 and nothing chrooted (the queue is
    a temporary directory without the files a chroot needs)."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line.startswith(("#", " ", "\t")) or len(fields) < 8:
            lines.append(line)
            continue
        if fields[0] == "smtp" and fields[1] == "inet":
            fields[0] = f"127.0.0.1:{port}"
        if fields[0] in ("submission", "smtps", "628", "maildrop", "uucp", "ifmail", "bsmtp",
                         "scalemail-backend", "mailman", "postscreen", "smtpd", "dnsblog", "tlsproxy"):
            continue
        fields[4] = "n"  # chroot
        lines.append("  ".join(fields[:8]) + ("  " + " ".join(fields[8:]) if fields[8:] else ""))
    return _drop_orphans("\n".join(lines)) + "\n"


def _drop_orphans(text: str) -> str:
    """Continuation lines (`  flags=...`, `  -o ...`) of services that were dropped go too."""
    out, keep = [], True
    known = {"smtp", "pickup", "cleanup", "qmgr", "tlsmgr", "rewrite", "bounce", "defer", "trace", "verify", "flush",
             "proxymap", "proxywrite", "relay", "showq", "error", "retry", "discard", "local", "virtual", "lmtp",
             "anvil", "scache", "postlog"}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            out.append(line)
        elif line.startswith((" ", "\t")):
            if keep:
                out.append(line)
        else:
            name = line.split()[0]
            keep = name in known or name.startswith("127.0.0.1:")
            if keep:
                out.append(line)
    return "\n".join(out)
