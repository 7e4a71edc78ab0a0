"""C2SP signed notes, verifier keys and checkpoints (ledger.md §4)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from expertdraw.domain.checkpoint import Checkpoint, checkpoint_note, parse_checkpoint
from expertdraw.domain.notes import (
    NoteError,
    NoteSigner,
    VerifierKey,
    add_signatures,
    check_signatures,
    key_id,
    parse_note,
    sign_note,
    verify_note,
)

# golang.org/x/mod/sumdb/note, note_test.go: the PeterNeumann key and its signed note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
# transparency-dev/formats note tests: a verifier key whose base64 holds a '+'.
PLUS_KEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"


def test_rfc_8032_ed25519_test_1_is_reproduced_by_cryptography():
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = Ed25519PrivateKey.from_private_bytes(secret)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert key.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_the_go_sumdb_note_vector_verifies_and_is_reproduced():
    key = VerifierKey.parse(GO_VKEY)
    assert str(key) == GO_VKEY
    assert verify_note(GO_NOTE, [key]).text == GO_TEXT
    signer = NoteSigner.from_seed("PeterNeumann", GO_SEED)
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE


def test_verifier_key_strings_split_at_the_first_two_pluses_only():
    key = VerifierKey.parse(PLUS_KEY)
    assert key.name == "TEST" and key.key_id.hex() == "7997405c"
    assert str(key) == PLUS_KEY
    assert key.key_id == key_id("TEST", key.public_key)


@pytest.mark.parametrize(
    "text",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # key id does not match
        GO_VKEY.replace("+ARpc", "+AhpC"),  # not Ed25519 / other key
        GO_VKEY[:-1] + "X",  # base64 that does not re-encode
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann",
    ],
)
def test_bad_verifier_keys_are_refused(text):
    with pytest.raises(NoteError) as caught:
        VerifierKey.parse(text)
    assert caught.value.code == "note:key"


def test_unknown_keys_are_ignored_known_keys_must_verify_and_one_must_sign():
    log = NoteSigner.from_seed("log.example/a", bytes(32))
    other = NoteSigner.from_seed("other.example/x", bytes([1]) * 32)
    note = sign_note("hello\n", [log, other])
    assert verify_note(note, [log.verifier]).text == "hello\n"
    outcome = check_signatures(parse_note(note), [log.verifier])
    assert outcome.verified == (log.verifier,) and outcome.unknown == 1
    with pytest.raises(NoteError) as caught:
        verify_note(note, [NoteSigner.from_seed("third", bytes([2]) * 32).verifier])
    assert caught.value.code == "note:unsigned"
    forged = note.replace(note.split("\n")[2][-6:], "AAAAA=", 1)
    with pytest.raises(NoteError):
        verify_note(forged, [log.verifier])
    # same name, another key id: an unknown key (C2SP), so only "unsigned"
    impostor = NoteSigner.from_seed("log.example/a", bytes([3]) * 32)
    with pytest.raises(NoteError) as caught:
        verify_note(sign_note("hello\n", [impostor]), [log.verifier])
    assert caught.value.code == "note:unsigned"


def test_a_failing_known_signature_rejects_even_beside_a_good_one():
    log = NoteSigner.from_seed("log.example/a", bytes(32))
    good = sign_note("hello\n", [log])
    bad = good.splitlines(keepends=True)[-1]
    bad = bad[:-4] + ("A" if bad[-4] != "A" else "B") + bad[-3:]
    with pytest.raises(NoteError) as caught:
        verify_note(good + bad, [log.verifier])
    assert caught.value.code in ("note:signature", "note:base64")


def test_notes_split_at_the_last_blank_line_and_refuse_malformed_input():
    signer = NoteSigner.from_seed("n", bytes(32))
    note = sign_note("a\n\nb\n", [signer])
    assert parse_note(note).text == "a\n\nb\n"
    for broken in (
        note.rstrip("\n"),  # no final newline
        note.replace("— ", "-- "),  # not an em dash
        note.replace("\n\n", "\n \n", 1).replace("\n\n—", "\n—"),  # no blank line at all
        note.replace("b\n", "b\r\n"),  # control character
        note + "— n\n",  # malformed signature line
        note + note[note.index("\n—") + 1 :],  # a signature line twice
        note.encode()[:-3] + b"\xff=\n",  # not UTF-8
    ):
        with pytest.raises(NoteError):
            verify_note(broken, [signer.verifier])


def test_cosignatures_are_plain_ed25519_lines_over_the_same_text():
    log = NoteSigner.from_seed("log.example/a", bytes(32))
    supervisor = NoteSigner.from_seed("supervisor.example/U9", bytes([7]) * 32)
    note = add_signatures(sign_note("x\n", [log]), [supervisor])
    outcome = check_signatures(parse_note(note), [log.verifier, supervisor.verifier])
    assert outcome.verified == (log.verifier, supervisor.verifier) and not outcome.failed


def test_checkpoints_have_exactly_origin_size_root_and_time():
    signer = NoteSigner.from_seed("log.example/a", bytes(32))
    cp = Checkpoint("log.example", 12, bytes(range(32)), "2026-11-27T09:30:00.123Z")
    note = checkpoint_note(cp, [signer])
    assert note.startswith(
        "log.example\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        "time 2026-11-27T09:30:00.123Z\n\n— log.example/a "
    )
    assert parse_checkpoint(verify_note(note, [signer.verifier]).text) == cp
    for text in (
        "log.example\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime t\n",
        "log.example\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\ntime t\n",
        "log.example\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "log.example\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime t\nextra\n",
        "log.example\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nwhen t\n",
    ):
        with pytest.raises(NoteError):
            parse_checkpoint(text)
