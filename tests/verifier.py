"""The offline verifier as a supervisor runs it: ``python -m expertdraw.verify ARGS``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_verifier(*args: object) -> subprocess.CompletedProcess[str]:
    """Run the verifier in a fresh interpreter from the repository; output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "expertdraw.verify", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
