"""The four entropy kinds of draw.md §3: the announcement's ``entropy`` object and the value E.

``announce_*`` build the ``entropy`` member of ``draw.announced``; :func:`check_announced`
validates one read back. ``take_*`` (or :func:`take_entropy`, which dispatches on the kind)
validate what was supplied against the announcement and return :class:`Entropy`, a pair
``(e, value)``: the bytes E that enter the seed, and ``entropy_value`` for ``draw.completed``:

- witness: E = C(list of the witnesses' strings, in the order entered); value = that list;
- beacon: E = the pulse's 64-byte ``outputValue``; value = its 128 lowercase hex digits;
- public-lottery: E = the RFC 3797 key string as ASCII; value = the key string;
- none: E = empty; value = ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from expertdraw.domain import ledger as ledger_time
from expertdraw.domain.beacon import (
    SOURCE_NAME,
    BeaconError,
    check_pulse_time,
    verify_pulse,
)
from expertdraw.domain.canonical import CanonicalError, canonical
from expertdraw.domain.ledger import LedgerError

KINDS: tuple[str, ...] = ("witness", "beacon", "public-lottery", "none")
MAX_WITNESS_CHARS = 1000
_KEYS = {
    "witness": {"kind", "witnesses"},
    "beacon": {"kind", "source", "not_before"},
    "public-lottery": {"kind", "sources"},
    "none": {"kind"},
}


class EntropyError(ValueError):
    """Bad entropy announcement or value; ``code`` is ``entropy:*`` and names what is wrong.

    Codes: ``entropy:format``, ``entropy:kind``, ``entropy:time``, ``entropy:not-before``,
    ``entropy:witness-count``, ``entropy:witness-id``, ``entropy:witness-duplicate``,
    ``entropy:witness-empty``, ``entropy:witness-value``, ``entropy:lottery-count``,
    ``entropy:lottery-empty``, ``entropy:lottery-number``, ``entropy:none-value``, and
    ``entropy:beacon-<what>`` for a pulse that fails (``beacon-signature``,
    ``beacon-too-early``, ...; the :class:`BeaconError` is the ``__cause__``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Entropy(NamedTuple):
    """E for the seed, and ``entropy_value`` for the ledger."""

    e: bytes
    value: list[str] | str


def format_time(t: datetime) -> str:
    """An aware datetime as the ledger's UTC time: RFC 3339, ``Z``, 3 fraction digits.

    Raises:
        EntropyError: ``entropy:time`` for a naive datetime.
    """
    try:
        return ledger_time.format_time(t)
    except LedgerError as exc:
        raise EntropyError("entropy:time", str(exc)) from None


def parse_time(text: Any) -> datetime:
    """Parse a time written by :func:`format_time`.

    Raises:
        EntropyError: ``entropy:time`` if ``text`` is not in that exact form.
    """
    if ledger_time.is_time(text):
        return ledger_time.parse_time(text)
    raise EntropyError("entropy:time", f"not a time like 2026-12-03T01:00:00.000Z: {text!r}")


def announce_witness(witnesses: int) -> dict[str, Any]:
    """``{"kind": "witness", "witnesses": k}``. Raises: EntropyError ``entropy:format``."""
    entropy = {"kind": "witness", "witnesses": witnesses}
    check_announced(entropy)
    return entropy


def next_beacon_time(
    announced_at: datetime, delay: timedelta = timedelta(minutes=1), period_ms: int = 60000
) -> datetime:
    """A ``not_before`` for a beacon draw: ``announced_at + delay`` rounded up to a whole
    period (a beacon pulse time), always strictly later than ``announced_at``.

    Raises:
        EntropyError: ``entropy:time`` for a naive datetime, ``entropy:format`` for a
            non-positive delay or period.
    """
    if announced_at.tzinfo is None:
        raise EntropyError("entropy:time", "times must be timezone-aware")
    if delay <= timedelta(0) or period_ms <= 0:
        raise EntropyError("entropy:format", "delay and period must be positive")
    step = timedelta(milliseconds=period_ms)
    since_epoch = announced_at + delay - datetime(1970, 1, 1, tzinfo=UTC)
    steps = -(-since_epoch // step)
    return datetime(1970, 1, 1, tzinfo=UTC) + steps * step


def announce_beacon(not_before: datetime, *, announced_at: datetime) -> dict[str, Any]:
    """``{"kind": "beacon", "source": "nist-beacon-2.0", "not_before": <time>}``.

    Raises:
        EntropyError: ``entropy:not-before`` unless ``not_before`` (at millisecond precision,
            as recorded) is later than ``announced_at``; ``entropy:time`` for naive times.
    """
    written = format_time(not_before)
    format_time(announced_at)
    if parse_time(written) <= announced_at:
        raise EntropyError("entropy:not-before", "not_before must be later than the announcement")
    return {"kind": "beacon", "source": SOURCE_NAME, "not_before": written}


def announce_public_lottery(sources: Sequence[str]) -> dict[str, Any]:
    """``{"kind": "public-lottery", "sources": [...]}``: each a description and date.

    Raises:
        EntropyError: ``entropy:format`` for no sources or an empty description.
    """
    entropy = {"kind": "public-lottery", "sources": list(sources)}
    check_announced(entropy)
    return entropy


def announce_none() -> dict[str, Any]:
    """``{"kind": "none"}``: the server's secret alone (never when a supervisor is present)."""
    return {"kind": "none"}


def check_announced(entropy: Any, announced_at: datetime | None = None) -> str:
    """Validate an announcement's ``entropy`` object and return its kind.

    With ``announced_at`` a beacon's ``not_before`` must also be later than it.

    Raises:
        EntropyError: ``entropy:format``, ``entropy:kind``, ``entropy:time`` or
            ``entropy:not-before``.
    """
    if not isinstance(entropy, Mapping):
        raise EntropyError("entropy:format", "entropy must be an object")
    kind = entropy.get("kind")
    if kind not in KINDS:
        raise EntropyError("entropy:kind", f"kind must be one of {', '.join(KINDS)}")
    if set(entropy) != _KEYS[kind]:
        raise EntropyError("entropy:format", f"{kind} entropy has members {sorted(_KEYS[kind])}")
    if kind == "witness":
        k = entropy["witnesses"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise EntropyError("entropy:format", "witnesses must be a positive integer")
    elif kind == "beacon":
        if entropy["source"] != SOURCE_NAME:
            raise EntropyError("entropy:format", f"beacon source must be {SOURCE_NAME!r}")
        not_before = parse_time(entropy["not_before"])
        if announced_at is not None and not_before <= announced_at:
            raise EntropyError("entropy:not-before", "not_before is not after the announcement")
    elif kind == "public-lottery":
        sources = entropy["sources"]
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(s, str) and s.strip() for s in sources)
        ):
            raise EntropyError("entropy:format", "sources must be a non-empty list of texts")
    return kind


def _expect(entropy: Mapping[str, Any], kind: str) -> None:
    if check_announced(entropy) != kind:
        raise EntropyError("entropy:kind", f"the draw announced {entropy['kind']!r}, not {kind!r}")


def take_witness(entropy: Mapping[str, Any], entries: Sequence[tuple[str, str]]) -> Entropy:
    """E from witness values: ``entries`` are ``(supervisor_id, value)`` in the order entered.

    Each of exactly ``k`` distinct supervisors gives one value that is not blank and at most
    ``MAX_WITNESS_CHARS`` characters; values are used exactly as typed (not trimmed).

    Raises:
        EntropyError: ``entropy:kind``, ``entropy:witness-count``, ``entropy:witness-id``,
            ``entropy:witness-duplicate``, ``entropy:witness-empty``, ``entropy:witness-value``.
    """
    _expect(entropy, "witness")
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise EntropyError("entropy:format", "witness values must be a list of pairs")
    if len(entries) != entropy["witnesses"]:
        raise EntropyError(
            "entropy:witness-count", f"expected {entropy['witnesses']} values, got {len(entries)}"
        )
    seen: set[str] = set()
    values: list[str] = []
    for position, entry in enumerate(entries, 1):
        if not (isinstance(entry, tuple | list) and len(entry) == 2):
            raise EntropyError("entropy:format", f"entry {position} is not (supervisor, value)")
        supervisor, value = entry
        if not isinstance(supervisor, str) or not supervisor:
            raise EntropyError("entropy:witness-id", f"entry {position} has no supervisor id")
        if supervisor in seen:
            raise EntropyError(
                "entropy:witness-duplicate", f"supervisor of entry {position} already gave a value"
            )
        seen.add(supervisor)
        if not isinstance(value, str):
            raise EntropyError("entropy:witness-value", f"value {position} is not a string")
        if not value.strip():
            raise EntropyError("entropy:witness-empty", f"value {position} is empty")
        if len(value) > MAX_WITNESS_CHARS:
            raise EntropyError("entropy:witness-value", f"value {position} is too long")
        values.append(value)
    try:
        e = canonical(values)
    except CanonicalError:
        raise EntropyError("entropy:witness-value", "a value is not valid Unicode text") from None
    return Entropy(e, values)


def take_beacon(
    entropy: Mapping[str, Any], pulse_json: bytes | str | Mapping[str, Any], certificate_pem: bytes
) -> Entropy:
    """E from a beacon pulse: verified, and the first pulse at or after ``not_before``.

    Raises:
        EntropyError: ``entropy:kind``, ``entropy:format``, or ``entropy:beacon-<what>``
            (``beacon-signature``, ``beacon-output``, ``beacon-certificate``,
            ``beacon-format``, ``beacon-too-early``, ``beacon-not-first``).
    """
    _expect(entropy, "beacon")
    not_before = parse_time(entropy["not_before"])
    try:
        pulse = verify_pulse(pulse_json, certificate_pem)
        check_pulse_time(pulse, not_before)
    except BeaconError as exc:
        what = exc.code.removeprefix("beacon:")
        raise EntropyError(f"entropy:beacon-{what}", exc.message) from exc
    return Entropy(pulse.output, pulse.output_value)


def lottery_key(sources: Sequence[Sequence[int]]) -> str:
    """The RFC 3797 key string: per source its integers ascending, each as decimal + ``.``,
    the source ended by ``/``.

    Raises:
        EntropyError: ``entropy:lottery-empty`` for a source without numbers,
            ``entropy:lottery-number`` for anything but a non-negative integer.
    """
    parts: list[str] = []
    for position, numbers in enumerate(sources, 1):
        if isinstance(numbers, str | bytes) or not isinstance(numbers, Sequence) or not numbers:
            raise EntropyError("entropy:lottery-empty", f"source {position} has no numbers")
        for n in numbers:
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise EntropyError(
                    "entropy:lottery-number", f"source {position}: {n!r} is not an integer >= 0"
                )
        parts.append("".join(f"{n}." for n in sorted(numbers)) + "/")
    return "".join(parts)


def take_public_lottery(entropy: Mapping[str, Any], sources: Sequence[Sequence[int]]) -> Entropy:
    """E from the published numbers, one list per announced source, in the same order.

    Raises:
        EntropyError: ``entropy:kind``, ``entropy:lottery-count`` (not one list per announced
            source), and those of :func:`lottery_key`.
    """
    _expect(entropy, "public-lottery")
    if isinstance(sources, str | bytes) or len(sources) != len(entropy["sources"]):
        raise EntropyError(
            "entropy:lottery-count", f"expected {len(entropy['sources'])} lists of numbers"
        )
    key = lottery_key(sources)
    return Entropy(key.encode("ascii"), key)


def take_none(entropy: Mapping[str, Any]) -> Entropy:
    """E for ``none``: empty. Raises: EntropyError ``entropy:kind``."""
    _expect(entropy, "none")
    return Entropy(b"", "")


def take_entropy(
    entropy: Mapping[str, Any], supplied: Any, *, certificate_pem: bytes | None = None
) -> Entropy:
    """Dispatch on the announced kind: ``supplied`` is the witness entries, the pulse JSON,
    the lists of numbers, or None for ``none``.

    Raises:
        EntropyError: as the ``take_*`` function of the kind; ``entropy:beacon-certificate``
            if a beacon draw gets no certificate; ``entropy:none-value`` if ``none`` gets a
            value.
    """
    kind = check_announced(entropy)
    if kind == "witness":
        return take_witness(entropy, supplied)
    if kind == "beacon":
        if certificate_pem is None:
            raise EntropyError("entropy:beacon-certificate", "a beacon draw needs a certificate")
        return take_beacon(entropy, supplied, certificate_pem)
    if kind == "public-lottery":
        return take_public_lottery(entropy, supplied)
    if supplied not in (None, "", b""):
        raise EntropyError("entropy:none-value", "entropy kind none takes no value")
    return take_none(entropy)
