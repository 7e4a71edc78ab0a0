"""JSON API under ``/api/v1``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API blueprint(s)."""
