"""A real IMAP server for the tests: Debian's Dovecot, started on a free port with a
throwaway configuration, maildirs in a temporary directory and one password for every account.

Run as root (a container), Dovecot's own `dovecot` and `dovenull` users own its processes
and the mail, as it insists; run as anyone else, that user does. `scripts/test` installs
`dovecot-imapd` when it is missing. Mail is put in over IMAP (APPEND), as a mail server
would.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imap_tools import MailBoxUnencrypted

DOVECOT = Path("/usr/sbin/dovecot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.port = free_port()
        # Every account has this password (a static passdb): a new user name is a new, empty
        # mailbox, and any other password is refused.
        self.password = secrets.token_hex(8)
        if os.geteuid() == 0:
            self.login_user, self.mail_user = "dovenull", "dovecot"
        else:
            self.login_user = self.mail_user = pwd.getpwuid(os.getuid()).pw_name
        entry = pwd.getpwnam(self.mail_user)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.group = grp.getgrgid(self.gid).gr_name

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> Dovecot:
        for name in ("run", "state", "mail", "home"):
            (self.root / name).mkdir()
        self.root.chmod(0o755)
        for name in ("mail", "home"):
            os.chown(self.root / name, self.uid, self.gid)
        self.config.write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {self.mail_user}
default_internal_group = {self.group}
default_login_user = {self.login_user}
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""")
        # Dovecot forks into the background; its output goes to its log, so nothing here
        # waits on a pipe the daemon keeps open.
        subprocess.run([str(DOVECOT), "-c", str(self.config)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Dovecot did not start: {self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        subprocess.run([str(DOVECOT), "-c", str(self.config), "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = self.root / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pid.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def session(self, user: str) -> MailBoxUnencrypted:
        return MailBoxUnencrypted(self.host, self.port, timeout=10).login(
            user, self.password, initial_folder=None)

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        with self.session(user) as box:
            if folder != "INBOX" and not box.folder.exists(folder):
                box.folder.create(folder)
            box.append(raw, folder)

    def recreate(self, user: str, folder: str) -> None:
        """Delete the folder and make it anew: a new UIDVALIDITY, its UIDs start again."""
        with self.session(user) as box:
            if box.folder.exists(folder):
                box.folder.delete(folder)
            box.folder.create(folder)

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        with self.session(user) as box:
            box.folder.set(folder, readonly=True)
            # \\Recent is the server's, not ours: left out.
            return {int(m.uid): tuple(f for f in m.flags if f != "\\Recent")
                    for m in box.fetch(headers_only=True, mark_seen=False)}
