"""Operations endpoints: health and metrics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}
