"""WSGI entry point: ``gunicorn wsgi:app``."""

from expertdraw import create_app

app = create_app()
