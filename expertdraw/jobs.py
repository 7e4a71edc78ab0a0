"""Scheduler jobs: one-line calls into services, run under an app context."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Start the scheduler when configured."""
