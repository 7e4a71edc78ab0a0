"""Service-level errors: each has a stable ``code`` and the HTTP status the API maps it to."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be done; ``code`` is stable, ``field`` names the bad input."""

    http_status = 422

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        #: Further problems of other fields found in the same check, so that one answer
        #: lists them all (a form shows each beside its field).
        self.more: list[ServiceError] = []

    @staticmethod
    def of(problems: list[ServiceError]) -> ServiceError:
        """The first problem, carrying the others."""
        first = problems[0]
        first.more = problems[1:]
        return first

    @property
    def errors(self) -> list[dict[str, str]] | None:
        """The problem's field errors: the field this error names, and those of ``more``."""
        found = [
            {"field": e.field, "in": "body", "message": str(e), "type": e.code}
            for e in (self, *self.more)
            if e.field is not None
        ]
        return found or None


class NotFound(ServiceError):
    http_status = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__("not-found", f"{what} {key} not found")


class TooMany(ServiceError):
    """Over a limit on how often something may be done (429), with ``Retry-After`` when the
    limit says when it lifts."""

    http_status = 429

    def __init__(
        self, code: str, message: str, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(code, message, field)
        self.headers = {} if retry_after is None else {"Retry-After": str(retry_after)}


class Forbidden(ServiceError):
    http_status = 403


class Conflict(ServiceError):
    http_status = 409
