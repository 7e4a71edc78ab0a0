"""A user's own preferences: the interface language."""

from __future__ import annotations

from ..extensions import db
from ..models import User
from .errors import ServiceError

LANGUAGES = ("zh", "en")


def set_language(user: User, language: str) -> None:
    """Save the user's interface language, ``zh`` or ``en`` (commits when it changes).

    Raises:
        ServiceError: ``invalid:language``.
    """
    if language not in LANGUAGES:
        raise ServiceError("invalid:language", "language is zh or en", "language")
    if user.language != language:
        user.language = language
        db.session.commit()
