"""Commitment, entropy and seed (draw.md §3), and the keyed HMAC the selection uses.

``lp(x) = u32be(len(x)) || x``; ``H`` is SHA-256; every tag is followed by a 0x00 byte.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from typing import Any

from expertdraw.domain import rfc3797
from expertdraw.domain.canonical import CanonicalError, canonical
from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_snapshot import (
    RFC3797,
    SCORE,
    TIME,
    check_algorithm,
    check_count,
    check_id,
)

COMMIT_TAG = b"expertdraw/commit/v1\x00"
SEED_TAG = b"expertdraw/seed/v1\x00"
SECRET_BYTES = 32
BEACON_SOURCE = "nist-beacon-2.0"
ENTROPY_KINDS = ("witness", "beacon", "public-lottery", "none")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _short_sha256() -> Callable[..., Any]:
    """The SHA-256 constructor that hashes short messages fastest here.

    CPython's own SHA-256 (``_sha2``, ``_sha256`` before 3.12) gives the same digests as
    ``hashlib.sha256``, which is OpenSSL's where CPython has it. For messages of a few dozen
    bytes the cost is the hash object, not the hashing: copying OpenSSL 3's object costs more
    than copying CPython's, which made the selection's HMACs about a quarter slower. Where
    neither module exists (another interpreter), ``hashlib.sha256``.
    """
    for name in ("_sha2", "_sha256"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if constructor is not None:
            return constructor  # type: ignore[no-any-return]
    return hashlib.sha256


#: SHA-256 for the hot paths that hash many short messages (``keyed_hmac``, group codes).
short_sha256: Callable[..., Any] = _short_sha256()


def lp(data: bytes) -> bytes:
    """``u32be(len(data)) || data``."""
    return len(data).to_bytes(4, "big") + data


def keyed_hmac(key: bytes, prefix: bytes = b"") -> Callable[[bytes], bytes]:
    """Return ``f`` with ``f(m) == HMAC-SHA256(key, prefix || m)`` (RFC 2104).

    The key pads and the prefix are hashed once, so each call costs two copies of a hash state
    instead of a fresh HMAC set-up (with :data:`short_sha256`'s states): on CPython with
    OpenSSL 3 this is two to three times as fast as ``hmac.digest`` per id, which is what the
    selection's hot path needs.
    """
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\x00")
    inner = short_sha256(key.translate(_IPAD))
    inner.update(prefix)
    outer = short_sha256(key.translate(_OPAD))
    inner_copy, outer_copy = inner.copy, outer.copy

    def digest(message: bytes) -> bytes:
        h = inner_copy()
        h.update(message)
        o = outer_copy()
        o.update(h.digest())
        return o.digest()

    return digest


def check_secret(secret: object, algorithm: str) -> bytes:
    """Return ``secret`` if it fits ``algorithm``: 32 bytes, or empty in ``rfc3797`` mode (§7).

    Raises :class:`DrawError` ``invalid:secret`` (or ``invalid:algorithm``).
    """
    check_algorithm(algorithm)
    if not isinstance(secret, bytes):
        raise DrawError("invalid:secret", "the secret must be bytes")
    wanted = 0 if algorithm == RFC3797 else SECRET_BYTES
    if len(secret) != wanted:
        raise DrawError("invalid:secret", f"{algorithm} needs a secret of {wanted} bytes")
    return secret


def commitment_preimage(draw_id: str, secret: bytes) -> bytes:
    """``"expertdraw/commit/v1" || 0x00 || utf8(draw) || 0x00 || s`` (draw.md §3.1).

    Raises :class:`DrawError` ``invalid:snapshot`` for a bad draw id, ``invalid:secret`` for a
    secret that is not bytes.
    """
    check_id(draw_id, "draw")
    if not isinstance(secret, bytes):
        raise DrawError("invalid:secret", "the secret must be bytes")
    return COMMIT_TAG + draw_id.encode() + b"\x00" + secret


def commitment(draw_id: str, secret: bytes) -> str:
    """``hex(H(commitment_preimage(draw, s)))``, published before any entropy (draw.md §3.1).

    Raises as :func:`commitment_preimage`.
    """
    return hashlib.sha256(commitment_preimage(draw_id, secret)).hexdigest()


def witness_entropy(values: list[str]) -> bytes:
    """``E = C(list)`` of the witnesses' values in the order entered (draw.md §3.2).

    Raises :class:`DrawError` ``invalid:entropy`` unless ``values`` is a list of strings.
    """
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DrawError("invalid:entropy", "witness values must be a list of strings")
    try:
        return canonical(values)
    except CanonicalError as exc:
        raise DrawError("invalid:entropy", str(exc)) from None


def beacon_entropy(output_value: str) -> bytes:
    """``E`` = the pulse's ``outputValue``: 64 bytes from 128 lowercase hex digits (§3.2).

    Raises :class:`DrawError` ``invalid:entropy`` for any other text.
    """
    if not isinstance(output_value, str) or not _HEX128.fullmatch(output_value):
        raise DrawError("invalid:entropy", "a beacon value is 128 lowercase hex digits")
    return bytes.fromhex(output_value)


def lottery_entropy(key: str) -> bytes:
    """``E`` = the RFC 3797 key string as ASCII (§3.2, §7); ``invalid:lottery`` otherwise."""
    rfc3797.check_key_string(key)
    return key.encode("ascii")


def check_entropy_spec(entropy: object, algorithm: str) -> dict[str, Any]:
    """Check the announcement's ``entropy`` member (draw.md §3.1) and return it.

    rfc3797 mode requires ``public-lottery`` (§7). Raises :class:`DrawError` ``invalid:entropy``.
    """
    check_algorithm(algorithm)
    if not isinstance(entropy, dict) or entropy.get("kind") not in ENTROPY_KINDS:
        raise DrawError("invalid:entropy", f"entropy.kind must be one of {ENTROPY_KINDS}")
    kind = entropy["kind"]
    keys = {
        "witness": {"kind", "witnesses"},
        "beacon": {"kind", "source", "not_before"},
        "public-lottery": {"kind", "sources"},
        "none": {"kind"},
    }[kind]
    if set(entropy) != keys:
        raise DrawError("invalid:entropy", f"a {kind} entropy has exactly {sorted(keys)}")
    if kind == "witness":
        check_count(entropy["witnesses"], "entropy.witnesses", 1, "invalid:entropy")
    elif kind == "beacon":
        if entropy["source"] != BEACON_SOURCE:
            raise DrawError("invalid:entropy", f"entropy.source must be {BEACON_SOURCE!r}")
        if not isinstance(entropy["not_before"], str) or not TIME.fullmatch(entropy["not_before"]):
            raise DrawError("invalid:entropy", "entropy.not_before must be a ledger time")
    elif kind == "public-lottery":
        sources = entropy["sources"]
        if not isinstance(sources, list) or not sources:
            raise DrawError("invalid:entropy", "entropy.sources must be a non-empty list")
        if not all(isinstance(s, str) and s.strip() for s in sources):
            raise DrawError("invalid:entropy", "each entropy source is a non-empty description")
    if algorithm == RFC3797 and kind != "public-lottery":
        raise DrawError("invalid:entropy", "rfc3797 mode takes public-lottery entropy")
    return entropy


def entropy_bytes(entropy: dict[str, Any], entropy_value: object) -> bytes:
    """``E`` (draw.md §3.2) from the announced ``entropy`` and the revealed ``entropy_value``.

    witness: a list of exactly ``witnesses`` strings; beacon: 128 hex digits; public-lottery:
    an RFC 3797 key string with one part per announced source; none: ``""``.
    Raises :class:`DrawError` ``invalid:entropy`` (or ``invalid:lottery`` for a malformed key
    string).
    """
    check_entropy_spec(entropy, SCORE)
    kind = entropy["kind"]
    if kind == "witness":
        values = witness_entropy(entropy_value)  # type: ignore[arg-type]
        if len(entropy_value) != entropy["witnesses"]:  # type: ignore[arg-type]
            raise DrawError("invalid:entropy", f"{entropy['witnesses']} witness values expected")
        return values
    if kind == "beacon":
        return beacon_entropy(entropy_value)  # type: ignore[arg-type]
    if kind == "public-lottery":
        key = lottery_entropy(entropy_value)  # type: ignore[arg-type]
        if key.count(b"/") != len(entropy["sources"]):
            raise DrawError(
                "invalid:entropy", f"{len(entropy['sources'])} lottery sources expected"
            )
        return key
    if entropy_value != "":
        raise DrawError("invalid:entropy", 'entropy "none" has the value ""')
    return b""


def seed_preimage(draw_id: str, snapshot_hash_hex: str, secret: bytes, entropy: bytes) -> bytes:
    """``"expertdraw/seed/v1" || 0x00 || lp(utf8(draw)) || lp(bytes.fromhex(snapshot_hash))
    || lp(s) || lp(E)`` (draw.md §3.3).

    Raises :class:`DrawError` ``invalid:snapshot`` (draw id), ``invalid:seed`` (hash not 64
    lowercase hex digits) or ``invalid:secret`` / ``invalid:entropy`` (not bytes).
    """
    check_id(draw_id, "draw")
    if not isinstance(snapshot_hash_hex, str) or not _HEX64.fullmatch(snapshot_hash_hex):
        raise DrawError("invalid:seed", "snapshot_hash must be 64 lowercase hex digits")
    if not isinstance(secret, bytes):
        raise DrawError("invalid:secret", "the secret must be bytes")
    if not isinstance(entropy, bytes):
        raise DrawError("invalid:entropy", "the entropy must be bytes")
    return (
        SEED_TAG
        + lp(draw_id.encode())
        + lp(bytes.fromhex(snapshot_hash_hex))
        + lp(secret)
        + lp(entropy)
    )


def derive_seed(draw_id: str, snapshot_hash_hex: str, secret: bytes, entropy: bytes) -> bytes:
    """The draw's seed, ``H(seed_preimage(...))`` (draw.md §3.3); raises as
    :func:`seed_preimage`."""
    return hashlib.sha256(seed_preimage(draw_id, snapshot_hash_hex, secret, entropy)).digest()


def parse_seed(seed_hex: object) -> bytes:
    """The 32 seed bytes from a body's ``seed`` hex; ``invalid:seed`` otherwise."""
    if not isinstance(seed_hex, str) or not _HEX64.fullmatch(seed_hex):
        raise DrawError("invalid:seed", "seed must be 64 lowercase hex digits")
    return bytes.fromhex(seed_hex)
