"""The app under gunicorn in its own process group, on a free port, killable at any moment.

``AppServer(database_url, instance).start()`` runs ``gunicorn tests.faults.app_process:app``
from the repository root with the production settings path (``EXPERTDRAW_DATABASE_URL``,
``EXPERTDRAW_INSTANCE_PATH``). ``kill()`` sends SIGKILL to the whole process group (master and
workers, mid-request), ``start()`` again reuses the same port and instance folder (which holds
the signing key and the data key), ``stop()`` shuts down gracefully.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
CONFIG_ENV = "EXPERTDRAW_FAULTS_CONFIG"
DELAY_ENV = "EXPERTDRAW_FAULTS_COMPLETE_DELAY"
STARTUP_SECONDS = 60.0  # a busy two-core CI machine may take long to import the app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is alive (zombies, never reaped here, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class ServerError(RuntimeError):
    """The server did not start (its log is in the message)."""


class AppServer:
    """One gunicorn server (master + ``workers`` processes) against one database."""

    def __init__(
        self,
        database_url: str,
        instance: str | Path,
        log_path: Path,
        *,
        workers: int = 2,
        threads: int = 4,
        config: dict[str, Any] | None = None,
        complete_delay: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTDRAW_")}
        env.update(
            {
                "EXPERTDRAW_DATABASE_URL": database_url,
                "EXPERTDRAW_INSTANCE_PATH": str(instance),
                "EXPERTDRAW_SCHEDULER": "0",
                CONFIG_ENV: json.dumps(config or {}),
                DELAY_ENV: str(complete_delay),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env = env

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        """Start gunicorn and wait until it answers HTTP. Raises ServerError."""
        if self.running():
            raise ServerError("the server is already running")
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            "tests.faults.app_process:app",
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: one killpg reaches every worker
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"gunicorn exited with {self.process.returncode}\n{self.log()}")
            try:
                requests.get(f"{self.url}/api/v1/openapi.json", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.kill()
        raise ServerError(f"gunicorn did not answer within {timeout} s\n{self.log()}")

    def running(self) -> bool:
        """Whether the master process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, wherever they are."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._wait_group_gone(self.process.pid)
        self.kills += 1
        self.process = None

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM: requests in progress finish), SIGKILL if it lingers."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._wait_group_gone(self.process.pid)
        self.process = None

    @staticmethod
    def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
        """Workers are not our children; wait until no live process of the group is left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.05)

    def log(self, tail: int = 6000) -> str:
        """The end of the server's log (gunicorn and the app's stderr)."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def __enter__(self) -> AppServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
