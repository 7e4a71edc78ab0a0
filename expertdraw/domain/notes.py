"""C2SP signed notes (ledger.md §4) with Ed25519 keys; checkpoints are in ``checkpoint``.

* ``key_id = H(name || 0x0A || 0x01 || pubkey32)[0:4]``; the verifier key string is
  ``name + "+" + hex(key_id) + "+" + base64(0x01 || pubkey32)``, parsed by splitting at the
  first two ``+`` only.
* A note is its text (ending in a newline), a blank line, and signature lines
  ``"— " name " " base64(key_id || signature)``; it is split at its *last* blank line and all
  base64 is strict (it must re-encode to the same text).
* Verification follows c2sp.org/signed-note: lines whose (name, key id) pair is not a known
  key are ignored; every line of a known key must verify; at least one must.
* Cosignatures by supervisors are plain Ed25519 signed-note lines (signature type 0x01) over
  the same note text under the supervisor's own key name, *not* the timestamped
  ``cosignature/v1`` type 0x04 of c2sp.org/tlog-cosignature: one signature type for every
  line keeps independent verifiers to the single algorithm ledger.md describes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 100
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE = re.compile(r"\s").search  # exactly the characters for which str.isspace() holds


class NoteError(ValueError):
    """A malformed or unverifiable note or key.

    Codes: ``note:key`` (bad key name or verifier key string), ``note:format`` (malformed
    note or checkpoint), ``note:base64`` (base64 that is not strict), ``note:signature`` (a
    known key's signature fails), ``note:unsigned`` (no known key signed).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def b64decode_strict(text: str, what: str = "base64") -> bytes:
    """Decode standard padded base64 that must re-encode to exactly ``text``.

    Raises:
        NoteError: ``note:base64``.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("note:base64", f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("note:base64", f"{what} is not canonical base64")
    return raw


def b64encode(raw: bytes) -> str:
    """Standard padded base64 as text."""
    return base64.b64encode(raw).decode("ascii")


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name: non-empty, no Unicode spaces, no ``+``, no
    control characters.

    Raises:
        NoteError: ``note:key``.
    """
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or _SPACE(name)
        or _CONTROL.search(name)
    ):
        raise NoteError("note:key", f"invalid key name {name!r}")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """``H(name || 0x0A || 0x01 || pubkey32)[0:4]`` for an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key; ``str()`` gives the verifier key string."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False, compare=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("note:key", "an Ed25519 public key is 32 bytes")
        try:
            public = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise NoteError("note:key", f"not an Ed25519 public key: {exc}") from None
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))
        object.__setattr__(self, "_key", public)

    def __str__(self) -> str:
        raw = bytes([ALG_ED25519]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{b64encode(raw)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse a verifier key string (split at the first two ``+`` only).

        Raises:
            NoteError: ``note:key`` for a malformed string, another algorithm, or a key id
                that does not match the name and key.
        """
        parts = text.split("+", 2) if isinstance(text, str) else []
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError("note:key", f"malformed verifier key {text!r}")
        name, hex_id, encoded = parts
        try:
            raw = b64decode_strict(encoded, "verifier key")
        except NoteError as exc:
            raise NoteError("note:key", str(exc)) from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("note:key", "verifier key is not an Ed25519 key")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id:
            raise NoteError("note:key", f"key id {hex_id} does not match key {name}")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """A named Ed25519 private key that signs note texts."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Wrap ``private_key`` under key name ``name``.

        Raises:
            NoteError: ``note:key`` for an invalid name.
        """
        raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = VerifierKey(name, raw)
        self.name = name
        self._private = private_key

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """A signer from a 32-byte Ed25519 seed (RFC 8032 secret key)."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self.verifier.key_id

    def private_seed(self) -> bytes:
        """The 32-byte RFC 8032 secret key (to hand the key to a signing process)."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def signature_line(self, text: str) -> str:
        """The note signature line (with its newline) for note text ``text``."""
        raw = self.key_id + self.sign(text.encode("utf-8"))
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(raw)}\n"


@dataclass(frozen=True)
class NoteSignature:
    """One parsed signature line."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("note:format", f"not a signature line: {line[:40]!r}")
    parts = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise NoteError("note:format", f"malformed signature line: {line[:40]!r}")
    try:
        name = check_key_name(parts[0])
    except NoteError as exc:
        raise NoteError("note:format", str(exc)) from None
    raw = b64decode_strict(parts[1], "signature")
    if len(raw) < 5:
        raise NoteError("note:format", "signature is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note: split at the last blank line, strict base64, C2SP syntax.

    Raises:
        NoteError: ``note:format`` (not UTF-8, control characters, no blank line, malformed,
            repeated or too many signature lines) or ``note:base64``.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note:format", "note is not valid UTF-8") from None
    if _CONTROL.search(data):
        raise NoteError("note:format", "note holds a control character")
    cut = data.rfind("\n\n")
    if cut < 0:
        raise NoteError("note:format", "note has no blank line before its signatures")
    text, rest = data[: cut + 1], data[cut + 2 :]
    if not rest.endswith("\n"):
        raise NoteError("note:format", "note does not end with a newline")
    lines = rest[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("note:format", f"more than {MAX_SIGNATURES} signature lines")
    if len(set(lines)) != len(lines):  # ledger.md §5: a duplicated line must fail the audit
        raise NoteError("note:format", "a signature line appears twice")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer.

    Raises:
        NoteError: ``note:format`` if ``text`` is empty, does not end with a newline, holds a
            blank line at its end or a control character, or there is no signer.
    """
    if not text.endswith("\n") or text.startswith("\n") or text.endswith("\n\n"):
        raise NoteError("note:format", "note text must be non-empty lines ending in a newline")
    if _CONTROL.search(text) or not signers:
        raise NoteError("note:format", "note text holds a control character, or no signer")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def add_signatures(note: str, signers: Sequence[NoteSigner]) -> str:
    """Append signature lines (cosignatures) over the same note text.

    Raises:
        NoteError: as :func:`parse_note`.
    """
    parsed = parse_note(note)
    return note + "".join(s.signature_line(parsed.text) for s in signers)


@dataclass(frozen=True)
class NoteCheck:
    """Outcome of checking a note's signatures against known keys, without judging it."""

    verified: tuple[VerifierKey, ...]
    failed: tuple[VerifierKey, ...]
    unknown: int


def check_signatures(note: Note, keys: Iterable[VerifierKey]) -> NoteCheck:
    """Verify every signature line whose (name, key id) is a known key; count the others."""
    known = {(k.name, k.key_id): k for k in keys}
    message = note.text.encode("utf-8")
    verified: list[VerifierKey] = []
    failed: list[VerifierKey] = []
    unknown = 0
    for sig in note.signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            unknown += 1
        elif len(sig.signature) == 64 and key.verify(message, sig.signature):
            verified.append(key)
        else:
            failed.append(key)
    return NoteCheck(tuple(verified), tuple(failed), unknown)


def verify_note(note: Note | bytes | str, keys: Iterable[VerifierKey]) -> Note:
    """Parse (if needed) and verify a note as c2sp.org/signed-note says; return it.

    Raises:
        NoteError: as :func:`parse_note`; ``note:signature`` if a known key's line fails;
            ``note:unsigned`` if no known key signed.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    outcome = check_signatures(parsed, keys)
    if outcome.failed:
        raise NoteError("note:signature", f"signature of {outcome.failed[0].name} fails")
    if not outcome.verified:
        raise NoteError("note:unsigned", "no known key signed the note")
    return parsed
