"""NIST Randomness Beacon 2.0 pulses (cipher suite 0): signed message, checks, chain, fetching.

The signed message follows ``shared/vectors/nist-beacon/README.md`` exactly (4-byte length
prefixes, as the live service signs; not the 8-byte prefixes of the 2019 NISTIR 8213 draft).
Verification needs no clock: the certificate must be valid *at the pulse's timestamp*, so an
archived pulse still verifies after its certificate has expired. Hex letter case never matters;
:class:`Pulse` keeps every hex value in lower case.

Fetching pulses (off by default) lives in ``expertdraw.domain.beacon_source``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SOURCE_NAME = "nist-beacon-2.0"
LIST_TYPES: tuple[str, ...] = ("previous", "hour", "day", "month", "year")
HEX_PATTERN = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")


class BeaconError(ValueError):
    """A pulse that is malformed or does not verify, or a failed fetch.

    Codes: ``beacon:format``, ``beacon:certificate``, ``beacon:signature``, ``beacon:output``,
    ``beacon:chain``, ``beacon:too-early``, ``beacon:not-first``; when fetching also
    ``beacon:fetch`` and ``beacon:config``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ListValue:
    """One ``listValues`` entry: ``uri`` and ``type`` are not signed, ``value`` is."""

    uri: str
    type: str
    value: str


@dataclass(frozen=True)
class Pulse:
    """A parsed pulse; hex values in lower case, ``time_stamp`` exactly as in the JSON."""

    uri: str
    version: str
    cipher_suite: int
    period: int
    certificate_id: str
    chain_index: int
    pulse_index: int
    time_stamp: str
    local_random_value: str
    external_source_id: str
    external_status_code: int
    external_value: str
    list_values: tuple[ListValue, ...]
    precommitment_value: str
    status_code: int
    signature_value: str
    output_value: str

    @property
    def timestamp(self) -> datetime:
        """``time_stamp`` as an aware UTC datetime."""
        return datetime.fromisoformat(self.time_stamp)

    @property
    def period_delta(self) -> timedelta:
        """The beacon period (milliseconds in the pulse) as a timedelta."""
        return timedelta(milliseconds=self.period)

    @property
    def message(self) -> bytes:
        """The signed bytes (README, "What the beacon signs")."""
        parts = [
            _text(self.uri),
            _text(self.version),
            self.cipher_suite.to_bytes(4, "big"),
            self.period.to_bytes(4, "big"),
            _hexfield(self.certificate_id),
            self.chain_index.to_bytes(8, "big"),
            self.pulse_index.to_bytes(8, "big"),
            _text(self.time_stamp),
            _hexfield(self.local_random_value),
            _hexfield(self.external_source_id),
            self.external_status_code.to_bytes(4, "big"),
            _hexfield(self.external_value),
            *(_hexfield(self.list_value(kind).value) for kind in LIST_TYPES),
            _hexfield(self.precommitment_value),
            self.status_code.to_bytes(4, "big"),
        ]
        return b"".join(parts)

    @property
    def output(self) -> bytes:
        """``outputValue`` as 64 raw bytes."""
        return bytes.fromhex(self.output_value)

    def list_value(self, kind: str) -> ListValue:
        """The ``listValues`` entry of type ``kind`` (``previous``, ``hour``, ...)."""
        for entry in self.list_values:
            if entry.type == kind:
                return entry
        raise BeaconError("beacon:format", f"listValues has no {kind!r} entry")


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def _hexfield(value: str) -> bytes:
    data = bytes.fromhex(value)
    return len(data).to_bytes(4, "big") + data


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str = "pulse") -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BeaconError("beacon:format", f"{where}.{key} must be a {kind.__name__}")
    return value


def _uint(obj: Mapping[str, Any], key: str, size: int, where: str = "pulse") -> int:
    value = _get(obj, key, int, where)
    if not 0 <= value < 1 << (8 * size):
        raise BeaconError("beacon:format", f"{where}.{key} is outside a {size}-byte unsigned int")
    return value


def _hex(obj: Mapping[str, Any], key: str, size: int | None = 64, where: str = "pulse") -> str:
    value = _get(obj, key, str, where)
    if not HEX_PATTERN.fullmatch(value) or (size is not None and len(value) != 2 * size):
        wanted = f"{size} bytes of " if size else ""
        raise BeaconError("beacon:format", f"{where}.{key} must be {wanted}hex")
    return value.lower()


def _load_json(pulse_json: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(pulse_json, bytes | str):
        try:
            pulse_json = json.loads(pulse_json)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BeaconError("beacon:format", f"pulse is not JSON: {exc}") from None
    if not isinstance(pulse_json, Mapping):
        raise BeaconError("beacon:format", "pulse must be a JSON object")
    inner = pulse_json.get("pulse", pulse_json)
    if not isinstance(inner, Mapping):
        raise BeaconError("beacon:format", "pulse must be a JSON object")
    return inner


def parse_pulse(pulse_json: bytes | str | Mapping[str, Any]) -> Pulse:
    """Parse a pulse (with or without the outer ``{"pulse": ...}``) and check its shape.

    Raises:
        BeaconError: ``beacon:format`` naming the first bad field (also for a cipher suite
            other than 0 or a missing / repeated ``listValues`` type).
    """
    obj = _load_json(pulse_json)
    external = obj.get("external")
    if not isinstance(external, Mapping):
        raise BeaconError("beacon:format", "pulse.external must be an object")
    raw_list = obj.get("listValues")
    if not isinstance(raw_list, list) or not all(isinstance(e, Mapping) for e in raw_list):
        raise BeaconError("beacon:format", "pulse.listValues must be a list of objects")
    entries = tuple(
        ListValue(
            uri=_get(e, "uri", str, "listValues[]"),
            type=_get(e, "type", str, "listValues[]"),
            value=_hex(e, "value", where="listValues[]"),
        )
        for e in raw_list
    )
    if sorted(e.type for e in entries) != sorted(LIST_TYPES):
        raise BeaconError("beacon:format", f"listValues must have exactly the types {LIST_TYPES}")
    time_stamp = _get(obj, "timeStamp", str)
    try:
        if not _TIME.fullmatch(time_stamp):
            raise ValueError(time_stamp)
        datetime.fromisoformat(time_stamp)
    except ValueError:
        raise BeaconError(
            "beacon:format", "pulse.timeStamp must be a UTC time like 2026-08-31T19:04:00.000Z"
        ) from None
    pulse = Pulse(
        uri=_get(obj, "uri", str),
        version=_get(obj, "version", str),
        cipher_suite=_uint(obj, "cipherSuite", 4),
        period=_uint(obj, "period", 4),
        certificate_id=_hex(obj, "certificateId"),
        chain_index=_uint(obj, "chainIndex", 8),
        pulse_index=_uint(obj, "pulseIndex", 8),
        time_stamp=time_stamp,
        local_random_value=_hex(obj, "localRandomValue"),
        external_source_id=_hex(external, "sourceId", where="external"),
        external_status_code=_uint(external, "statusCode", 4, "external"),
        external_value=_hex(external, "value", where="external"),
        list_values=entries,
        precommitment_value=_hex(obj, "precommitmentValue"),
        status_code=_uint(obj, "statusCode", 4),
        signature_value=_hex(obj, "signatureValue", size=None),
        output_value=_hex(obj, "outputValue"),
    )
    if pulse.cipher_suite != 0:
        raise BeaconError("beacon:format", f"cipher suite {pulse.cipher_suite} is not supported")
    if pulse.period <= 0:
        raise BeaconError("beacon:format", "pulse.period must be positive")
    return pulse


def pulse_message(pulse: Mapping[str, Any] | Pulse) -> bytes:
    """The bytes a pulse's signature covers.

    Raises:
        BeaconError: ``beacon:format`` if a dict is not a well-formed pulse.
    """
    return (pulse if isinstance(pulse, Pulse) else parse_pulse(pulse)).message


def _public_key_for(pulse: Pulse, certificate_pem: bytes) -> rsa.RSAPublicKey:
    try:
        certificates = x509.load_pem_x509_certificates(certificate_pem)
    except ValueError as exc:
        raise BeaconError("beacon:certificate", f"cannot read the certificate: {exc}") from None
    for cert in certificates:
        der = cert.public_bytes(serialization.Encoding.DER)
        if hashlib.sha512(der).hexdigest() == pulse.certificate_id:
            break
    else:
        raise BeaconError("beacon:certificate", "no certificate has the pulse's certificateId")
    when = pulse.timestamp
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise BeaconError("beacon:certificate", "certificate not valid at the pulse's time")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BeaconError("beacon:certificate", "certificate key is not RSA")
    return key


def verify_pulse(pulse_json: bytes | str | Mapping[str, Any], certificate_pem: bytes) -> Pulse:
    """Parse a pulse and check its signature and output value.

    ``certificate_pem`` may hold several certificates; the one whose DER SHA-512 equals
    ``certificateId`` is used, and it must be valid at the pulse's timestamp (not "now").

    Raises:
        BeaconError: ``beacon:format``, ``beacon:certificate``, ``beacon:signature`` (RSA
            PKCS#1 v1.5 / SHA-512 over the message fails) or ``beacon:output``
            (``outputValue`` is not SHA-512(message || signature)).
    """
    pulse = parse_pulse(pulse_json)
    key = _public_key_for(pulse, certificate_pem)
    message = pulse.message
    signature = bytes.fromhex(pulse.signature_value)
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        raise BeaconError("beacon:signature", "the signature does not verify") from None
    if hashlib.sha512(message + signature).digest() != pulse.output:
        raise BeaconError("beacon:output", "outputValue is not SHA-512(message || signature)")
    return pulse


def verify_chain(previous: Pulse, pulse: Pulse) -> None:
    """Check that ``pulse`` directly follows ``previous`` in the same chain.

    Raises:
        BeaconError: ``beacon:chain`` naming the broken link (chain or pulse index, the
            ``previous`` entry's uri or value, the precommitment, or the one-period step).
    """
    if pulse.chain_index != previous.chain_index:
        raise BeaconError("beacon:chain", "pulses are from different chains")
    if pulse.pulse_index != previous.pulse_index + 1:
        raise BeaconError("beacon:chain", "pulseIndex does not follow")
    link = pulse.list_value("previous")
    if link.uri != previous.uri:
        raise BeaconError("beacon:chain", "previous uri does not match")
    if link.value != previous.output_value:
        raise BeaconError("beacon:chain", "previous value is not the earlier outputValue")
    revealed = hashlib.sha512(bytes.fromhex(pulse.local_random_value)).hexdigest()
    if revealed != previous.precommitment_value:
        raise BeaconError("beacon:chain", "localRandomValue does not match the precommitment")
    if pulse.period != previous.period or (
        pulse.timestamp - previous.timestamp != previous.period_delta
    ):
        raise BeaconError("beacon:chain", "timeStamps are not one period apart")


def check_pulse_time(pulse: Pulse, not_before: datetime) -> None:
    """Check that ``pulse`` is *the first* pulse at or after ``not_before`` (aware datetime):
    its time is at or after it, and one period earlier is before it.

    After a beacon outage the first pulse may come later than one period; such a pulse is
    rejected as ``beacon:not-first`` (the draw fails and is retried under a new id).

    Raises:
        BeaconError: ``beacon:too-early``, ``beacon:not-first``, or ``beacon:format`` for a
            naive ``not_before``.
    """
    if not_before.tzinfo is None:
        raise BeaconError("beacon:format", "not_before must be timezone-aware")
    when = pulse.timestamp
    if when < not_before:
        raise BeaconError("beacon:too-early", f"pulse time {pulse.time_stamp} is before not_before")
    if when - pulse.period_delta >= not_before:
        raise BeaconError("beacon:not-first", "an earlier pulse was already at or after not_before")
