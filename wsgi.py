"""WSGI entry point from a source checkout: ``gunicorn wsgi:app`` (installed:
``gunicorn expertdraw.wsgi:app``)."""

from expertdraw.wsgi import app

__all__ = ["app"]
