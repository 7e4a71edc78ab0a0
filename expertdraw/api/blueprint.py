"""The ``/api/v1`` blueprint that every API route module declares its endpoints on.

Kept apart from ``api/__init__.py`` so that route modules can import it without a cycle:
``from .blueprint import bp`` then ``@api_route(bp, ...)``.
"""

from __future__ import annotations

from flask import Blueprint

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)
