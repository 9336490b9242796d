"""A throwaway OpenSSH ``sshd`` serving SFTP on loopback, for tests.

Nothing of the system is used or changed except ``/run/sshd`` (OpenSSH's privilege separation
directory, created empty when running as root and missing, as the Debian service does): the host
key, the client key, ``authorized_keys``, the configuration and the pid file all live in the test's
folder, and the account is the current user (root on CI), so no system user is created.

No ``ChrootDirectory``: OpenSSH requires every component of the chroot path to be root-owned and
not group/world writable, and pytest's ``tmp_path`` lives under ``/tmp`` (mode 1777). The session
instead starts in the institution's folder (``ForceCommand internal-sftp -d <folder>``), which is
what the client sees of a chrooted account.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PRIVSEP_DIR = Path("/run/sshd")


def find_sshd() -> str | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return str(Path(candidate).resolve())
    return None


def missing_tools() -> str | None:
    """Why an SFTP test cannot run here, or None."""
    missing = [name for name in ("sftp", "ssh-keygen") if shutil.which(name) is None]
    if find_sshd() is None:
        missing.insert(0, "sshd")
    if missing:
        return f"OpenSSH not installed ({', '.join(missing)} missing; CI installs openssh-server)"
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
        except OSError as error:
            return f"sshd needs {PRIVSEP_DIR} and it cannot be created: {error}"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _quoted(path: Path) -> str:
    text = str(path)
    assert '"' not in text and "\n" not in text, text
    return f'"{text}"'


@dataclass
class SftpServer:
    folder: Path
    start_dir: Path
    port: int = 0
    user: str = field(default_factory=getpass.getuser)
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_key(self) -> Path:
        return self.folder / "client_key"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    def events(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def start(self, *, limit: float = 10) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for key in (self.folder / "host_key", self.client_key):
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "linkreg-test",
                    "-f",
                    str(key),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
        authorized = self.folder / "authorized_keys"
        shutil.copyfile(self.client_key.with_name("client_key.pub"), authorized)
        authorized.chmod(0o600)
        sshd = find_sshd()
        assert sshd is not None
        problems = []
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = free_port()
            config = self._write_config()
            with self.log.open("wb") as stderr:
                self.process = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                )
            if self._wait_listening(limit):
                self._check_start_dir()
                return
            problems.append(self.events())
            self.stop()
        raise RuntimeError("sshd did not start:\n" + "\n---\n".join(problems))

    def _write_config(self) -> Path:
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {_quoted(self.folder / 'host_key')}",
                    f"PidFile {_quoted(self.folder / 'sshd.pid')}",
                    f"AuthorizedKeysFile {_quoted(self.folder / 'authorized_keys')}",
                    "UsePAM no",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PermitTTY no",
                    "Subsystem sftp internal-sftp",
                    f"ForceCommand internal-sftp -d {self._bare(self.start_dir)}",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        return config

    @staticmethod
    def _bare(path: Path) -> str:
        # internal-sftp takes its arguments unquoted (a quoted -d is silently ignored).
        text = str(path)
        assert not any(c.isspace() or c in "\"'\\" for c in text), text
        return text

    def _wait_listening(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _check_start_dir(self) -> None:
        """A session must start in ``start_dir`` (else uploads would land in the home folder)."""
        try:
            answer = self.run("pwd")
        except BaseException:
            self.stop()
            raise
        if f"Remote working directory: {self.start_dir}\n" not in answer:
            self.stop()
            raise RuntimeError(f"the SFTP session does not start in {self.start_dir}: {answer!r}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def sftp_command(self, batch: str) -> list[str]:
        """The OpenSSH client in batch mode (``batch``: a file, or ``-`` for stdin)."""
        return [
            "sftp",
            "-b",
            batch,
            "-F",
            "/dev/null",  # no user ssh_config
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-P",
            str(self.port),
            f"{self.user}@127.0.0.1",
        ]

    def run(self, *commands: str, timeout: float = 30) -> str:
        """One sftp connection running ``commands``; fails the test if any of them fails."""
        batch = self.folder / "batch.txt"
        batch.write_text("".join(f"{line}\n" for line in commands), encoding="utf-8")
        done = subprocess.run(
            self.sftp_command(str(batch)),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        assert done.returncode == 0, (commands, done.stdout, done.stderr, self.events())
        return done.stdout

    def session(self) -> SftpSession:
        """One sftp connection fed a command at a time (no reconnection between commands)."""
        log = (self.folder / "session.log").open("wb")
        process = subprocess.Popen(
            self.sftp_command("-"), stdin=subprocess.PIPE, stdout=log, stderr=log
        )
        return SftpSession(process, log, self)


@dataclass
class SftpSession:
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    server: SftpServer

    def send(self, command: str) -> None:
        assert self.process.poll() is None, self.output()
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        self.process.stdin.flush()

    def output(self) -> str:
        path = self.server.folder / "session.log"
        return path.read_text(encoding="utf-8", errors="replace")

    def close(self, *, limit: float = 30) -> int:
        """Ends the session (EOF on stdin, as at the end of a batch file): the exit code."""
        try:
            if self.process.stdin is not None and not self.process.stdin.closed:
                self.process.stdin.close()
            return self.process.wait(timeout=limit)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.log.close()
