"""A throwaway PostgreSQL server of our own: ``initdb`` in a temporary folder, a free port.

The database-restart scenario stops and starts this server, never the machine's shared one.
As root, every PostgreSQL command runs as the ``postgres`` OS user (the server refuses to run
as root), in a folder owned by that user. Durability settings are off (``fsync``,
``full_page_writes``): the scenario restarts the server process, not the machine, and the
operating system keeps what was written.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .server import free_port

OS_USER = "postgres"


def find_binary(name: str) -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin/<name>``, else ``<name>`` on PATH, else None."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"):
        version = re.match(r"\d+", candidate.parts[-3])
        if version:
            found.append((int(version.group()), candidate))
    if found:
        return max(found)[1]
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


class ClusterError(RuntimeError):
    """A PostgreSQL command failed; the message holds its output and the server log."""


class TempCluster:
    """One PostgreSQL server in a temporary folder; ``cleanup()`` stops it and removes it all."""

    def __init__(self) -> None:
        initdb = find_binary("initdb")
        if initdb is None:
            raise FileNotFoundError("initdb is not installed")
        self.bin = initdb.parent
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        # Short path under /tmp: the Unix socket's path must stay under ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="expertdraw-pg-", dir="/tmp"))
        if self.as_root:
            entry = pwd.getpwnam(OS_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _run(self, *args: str, timeout: float = 120.0) -> str:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} exited {done.returncode}\n{done.stdout}{done.stderr}\n"
                f"{self.server_log()}"
            )
        return done.stdout

    def init(self) -> TempCluster:
        """``initdb`` (trust authentication, user ``postgres``, UTF-8)."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back sessions) or ``immediate`` (like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server's postmaster is running."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except ClusterError:
            return False
        return True

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def server_log(self, tail: int = 4000) -> str:
        """The end of the server's log."""
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the server if it runs, then remove the folder."""
        if self.data.is_dir() and self.running():
            with contextlib.suppress(ClusterError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
