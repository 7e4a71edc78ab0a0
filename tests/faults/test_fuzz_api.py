"""The API fuzzed from its OpenAPI document as every role: no 5xx, nothing off the schema.

Schemathesis generates valid and invalid requests for every operation (see ``fuzz.py``) on
the seeded trading centre; every response must be documented, problem+json where it is an
error, and conform to its schema. A few hundred cases here; ``bench/soak.py`` runs more.
"""

from __future__ import annotations

from typing import Any

from .fuzz import Fuzzer, seed

ALLOWED = 3  # valid cases per operation and permitted role
NEGATIVE = 2  # invalid cases per operation and permitted role
FORBIDDEN = 1  # cases per operation and role it refuses


def test_fuzzed_requests_as_every_role_get_no_5xx_and_schema_conformant_answers(app: Any) -> None:
    known, users = seed(app)
    fuzzer = Fuzzer(app, known, users)

    fuzzer.run(allowed=ALLOWED, negative=NEGATIVE, forbidden=FORBIDDEN)

    total = sum(fuzzer.cases.values())
    assert not fuzzer.failures, f"{len(fuzzer.failures)} failing groups:\n\n" + "\n\n".join(
        fuzzer.failures
    )
    assert 300 <= total <= 1000, (total, fuzzer.statuses)
    assert sum(n for status, n in fuzzer.statuses.items() if 200 <= status < 300) >= 50
