"""Draw load through the HTTP API from client threads that keep going through faults.

Each logical draw ``n`` is a project ``P-FAULT-nnnnn`` with its own one-day window, then a
draw request with ``none`` entropy and the ``Idempotency-Key`` ``fault-n``. A client that
loses its connection, or gets a 5xx, retries the step; a draw request interrupted that way is
retried with the same key when ``n`` is even (the API then returns, or finishes, the draw it
announced) and abandoned when ``n`` is odd, as a client that gives up would: such a draw may
stay announced until ``fail_stale``.

Every answer is recorded (``Answer``); what a client was told is what the checks hold the
server to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests

from ..integration import centre as c

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer (or failure to get one) that a client saw."""

    n: int
    step: str  # "project" or "draw"
    status: int | None  # None: no answer (connection refused, reset, timeout)
    error: str | None = None  # the exception's class name when there was no answer
    content_type: str = ""
    body: dict[str, Any] | None = None
    sent: float = 0.0  # time.monotonic() when the request went out
    at: float = 0.0  # ... and when its answer (or failure) came back

    @property
    def draw(self) -> str | None:
        """The draw id in a draw answer, if any."""
        return (self.body or {}).get("id") if self.step == "draw" else None

    @property
    def state(self) -> str | None:
        """The draw state in a draw answer, if any."""
        return (self.body or {}).get("state") if self.step == "draw" else None


def project_body(n: int, tenderer: str) -> dict[str, Any]:
    """The project of logical draw ``n``: four technical and one economic member."""
    start = c.WINDOW + timedelta(days=n)
    return {
        "code": f"P-FAULT-{n:05d}",
        "name": f"故障项目{n}",
        "tenderer": tenderer,
        "region": "530602",
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=8)).isoformat(),
        "allow_no_entropy": True,
        "strata": [
            {"name": "technical", "specialty": "A0101", "kind": "technical", "count": 4},
            {"name": "economic", "specialty": "C0301", "kind": "economic", "count": 1},
        ],
    }


def unclean(answers: list[Answer]) -> list[Answer]:
    """5xx answers that are not problem+json ``internal`` 500s or 503s."""
    return [
        a
        for a in answers
        if a.status is not None
        and a.status >= 500
        and not (
            a.status in (500, 503)
            and a.content_type.startswith(PROBLEM)
            and (a.body or {}).get("status") == a.status
            and isinstance((a.body or {}).get("code"), str)
        )
    ]


@dataclass
class DrawLoad:
    """``clients`` threads working through draws ``first .. first + draws - 1``."""

    base_url: str
    token: str
    tenderer: str
    clients: int = 4
    draws: int = 16
    first: int = 0
    timeout: float = 30.0  # one request; longer counts as a hang
    give_up_after: float = 60.0  # retrying one step
    retry_server_errors: bool = True  # False: a 5xx is final (no fault should cause one)
    deadline: float | None = None  # monotonic time after which no new draw starts
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    # -- what happened -------------------------------------------------------------------

    def snapshot(self) -> list[Answer]:
        """A copy of the answers so far."""
        with self._lock:
            return list(self.answers)

    def drawn(self) -> list[Answer]:
        """Draw answers with status 201 (the client was told the draw happened)."""
        return [a for a in self.snapshot() if a.step == "draw" and a.status == 201]

    def started(self) -> int:
        """How many logical draws clients have taken up so far."""
        with self._lock:
            return self._next

    def hangs(self) -> list[Answer]:
        """Requests that got no answer within ``timeout``."""
        return [a for a in self.snapshot() if a.error in ("ReadTimeout", "Timeout")]

    def wait_for(self, drawn: int, timeout: float = 60.0) -> None:
        """Block until ``drawn`` draws were answered 201 (or the load ended)."""
        end = time.monotonic() + timeout
        while len(self.drawn()) < drawn and time.monotonic() < end and self.alive():
            time.sleep(0.05)

    # -- running -------------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether a client thread is still working."""
        return any(t.is_alive() for t in self._threads)

    @contextmanager
    def running(self, join_timeout: float = 600.0) -> Iterator[DrawLoad]:
        """Run the clients in the background for the block; joins them at its end."""
        self._threads = [
            threading.Thread(target=self._client, name=f"client-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        try:
            yield self
        except BaseException:
            self._stop.set()
            raise
        finally:
            end = time.monotonic() + join_timeout
            for thread in self._threads:
                thread.join(max(0.0, end - time.monotonic()))
        if self.alive():
            self._stop.set()
            raise AssertionError(f"clients still running after {join_timeout} s")

    def _take(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or self._next >= self.draws:
                return None
            if self.deadline is not None and time.monotonic() > self.deadline:
                return None
            n = self.first + self._next
            self._next += 1
            return n

    def _client(self) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {self.token}"
            while (n := self._take()) is not None:
                self._one(http, n)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _send(self, http: requests.Session, n: int, step: str, **kwargs: Any) -> Answer:
        sent = time.monotonic()
        try:
            response = http.post(timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            answer = Answer(n, step, None, type(exc).__name__, sent=sent, at=time.monotonic())
        else:
            content_type = response.headers.get("Content-Type", "")
            try:
                body = response.json() if "json" in content_type else None
            except ValueError:
                body = None
            answer = Answer(
                n, step, response.status_code, None, content_type, body, sent, time.monotonic()
            )
        self._record(answer)
        return answer

    def _retrying(self, http: requests.Session, n: int, step: str, **kwargs: Any) -> Answer:
        end = time.monotonic() + self.give_up_after
        while True:
            answer = self._send(http, n, step, **kwargs)
            transient = answer.status is None or (answer.status >= 500 and self.retry_server_errors)
            if not transient or time.monotonic() > end or self._stop.is_set():
                return answer
            if step == "draw" and n % 2 == 1:
                return answer  # the odd draws' clients give up
            time.sleep(0.1)

    def _one(self, http: requests.Session, n: int) -> None:
        created = self._retrying(
            http,
            n,
            "project",
            url=f"{self.base_url}/api/v1/projects",
            json=project_body(n, self.tenderer),
        )
        if created.status not in (201, 409):
            return
        self._retrying(
            http,
            n,
            "draw",
            url=f"{self.base_url}/api/v1/projects/P-FAULT-{n:05d}/draws",
            json={"entropy": {"kind": "none"}},
            headers={"Idempotency-Key": f"fault-{n}"},
        )
