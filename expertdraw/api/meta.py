"""The API's own description: ``GET /api/v1/openapi.json`` (public)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .blueprint import bp
from .framework import PUBLIC, api_route, operations
from .openapi import build_document

CACHE = "expertdraw.openapi"


@api_route(
    bp,
    "GET",
    "/openapi.json",
    roles=PUBLIC,
    summary="The OpenAPI 3.1 document of this API",
    tags=["meta"],
)
def openapi_document() -> dict[str, Any]:
    """Generated from the endpoint declarations; built once per app."""
    document = current_app.extensions.get(CACHE)
    if document is None:
        cookie = current_app.config["SESSION_COOKIE_NAME"]
        document = build_document(operations(bp), cookie=cookie)
        current_app.extensions[CACHE] = document
    return document
