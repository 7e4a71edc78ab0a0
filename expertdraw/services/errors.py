"""Service-level errors: each has a stable ``code`` and the HTTP status the API maps it to."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be done; ``code`` is stable, ``field`` names the bad input."""

    http_status = 422

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    @property
    def errors(self) -> list[dict[str, str]] | None:
        """The problem's field errors: the field this error names, if any."""
        if self.field is None:
            return None
        return [{"field": self.field, "in": "body", "message": str(self), "type": self.code}]


class NotFound(ServiceError):
    http_status = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__("not-found", f"{what} {key} not found")


class TooMany(ServiceError):
    """Over a limit on how often something may be done (429)."""

    http_status = 429


class Forbidden(ServiceError):
    http_status = 403


class Conflict(ServiceError):
    http_status = 409
