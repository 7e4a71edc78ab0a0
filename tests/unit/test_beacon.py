"""NIST Randomness Beacon 2.0: the real pulses of shared/vectors/nist-beacon verify, chain, and
every tampering listed in the vectors' README is caught with the right code."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import expertdraw.domain.beacon as beacon_module
from expertdraw.domain.beacon import (
    BeaconError,
    Pulse,
    check_pulse_time,
    parse_pulse,
    pulse_message,
    verify_chain,
    verify_pulse,
)
from expertdraw.domain.beacon_source import (
    BeaconSource,
    HttpBeaconSource,
    beacon_source_from_url,
    pulse_for_announcement,
)

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "vectors" / "nist-beacon"
EARLIER = (VECTORS / "pulse-2-1921299.json").read_bytes()
LATER = (VECTORS / "pulse-2-1921300.json").read_bytes()
CERT = (VECTORS / "certificate-528943a5.pem").read_bytes()
CERT_ID = (
    "528943a555f5f8ca54423be6dfb95925a35c7b552046420e7d7cd072058a14d6"
    "536ad3a8e9754b6582f164a90b0cd86a65d659f5426a2659a947595d1c816c8c"
)
MESSAGE_SHA512 = {
    1921299: "7f2da6741f360b626a6ac6fa743dce465b08c54d13c1fefdd0a11ddcc044378737fd40144c84beab"
    "7914d025f2b2a6ddbee4f669d49898a53ae48e251c5907f1",
    1921300: "004dac9a1541838da8030de6792adc56fa915fb24b3ec04b8ea36fede7c75d7103902c819c9301f5"
    "954588b325ea5769cf9e5ef1cc9bc3f3526899acd545f213",
}
LATER_TIME = datetime(2026, 8, 31, 19, 4, tzinfo=UTC)


def load(raw: bytes) -> dict:
    return json.loads(raw)


def dump(obj: dict) -> bytes:
    return json.dumps(obj).encode()


def flip(hex_text: str, index: int) -> str:
    """Change the hex digit at ``index`` to a different digit (not just its letter case)."""
    digit = hex_text[index]
    new = "0" if digit.lower() != "0" else "1"
    return hex_text[:index] + new + hex_text[index + 1 :]


def with_path(pulse_json: bytes, path: tuple, change) -> bytes:
    """A copy of the pulse JSON with the value at ``path`` (keys under "pulse") changed."""
    obj = copy.deepcopy(load(pulse_json))
    target = obj["pulse"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = change(target[path[-1]])
    return dump(obj)


def code_of(call) -> str:
    with pytest.raises(BeaconError) as caught:
        call()
    return caught.value.code


# ----------------------------------------------------------------------------- vectors


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        (
            "pulse-2-1921299.json",
            "d7fdec432b4cc4b6bf48bf0c6fd685a8d0e8729093155805fcaba60e455eb226",
        ),
        (
            "pulse-2-1921300.json",
            "1e160ddf2bf6604d675563c484ca87f94c85eee308a6bc4ae3188a1a6774103f",
        ),
        (
            "certificate-528943a5.pem",
            "acd33ba715a14c1d2c1601983c38cb7e671de151c3536fdf25097f28f9533229",
        ),
    ],
)
def test_vector_files_are_the_recorded_bytes(name, sha256):
    assert hashlib.sha256((VECTORS / name).read_bytes()).hexdigest() == sha256


@pytest.mark.parametrize("raw", [EARLIER, LATER], ids=["1921299", "1921300"])
def test_both_real_pulses_verify(raw):
    pulse = verify_pulse(raw, CERT)
    assert pulse.certificate_id == CERT_ID
    assert pulse.chain_index == 2
    assert pulse.version == "2.0"
    assert pulse.period == 60000
    assert pulse.output_value == load(raw)["pulse"]["outputValue"].lower()
    assert len(pulse.output) == 64


@pytest.mark.parametrize("raw", [EARLIER, LATER], ids=["1921299", "1921300"])
def test_the_signed_message_matches_the_readme(raw):
    pulse = parse_pulse(raw)
    message = pulse_message(load(raw))
    assert message == pulse_message(load(raw)["pulse"]) == pulse_message(pulse) == pulse.message
    assert len(message) == 807
    assert message[:8] == bytes.fromhex("00000038") + b"http"
    assert message[-8:] == bytes.fromhex(pulse.precommitment_value)[-4:] + b"\x00\x00\x00\x00"
    assert hashlib.sha512(message).hexdigest() == MESSAGE_SHA512[pulse.pulse_index]


def test_the_later_pulse_chains_to_the_earlier_one():
    earlier, later = verify_pulse(EARLIER, CERT), verify_pulse(LATER, CERT)
    verify_chain(earlier, later)
    assert later.timestamp - earlier.timestamp == timedelta(minutes=1)


def test_the_certificate_is_the_one_named_by_certificate_id_and_has_expired_since():
    cert = x509.load_pem_x509_certificate(CERT)
    assert hashlib.sha512(cert.public_bytes(serialization.Encoding.DER)).hexdigest() == CERT_ID
    assert cert.not_valid_after_utc == datetime(2026, 9, 4, 23, 59, 59, tzinfo=UTC)


def test_verification_reads_no_clock():
    source = Path(beacon_module.__file__).read_text(encoding="utf-8")
    assert "now(" not in source and "today(" not in source and "time.time" not in source


# ------------------------------------------------------------------- negative checks

HEX_FIELDS = [
    ("localRandomValue",),
    ("precommitmentValue",),
    ("external", "value"),
    ("external", "sourceId"),
    *[("listValues", i, "value") for i in range(5)],
]


@pytest.mark.parametrize("raw", [EARLIER, LATER], ids=["1921299", "1921300"])
@pytest.mark.parametrize("path", HEX_FIELDS, ids=lambda p: ".".join(map(str, p)))
@pytest.mark.parametrize("index", [0, 77, 127])
def test_one_changed_hex_digit_of_a_signed_value_breaks_the_signature(raw, path, index):
    tampered = with_path(raw, path, lambda v: flip(v, index))
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:signature"


@pytest.mark.parametrize("index", [0, 500, 1023])
def test_one_changed_hex_digit_of_the_signature_is_rejected(index):
    tampered = with_path(LATER, ("signatureValue",), lambda v: flip(v, index))
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:signature"


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (("pulseIndex",), lambda v: v + 1),
        (("chainIndex",), lambda v: v + 1),
        (("period",), lambda v: v + 1),
        (("statusCode",), lambda v: v + 1),
        (("external", "statusCode"), lambda v: v + 1),
        (("timeStamp",), lambda v: "2026-08-31T19:04:00.001Z"),
        (("timeStamp",), lambda v: "2026-08-31T19:05:00.000Z"),
        (("uri",), lambda v: v + "0"),
        (("version",), lambda v: "2.1"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_a_changed_signed_field_breaks_the_signature(path, change):
    tampered = with_path(LATER, path, change)
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:signature"


@pytest.mark.parametrize("index", [0, 64, 127])
def test_one_changed_hex_digit_of_the_output_value_fails_the_output_check(index):
    tampered = with_path(LATER, ("outputValue",), lambda v: flip(v, index))
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:output"


def test_a_changed_local_random_value_of_the_later_pulse_breaks_the_precommitment_link():
    earlier = parse_pulse(EARLIER)
    tampered = parse_pulse(with_path(LATER, ("localRandomValue",), lambda v: flip(v, 5)))
    assert code_of(lambda: verify_chain(earlier, tampered)) == "beacon:chain"


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (("listValues", 0, "uri"), lambda v: v.replace("1921299", "1921298")),
        (("listValues", 0, "value"), lambda v: flip(v, 3)),
        (("pulseIndex",), lambda v: v + 1),
        (("chainIndex",), lambda v: 3),
        (("timeStamp",), lambda v: "2026-08-31T19:05:00.000Z"),
        (("period",), lambda v: 30000),
    ],
    ids=["previous-uri", "previous-value", "pulse-index", "chain-index", "time", "period"],
)
def test_a_broken_link_fails_the_chain_check(path, change):
    earlier = parse_pulse(EARLIER)
    later = parse_pulse(with_path(LATER, path, change))
    assert code_of(lambda: verify_chain(earlier, later)) == "beacon:chain"


def test_the_chain_goes_one_way():
    earlier, later = parse_pulse(EARLIER), parse_pulse(LATER)
    assert code_of(lambda: verify_chain(later, earlier)) == "beacon:chain"
    assert code_of(lambda: verify_chain(earlier, earlier)) == "beacon:chain"


def test_the_previous_uri_is_not_signed_but_the_chain_check_catches_it():
    tampered = with_path(LATER, ("listValues", 0, "uri"), lambda v: v + "x")
    later = verify_pulse(tampered, CERT)
    with pytest.raises(BeaconError, match="uri"):
        verify_chain(parse_pulse(EARLIER), later)


# -------------------------------------------------------------------- letter case


def _recase(obj, how):
    if isinstance(obj, dict):
        return {
            k: (how(v) if k in _HEX_KEYS and isinstance(v, str) else _recase(v, how))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_recase(v, how) for v in obj]
    return obj


_HEX_KEYS = {
    "certificateId",
    "localRandomValue",
    "sourceId",
    "value",
    "precommitmentValue",
    "signatureValue",
    "outputValue",
}


def _alternate(text: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))


@pytest.mark.parametrize("how", [str.lower, str.upper, _alternate], ids=["lower", "upper", "mixed"])
def test_letter_case_of_hex_does_not_matter(how):
    earlier = verify_pulse(dump(_recase(load(EARLIER), how)), CERT)
    later = verify_pulse(_recase(load(LATER), how), CERT)
    verify_chain(earlier, later)
    assert later == verify_pulse(LATER, CERT)
    assert later.message == parse_pulse(LATER).message
    assert later.output_value == later.output_value.lower()


# ------------------------------------------------------------------- certificates


def _self_signed(valid_from: datetime, valid_to: datetime) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-beacon")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_another_certificate_is_refused():
    other = _self_signed(datetime(2025, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    assert code_of(lambda: verify_pulse(LATER, other)) == "beacon:certificate"


def test_the_right_certificate_is_found_in_a_bundle_of_several():
    other = _self_signed(datetime(2025, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    assert verify_pulse(LATER, other + b"\n" + CERT).pulse_index == 1921300


def test_a_changed_certificate_id_is_refused():
    tampered = with_path(LATER, ("certificateId",), lambda v: flip(v, 0))
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:certificate"


@pytest.mark.parametrize("time", ["2026-09-05T00:00:00.000Z", "2025-08-27T23:59:00.000Z"])
def test_the_certificate_must_be_valid_at_the_pulse_time(time):
    tampered = with_path(LATER, ("timeStamp",), lambda v: time)
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:certificate"


@pytest.mark.parametrize("pem", [b"", b"not a certificate", CERT[:200]])
def test_an_unreadable_certificate_is_refused(pem):
    assert code_of(lambda: verify_pulse(LATER, pem)) == "beacon:certificate"


# ------------------------------------------------------------------------ format


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (("localRandomValue",), lambda v: v[:-2]),
        (("localRandomValue",), lambda v: v[:-1]),
        (("localRandomValue",), lambda v: v[:-1] + "g"),
        (("localRandomValue",), lambda v: v[:2] + " " + v[3:]),
        (("signatureValue",), lambda v: ""),
        (("outputValue",), lambda v: 12),
        (("pulseIndex",), lambda v: str(v)),
        (("pulseIndex",), lambda v: -1),
        (("pulseIndex",), lambda v: 2**64),
        (("statusCode",), lambda v: True),
        (("statusCode",), lambda v: 2**32),
        (("period",), lambda v: 0),
        (("cipherSuite",), lambda v: 1),
        (("timeStamp",), lambda v: "2026-08-31 19:04:00"),
        (("timeStamp",), lambda v: "2026-02-30T19:04:00.000Z"),
        (("timeStamp",), lambda v: "2026-08-31T19:04:00.000+08:00"),
        (("external",), lambda v: None),
        (("listValues",), lambda v: v[:4]),
        (("listValues",), lambda v: [*v, v[0]]),
        (("listValues", 4, "type"), lambda v: "previous"),
        (("listValues",), lambda v: {}),
        (("uri",), lambda v: None),
    ],
)
def test_a_malformed_pulse_is_a_format_error(path, change):
    tampered = with_path(LATER, path, change)
    assert code_of(lambda: verify_pulse(tampered, CERT)) == "beacon:format"


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"pulse": 3}', "\u00ff".encode("latin-1")])
def test_not_a_pulse_object_is_a_format_error(raw):
    assert code_of(lambda: parse_pulse(raw)) == "beacon:format"


def test_a_missing_field_is_a_format_error():
    obj = load(LATER)
    del obj["pulse"]["precommitmentValue"]
    assert code_of(lambda: verify_pulse(obj, CERT)) == "beacon:format"


def test_the_list_values_are_signed_in_type_order_not_json_order():
    obj = load(LATER)
    obj["pulse"]["listValues"].reverse()
    assert verify_pulse(obj, CERT).pulse_index == 1921300


# ----------------------------------------------------------------- pulse time


@pytest.mark.parametrize(
    ("not_before", "code"),
    [
        (datetime(2026, 8, 31, 19, 3, 0, 1000, tzinfo=UTC), None),
        (datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC), None),
        (datetime(2026, 8, 31, 19, 4, tzinfo=UTC), None),
        (datetime(2026, 9, 1, 3, 4, tzinfo=UTC) - timedelta(hours=8), None),
        (datetime(2026, 8, 31, 19, 4, 0, 1000, tzinfo=UTC), "beacon:too-early"),
        (datetime(2026, 8, 31, 19, 3, tzinfo=UTC), "beacon:not-first"),
        (datetime(2026, 8, 31, 18, 0, tzinfo=UTC), "beacon:not-first"),
        (datetime(2026, 8, 31, 19, 3, 30), "beacon:format"),
    ],
)
def test_the_pulse_must_be_the_first_at_or_after_not_before(not_before, code):
    pulse = parse_pulse(LATER)
    if code is None:
        check_pulse_time(pulse, not_before)
    else:
        assert code_of(lambda: check_pulse_time(pulse, not_before)) == code


# ------------------------------------------------------------------- sources


class MemorySource:
    """A beacon source serving the vector files from memory."""

    def __init__(self) -> None:
        self.asked: list[datetime] = []

    def fetch_pulse_at_or_after(self, t: datetime) -> bytes:
        self.asked.append(t)
        return LATER if t > datetime(2026, 8, 31, 19, 3, tzinfo=UTC) else EARLIER


def test_a_source_is_anything_with_fetch_pulse_at_or_after():
    assert isinstance(MemorySource(), BeaconSource)
    assert isinstance(HttpBeaconSource("http://127.0.0.1:9"), BeaconSource)


def test_pulse_for_announcement_checks_the_pulse_against_not_before():
    source = MemorySource()
    not_before = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)
    pulse, raw = pulse_for_announcement(source, not_before, CERT)
    assert (pulse.pulse_index, raw) == (1921300, LATER)
    assert source.asked == [not_before]
    late = datetime(2026, 8, 31, 19, 4, 0, 1000, tzinfo=UTC)
    assert code_of(lambda: pulse_for_announcement(source, late, CERT)) == "beacon:too-early"


def test_pulse_for_announcement_needs_a_certificate_or_a_source_that_fetches_one():
    not_before = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)
    assert code_of(lambda: pulse_for_announcement(MemorySource(), not_before)) == "beacon:config"


def test_fetching_is_off_unless_a_url_is_configured():
    assert beacon_source_from_url(None) is None
    assert beacon_source_from_url("") is None
    source = beacon_source_from_url("https://beacon.nist.gov/beacon/2.0/")
    assert isinstance(source, HttpBeaconSource)
    assert source.base_url == "https://beacon.nist.gov/beacon/2.0"
    for bad in ("file:///etc/passwd", "ftp://example.org/", "beacon.nist.gov"):
        assert code_of(lambda bad=bad: beacon_source_from_url(bad)) == "beacon:config"


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def beacon_server() -> Iterator[str]:
    """A local http.server that serves the vector files like the beacon 2.0 API."""
    ms = int(LATER_TIME.timestamp() * 1000)
    _Handler.routes = {
        f"/beacon/2.0/pulse/time/{ms}": LATER,
        f"/beacon/2.0/pulse/time/{ms - 60000}": EARLIER,
        f"/beacon/2.0/certificate/{CERT_ID}": CERT,
    }
    _Handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/beacon/2.0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_http_source_fetches_the_first_pulse_at_or_after_a_time(beacon_server):
    source = HttpBeaconSource(beacon_server, timeout=5)
    assert source.fetch_pulse_at_or_after(datetime(2026, 8, 31, 19, 3, 0, 1, tzinfo=UTC)) == LATER
    assert source.fetch_pulse_at_or_after(LATER_TIME) == LATER
    assert source.fetch_pulse_at_or_after(LATER_TIME - timedelta(minutes=1)) == EARLIER
    assert source.fetch_certificate(CERT_ID.upper()) == CERT
    ms = int(LATER_TIME.timestamp() * 1000)
    assert _Handler.seen[:3] == [
        f"/beacon/2.0/pulse/time/{ms}",
        f"/beacon/2.0/pulse/time/{ms}",
        f"/beacon/2.0/pulse/time/{ms - 60000}",
    ]


def test_a_pulse_fetched_over_http_verifies_with_the_fetched_certificate(beacon_server):
    source = beacon_source_from_url(beacon_server)
    assert source is not None
    not_before = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)
    pulse, raw = pulse_for_announcement(source, not_before)
    assert isinstance(pulse, Pulse)
    assert raw == LATER
    assert pulse.output == bytes.fromhex(load(LATER)["pulse"]["outputValue"])


def test_http_errors_are_fetch_errors(beacon_server):
    source = HttpBeaconSource(beacon_server, timeout=5)
    missing = datetime(2030, 1, 1, tzinfo=UTC)
    assert code_of(lambda: source.fetch_pulse_at_or_after(missing)) == "beacon:fetch"
    naive = datetime(2026, 8, 31, 19, 4)
    assert code_of(lambda: source.fetch_pulse_at_or_after(naive)) == "beacon:format"
    assert code_of(lambda: source.fetch_certificate("../etc")) == "beacon:format"


def test_an_unreachable_server_is_a_fetch_error():
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as server:
        port = server.server_address[1]
    source = HttpBeaconSource(f"http://127.0.0.1:{port}", timeout=5)
    assert code_of(lambda: source.fetch_pulse_at_or_after(LATER_TIME)) == "beacon:fetch"
