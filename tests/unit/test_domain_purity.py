"""The domain package needs neither Flask nor a database."""

from __future__ import annotations

import ast
from pathlib import Path

import expertdraw.domain

FORBIDDEN = {"flask", "sqlalchemy", "flask_sqlalchemy", "flask_migrate", "alembic", "psycopg"}


def test_domain_modules_import_only_the_standard_library_and_cryptography():
    root = Path(expertdraw.domain.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
