"""A separate process that appends to the ledger (for the concurrency tests)."""

from __future__ import annotations

import sys


def main(database_url: str, instance: str, writer: int, count: int, per_tx: int) -> None:
    from expertdraw import create_app
    from expertdraw.extensions import db
    from expertdraw.services import ledger

    # Each worker is given the secret key: four processes must not race to create it.
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance, "SECRET_KEY": "t"}
    )
    with app.app_context():
        for n in range(count):
            for k in range(per_tx):
                ledger.append(
                    "pool.changed",
                    {
                        "expert": f"E{writer:03d}{n:04d}",
                        "field": "status",
                        "from": "active",
                        "to": "suspended",
                        "reason": f"writer {writer} tx {n} entry {k}",
                    },
                    {"role": "admin", "id": f"W{writer}"},
                )
            db.session.commit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
