"""Authentication and role checks (sessions for pages, bearer tokens for the API)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Bind login, tokens and rate limiting to the app."""
