"""Personal data is encrypted at rest and found by keyed hash."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Expert, Region
from expertdraw.personal_data import PersonalDataError, Protector, protector

ID_NUMBER = "53060219800101001X"
PHONE = "13987012345"


def _expert() -> Expert:
    return Expert(
        code="E0000001",
        name="张三",
        id_number=ID_NUMBER,
        id_number_hash=protector().lookup_hash(ID_NUMBER),
        phone=PHONE,
        phone_hash=protector().lookup_hash(PHONE),
        home_region="530602",
        title="高级工程师",
        kind="technical",
        status="active",
    )


def test_encrypted_fields_round_trip_and_are_unreadable_in_the_table(app):
    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    db.session.add(_expert())
    db.session.commit()
    db.session.expunge_all()

    expert = db.session.scalars(sa.select(Expert)).one()
    assert expert.id_number == ID_NUMBER
    assert expert.phone == PHONE

    raw_id, raw_phone = db.session.execute(sa.text("SELECT id_number, phone FROM experts")).one()
    for raw, plain in ((bytes(raw_id), ID_NUMBER), (bytes(raw_phone), PHONE)):
        assert plain.encode() not in raw
        assert len(raw) >= len(plain) + 12 + 16  # nonce and tag


def test_names_are_encrypted_and_still_found_by_part(app):
    """A name is personal data (ledger.md §1): ciphertext in the table, and the admin's
    search by part of a name still finds it (it decrypts the names it reads)."""
    from expertdraw.services import experts

    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    db.session.add(_expert())
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT name FROM experts")).scalar_one()
    assert "张" not in raw and "张三".encode() not in base64.b64decode(raw)
    assert [row.code for row in experts.search("三")] == ["E0000001"]
    assert [row.name for row in experts.search("e00000")] == ["张三"]
    assert experts.search("李") == []
    assert experts.search("三", status="suspended") == []


def test_a_penalty_note_is_encrypted(app):
    from datetime import date

    from expertdraw.models import Penalty

    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    expert = _expert()
    db.session.add(expert)
    db.session.flush()
    note = "私下接触投标人，列入黑名单"
    db.session.add(
        Penalty(expert_id=expert.id, kind="blacklist", start=date(2026, 1, 5), note=note)
    )
    db.session.commit()
    db.session.expunge_all()
    assert db.session.scalars(sa.select(Penalty.note)).one() == note
    raw = bytes(db.session.execute(sa.text("SELECT note FROM penalties")).scalar_one())
    assert note.encode() not in raw and len(raw) >= len(note.encode()) + 12 + 16


def test_lookup_by_keyed_hash_finds_the_expert(app):
    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    db.session.add(_expert())
    db.session.commit()
    found = db.session.scalars(
        sa.select(Expert).where(
            Expert.id_number_hash == protector().lookup_hash(" 53060219800101001x")
        )
    ).one()
    assert found.code == "E0000001"


def test_ciphertext_does_not_decrypt_under_another_key():
    blob = Protector(b"\x01" * 32).encrypt(ID_NUMBER)
    with pytest.raises(PersonalDataError):
        Protector(b"\x02" * 32).decrypt(blob)


def test_same_value_encrypts_differently_each_time():
    p = Protector(b"\x01" * 32)
    assert p.encrypt(PHONE) != p.encrypt(PHONE)
    assert p.lookup_hash(PHONE) == p.lookup_hash(PHONE)


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    import stat

    from expertdraw import create_app

    path = tmp_path / "private.db"
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(tmp_path)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_process_without_the_key_refuses_to_make_one_for_a_database_with_personal_data(
    app, app_config, tmp_path
):
    """Started from another folder (a scheduler "on any host"), a process found no data.key:
    it made its own, encrypted with it what it wrote, and let the same identity in twice."""
    from expertdraw import create_app
    from expertdraw.config import ConfigError

    fresh = tmp_path / "empty-instance"
    fresh.mkdir()
    create_app({**app_config, "INSTANCE_PATH": str(fresh)})  # no experts yet: a key is made
    assert (fresh / "data.key").is_file()
    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    db.session.add(_expert())
    db.session.commit()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="EXPERTDRAW_DATA_KEY"):
        create_app({**app_config, "INSTANCE_PATH": str(elsewhere)})
    assert not (elsewhere / "data.key").exists()
    key = (fresh / "data.key").read_text().strip()
    create_app({**app_config, "INSTANCE_PATH": str(elsewhere), "DATA_KEY": key})  # given: fine


@pytest.mark.parametrize("content", ["not a key!!\n", "c2hvcnQ\n"])
def test_a_damaged_data_key_file_is_a_config_error_naming_the_file(tmp_path, content):
    """A truncated or edited key file stops the start with the file named, not a decoding
    traceback."""
    from expertdraw import create_app
    from expertdraw.config import ConfigError

    (tmp_path / "data.key").write_text(content)
    with pytest.raises(ConfigError, match=r"data\.key"):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
                "INSTANCE_PATH": str(tmp_path),
                "SECRET_KEY": "x",
                "TESTING": True,
            }
        )
