"""Appending to the signed ledger, inside the caller's transaction.

Appends are serialised so ``seq`` has no gaps and ``prev`` never forks, also with several app
processes: PostgreSQL takes a transaction-level advisory lock, SQLite's transactions begin
IMMEDIATE (one writer at a time). The tree is kept incrementally: each append stores the
perfect subtrees it completes (``ledger_nodes``), so appending costs O(log n) and proofs need
O(log n) look-ups, never a rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from .. import clock
from ..domain import ledger as dl
from ..domain import merkle
from ..domain.checkpoint import Checkpoint as CheckpointText
from ..domain.checkpoint import checkpoint_note
from ..domain.merkle_range import CompactRange
from ..domain.notes import NoteSigner
from ..extensions import db
from ..input_text import carries_personal_data, has_control
from ..models import Checkpoint, LedgerEntry, LedgerNode, SigningKey
from . import keys
from .errors import ServiceError

T = TypeVar("T")
LOCK_KEY = 0x6564_6C67  # "edlg": the ledger's advisory lock
ZERO_PREV = "0" * 64
SYSTEM = {"role": "system", "id": "scheduler"}


@dataclass(frozen=True)
class Head:
    """The last entry: its ``seq``, leaf hash and time."""

    seq: int
    leaf: str
    time: str


@dataclass
class _Tail:
    """What the next append needs, cached for the rest of the transaction that holds the lock:
    the last entry and the tree's frontier. Dropped when the transaction ends."""

    seq: int
    leaf: str
    time: str
    frontier: CompactRange


_TAIL = "expertdraw.ledger.tail"
_LOCKED = "expertdraw.ledger.locked"
_SIGNER = "expertdraw.ledger.signer"
_PENDING = "expertdraw.ledger.pending"
_APPENDED = "expertdraw.ledger.appended"  # this transaction appended since its last checkpoint
_CHECKPOINTS = "expertdraw.ledger.checkpoints"  # issued, written with the pending entries


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        for key in (_TAIL, _LOCKED, _SIGNER, _PENDING, _APPENDED, _CHECKPOINTS):
            session.info.pop(key, None)


def _write_pending(session: Session) -> None:
    """Insert the entries and nodes appended since the last write, a few statements for all.

    Appends run under the lock, so they are kept as rows and written in one statement on
    PostgreSQL, one executemany per table on SQLite, rather than through the ORM one object
    at a time. They are written before the session runs any query (so a query in the same
    transaction sees them) and before it commits.
    """
    pending = session.info.pop(_PENDING, None)
    checkpoints = session.info.pop(_CHECKPOINTS, None)
    if not pending and not checkpoints:
        return
    connection = session.connection()
    entries, nodes = pending or ([], [])
    if connection.dialect.name == "postgresql":
        params = _json_params(entries, nodes)
        params["checkpoints"] = json.dumps(checkpoints or [], separators=(",", ":"))
        connection.execute(_JSON_INSERT, params)
        return
    for table, rows in ((LedgerEntry.__table__, entries), (LedgerNode.__table__, nodes)):
        if rows:
            names = list(rows[0])
            connection.exec_driver_sql(
                _qmark_insert(table.name, names), [tuple(row[n] for n in names) for row in rows]
            )


def _qmark_insert(table: str, names: list[str]) -> str:
    """``INSERT INTO table (names) VALUES (?, ...)`` for the SQLite driver's executemany."""
    columns = ", ".join(f'"{name}"' for name in names)
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in names)})"


# PostgreSQL: entries and nodes in one statement whatever their number, each list passed as
# one JSON text (encoded in C, parsed by the server), so the statement is the same every time
# (prepared once per connection) and no parameter needs escaping on the client.
_ENTRY_COLUMNS = {
    "seq": "integer",
    "type": "varchar",
    "time": "varchar",
    "draw_id": "varchar",
    "leaf": "varchar",
    "key_id": "varchar",
    "record": "text",
}


def _recordset(columns: dict[str, str]) -> str:
    return ", ".join(f'"{name}" {kind}' for name, kind in columns.items())


_JSON_INSERT = sa.text(
    "WITH entries AS (INSERT INTO ledger_entries ("
    + ", ".join(f'"{name}"' for name in _ENTRY_COLUMNS)
    + ") SELECT * FROM json_to_recordset(CAST(:entries AS json)) AS e("
    + _recordset(_ENTRY_COLUMNS)
    + ")), "
    # The checkpoints issued since (issue_checkpoint(..., with_entries=True)), usually none:
    # the checkpoint that covers a transaction's entries costs no round trip of its own.
    "checkpoints AS (INSERT INTO checkpoints (size, root, note, issued_at) "
    "SELECT c.size, c.root, c.note, CAST(c.issued_at AS timestamp) "
    "FROM json_to_recordset(CAST(:checkpoints AS json)) AS c("
    "size integer, root varchar, note text, issued_at text)) "
    'INSERT INTO ledger_nodes ("level", "index", "hash") '
    "SELECT n.level, n.\"index\", decode(n.hash, 'hex') "
    'FROM json_to_recordset(CAST(:nodes AS json)) AS n("level" integer, "index" integer, hash text)'
)


def _json_params(entries: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "entries": json.dumps(entries, ensure_ascii=False, separators=(",", ":")),
        "nodes": json.dumps(
            [{"level": n["level"], "index": n["index"], "hash": n["hash"].hex()} for n in nodes],
            separators=(",", ":"),
        ),
    }


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: Any) -> None:
    if _PENDING in state.session.info:
        _write_pending(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_pending(session)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, context: Any) -> None:
    _write_pending(session)


def lock() -> None:
    """Serialise ledger writers until the end of the current transaction.

    On PostgreSQL the lock and the tail come in one round trip (``expertdraw_ledger_tail``,
    migration 0005): the lock is held until commit, so every round trip under it is time
    that no other writer can use.
    """
    if db.session.info.get(_LOCKED):
        return
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    rows = db.session.execute(_LOCK_TAIL_QUERY, {"k": LOCK_KEY}).all() if postgresql else None
    db.session.info[_LOCKED] = True
    if rows is not None:
        _cache_tail(rows)


# One round trip under the lock: the last entry, the frontier nodes of the tree it ends (for a
# tree of n leaves, one node per set bit l of n, at index (n >> l) - 1) and the current key.
# PostgreSQL reads the same in expertdraw_ledger_tail (migration 0005), after taking the lock.
_TAIL_QUERY = sa.text(
    "WITH head AS (SELECT seq, leaf, time FROM ledger_entries ORDER BY seq DESC LIMIT 1), "
    "levels(level) AS (VALUES "
    + ", ".join(f"({level})" for level in range(63))
    + ") SELECT head.seq, head.leaf, head.time, levels.level, ledger_nodes.hash, "
    "(SELECT verifier FROM signing_keys WHERE to_seq IS NULL ORDER BY id DESC LIMIT 1) "
    "FROM head JOIN levels ON ((CAST(head.seq AS BIGINT) + 1) >> levels.level) & 1 = 1 "
    "LEFT JOIN ledger_nodes ON ledger_nodes.level = levels.level "
    'AND ledger_nodes."index" = ((CAST(head.seq AS BIGINT) + 1) >> levels.level) - 1 '
    "ORDER BY levels.level DESC"
)


_LOCK_TAIL_QUERY = sa.text("SELECT * FROM expertdraw_ledger_tail(:k)")
_LOCK_TAIL_DRAW_QUERY = sa.text("SELECT * FROM expertdraw_ledger_tail_draw(:k, :low, :high)")


def lock_with_last_draw(low: str, high: str) -> tuple[bool, str | None]:
    """:func:`lock`, and on PostgreSQL, in the same round trip, the last root draw id from
    ``low`` to ``high`` read under the lock (``expertdraw_ledger_tail_draw``, migration
    0008): ``(True, id or None)``. ``(False, None)`` where it was not read (SQLite, the lock
    already held, an empty log): the caller reads it itself, under the lock."""
    if db.session.info.get(_LOCKED) or db.session.get_bind().dialect.name != "postgresql":
        lock()
        return False, None
    bounds = {"k": LOCK_KEY, "low": low, "high": high}
    rows = db.session.execute(_LOCK_TAIL_DRAW_QUERY, bounds).all()
    db.session.info[_LOCKED] = True
    _cache_tail([row[:6] for row in rows])
    return (True, rows[0][6]) if rows else (False, None)


def _tail() -> _Tail | None:
    """The tail cached in this transaction, or read in one query under the lock."""
    cached = db.session.info.get(_TAIL)
    if cached is not None:
        return cached
    return _cache_tail(db.session.execute(_TAIL_QUERY).all())


def _cache_tail(rows: list[Any]) -> _Tail | None:
    """Keep the tail read by the tail query (rows of seq, leaf, time, level, hash, verifier)
    for the rest of the transaction, with the signer of the current key when it is known."""
    if not rows:
        return None
    seq, leaf, time, _level, _hash, verifier = rows[0]
    missing = [row[3] for row in rows if row[4] is None]
    if missing:
        raise merkle.MerkleError("merkle:range", f"no stored node at level {missing[0]}")
    tail = _Tail(seq, leaf, time, CompactRange(seq + 1, [bytes(row[4]) for row in rows]))
    db.session.info[_TAIL] = tail
    if verifier is not None and _SIGNER not in db.session.info:
        known = keys.known_signer(verifier)
        if known is not None:
            db.session.info[_SIGNER] = known
    return tail


def head() -> Head | None:
    """The last entry, or None for an empty log."""
    row = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.leaf, LedgerEntry.time)
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).first()
    return Head(row.seq, row.leaf, row.time) if row else None


def size() -> int:
    """Number of entries."""
    last = head()
    return last.seq + 1 if last else 0


def _get_node(level: int, index: int) -> bytes:
    value = db.session.scalar(
        sa.select(LedgerNode.hash).where(LedgerNode.level == level, LedgerNode.index == index)
    )
    if value is None:
        raise merkle.MerkleError("merkle:range", f"no stored node ({level}, {index})")
    return bytes(value)


def _with_nodes(compute: Callable[[merkle.GetNode], T]) -> T:
    """Run a root or proof computation with every stored node it needs read in one query.

    Which nodes a computation asks for depends only on the sizes, never on the hashes, so a
    first pass with placeholder hashes names them all.
    """
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return bytes(merkle.HASH_SIZE)

    compute(record)
    if not wanted:
        return compute(_get_node)
    found = {
        (level, index): bytes(value)
        for level, index, value in db.session.execute(
            sa.select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(
                sa.tuple_(LedgerNode.level, LedgerNode.index).in_(set(wanted))
            )
        )
    }

    def lookup(level: int, index: int) -> bytes:
        value = found.get((level, index))
        if value is None:
            raise merkle.MerkleError("merkle:range", f"no stored node ({level}, {index})")
        return value

    return compute(lookup)


#: (database URL, origin) pairs this process has found to match the log's own origin.
_ORIGINS_CHECKED: set[tuple[str, str]] = set()


def origin() -> str:
    """The log's origin from ``LOG_ORIGIN``, checked once per process against the origin of
    ``log.created``: entries and checkpoints under another name would never verify again,
    and the log is append-only, so a changed setting stops every write instead.

    Raises:
        dl.LedgerError: ``ledger:origin`` naming both origins.
    """
    configured = current_app.config["LOG_ORIGIN"]
    checked = (str(db.engine.url), configured)
    if checked in _ORIGINS_CHECKED:
        return configured
    record = db.session.scalar(sa.select(LedgerEntry.record).where(LedgerEntry.seq == 0))
    if record is not None:
        created = json.loads(record)["entry"]["body"]["origin"]
        if created != configured:
            raise dl.LedgerError(
                "ledger:origin",
                f"EXPERTDRAW_LOG_ORIGIN is {configured!r} but the log was created as "
                f"{created!r}; set it back: the log's origin never changes",
            )
        _ORIGINS_CHECKED.add(checked)
    return configured


def _signer() -> NoteSigner:
    """The current key's signer, looked up once per transaction."""
    signer = db.session.info.get(_SIGNER)
    if signer is None:
        with db.session.no_autoflush:
            row = keys.current_row()
        if row is None:
            raise keys.SigningKeyError("the log has no signing key; run `flask init`")
        signer = db.session.info[_SIGNER] = keys.cached_signer(row)
    return signer


def _store(signed: dl.SignedEntry, draw_id: str | None, tail: _Tail | None) -> None:
    entry = signed.entry
    entries, nodes = db.session.info.setdefault(_PENDING, ([], []))
    entries.append(
        {
            "seq": entry["seq"],
            "type": entry["type"],
            "time": entry["time"],
            "draw_id": draw_id,
            "leaf": signed.leaf.hex(),
            "key_id": signed.key_id.hex(),
            "record": signed.line().decode("utf-8").rstrip("\n"),
        }
    )
    frontier = tail.frontier if tail is not None else CompactRange()
    for node in frontier.append(signed.leaf):
        nodes.append({"level": node.level, "index": node.index, "hash": node.hash})
    db.session.info[_TAIL] = _Tail(entry["seq"], signed.leaf.hex(), entry["time"], frontier)
    db.session.info[_APPENDED] = True


def _time_after(previous: str | None, now: datetime) -> str:
    stamp = dl.format_time(now)
    return previous if previous is not None and previous > stamp else stamp


def append(
    kind: str,
    body: dict[str, Any],
    actor: dict[str, str],
    *,
    draw_id: str | None = None,
    now: datetime | None = None,
    signer: NoteSigner | None = None,
) -> dict[str, Any]:
    """Append one signed entry in the current transaction and return it.

    Raises:
        LedgerError: ``ledger:entry`` when the entry is malformed (nothing is written).
        SigningKeyError: when the signing key is unavailable.
    """
    lock()
    last = _tail()
    if last is None:
        raise dl.LedgerError("ledger:empty", "the log is not created yet; run `flask init`")
    now = now or clock.now()
    signed = dl.sign_new(
        signer or _signer(),
        log=origin(),
        seq=last.seq + 1,
        time=_time_after(last.time, now),
        type=kind,
        actor=actor,
        prev=last.leaf,
        body=body,
    )
    _store(signed, draw_id, last)
    return signed.entry


def create_log(now: datetime | None = None) -> bool:
    """Create the log if it is empty: a key, ``log.created`` at seq 0, a checkpoint.

    Returns True if it created the log.
    """
    lock()
    if head() is not None:
        return False
    now = now or clock.now()
    signer = keys.generate(now)
    keys.register(signer, 0, now)
    origin = current_app.config["LOG_ORIGIN"]
    entry = dl.make_entry(
        log=origin,
        seq=0,
        time=dl.format_time(now),
        type="log.created",
        actor=SYSTEM,
        prev=ZERO_PREV,
        body={"origin": origin, "key": str(signer.verifier)},
    )
    _store(dl.sign(entry, signer), None, None)
    issue_checkpoint(now, signers=[signer])
    return True


def root(tree_size: int) -> bytes:
    """``root(n)`` from the stored subtree hashes."""
    return _with_nodes(lambda get: merkle.root_at(tree_size, get))


def issue_checkpoint(
    now: datetime | None = None,
    signers: list[NoteSigner] | None = None,
    *,
    with_entries: bool = False,
) -> Checkpoint:
    """Sign and store a checkpoint of the whole log in the current transaction.

    ``with_entries``: on PostgreSQL the row is written with the transaction's pending
    entries, in their statement, at the next flush or query or at the commit; the row
    returned then has no id and is not in the session (for a caller that only needs the
    checkpoint issued, under the lock, at the least cost)."""
    lock()
    last = _tail()
    if last is None:
        raise dl.LedgerError("ledger:empty", "the log is not created yet")
    if not db.session.info.get(_APPENDED):  # after an append no checkpoint can cover the tail
        latest = latest_checkpoint()
        if latest is not None and latest.size == last.seq + 1:
            return latest
    tree_size = last.seq + 1
    tree_root = last.frontier.root()
    text = CheckpointText(origin(), tree_size, tree_root, last.time)
    note = checkpoint_note(text, signers or [_signer()])
    row = Checkpoint(size=tree_size, root=tree_root.hex(), note=note, issued_at=now or clock.now())
    db.session.info.pop(_APPENDED, None)
    if with_entries and db.session.get_bind().dialect.name == "postgresql":
        stored = row.issued_at.astimezone(UTC).replace(tzinfo=None)  # as UTCDateTime stores it
        db.session.info.setdefault(_CHECKPOINTS, []).append(
            {"size": row.size, "root": row.root, "note": row.note, "issued_at": stored.isoformat()}
        )
        return row
    db.session.add(row)
    db.session.flush()
    return row


def latest_checkpoint() -> Checkpoint | None:
    """The most recent checkpoint."""
    return db.session.scalars(sa.select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()


def checkpoint_if_due(now: datetime | None = None) -> Checkpoint | None:
    """Scheduler job, every ``CHECKPOINT_INTERVAL_SECONDS``: a checkpoint when entries arrived
    since the last one, however recent that one is. The job's own period then bounds the time
    between checkpoints while entries arrive (ledger.md §4: at least every 5 minutes); skipping
    a run because a draw had just issued one would let almost two periods pass."""
    now = now or clock.now()
    latest = latest_checkpoint()
    if latest is None or latest.size >= size():
        return None
    row = issue_checkpoint(now)
    db.session.commit()
    return row


def refuse_personal_data(text: str, field: str) -> None:
    """Refuse free text bound for the ledger (kept for ever; it holds no personal data) that
    carries an identity or mobile number or an e-mail address.

    Control characters are refused too (``invalid:control``): pages and the API refuse them
    before a view runs, and this catches the commands and any other way in.

    Raises:
        ServiceError: ``invalid:control`` or ``invalid:personal-data`` naming ``field``.
    """
    if has_control(text):
        raise ServiceError(
            "invalid:control", f"{field} contains control characters: remove them", field
        )
    if carries_personal_data(text):
        raise ServiceError(
            "invalid:personal-data",
            "this is kept in the ledger for ever, which holds no personal data: write no "
            "identity number, phone number or e-mail address",
            field,
        )


def rotate_key(reason: str, actor: dict[str, str], now: datetime | None = None) -> SigningKey:
    """Append ``key.rotated`` signed by the old key and switch to a new key.

    Raises:
        ServiceError: ``invalid:reason`` unless the reason is 1 to 200 characters.
    """
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 200:
        raise ServiceError("invalid:reason", "the reason is 1 to 200 characters", "reason")
    refuse_personal_data(reason, "reason")
    now = now or clock.now()
    lock()
    origin()  # before the new key is written: a wrong origin leaves no key behind
    old_row = keys.current_row()
    if old_row is None:
        raise keys.SigningKeyError("the log has no signing key")
    old = keys.load_signer(old_row)
    new = keys.generate(now)
    entry = append(
        "key.rotated",
        {"old_key": old_row.verifier, "new_key": str(new.verifier), "reason": reason},
        actor,
        now=now,
        signer=old,
    )
    old_row.to_seq = entry["seq"]
    new_row = keys.register(new, entry["seq"] + 1, now)
    db.session.info.pop(_SIGNER, None)
    db.session.flush()
    issue_checkpoint(now, signers=[old, new])
    return new_row


def entry_record(seq: int) -> dict[str, Any]:
    """The stored record (entry, key, leaf, sig) of one entry."""
    record = db.session.scalar(sa.select(LedgerEntry.record).where(LedgerEntry.seq == seq))
    if record is None:
        raise dl.LedgerError("not-found", f"no entry {seq}")
    return json.loads(record)


def receipt(seq: int) -> dict[str, Any]:
    """A receipt (ledger.md §5) proving entry ``seq`` against the latest covering checkpoint."""
    record = entry_record(seq)
    checkpoint = db.session.scalars(
        sa.select(Checkpoint).where(Checkpoint.size > seq).order_by(Checkpoint.id.desc()).limit(1)
    ).first()
    if checkpoint is None:
        raise dl.LedgerError("ledger:uncovered", f"no checkpoint covers entry {seq} yet")
    proof = _with_nodes(lambda get: merkle.inclusion_proof(seq, checkpoint.size, get))
    return {
        "entry": record["entry"],
        "sig": record["sig"],
        "key": record["key"],
        "index": seq,
        "tree_size": checkpoint.size,
        "inclusion": [h.hex() for h in proof],
        "checkpoint": checkpoint.note,
    }


def consistency(old: int, new: int) -> list[str]:
    """Consistency proof between two tree sizes."""
    if not 0 < old <= new <= size():
        raise dl.LedgerError("ledger:range", f"sizes must satisfy 0 < old <= new <= {size()}")
    proof = _with_nodes(lambda get: merkle.consistency_proof(old, new, get))
    return [h.hex() for h in proof]


def entry_body(kind: str, draw_id: str) -> dict[str, Any]:
    """The body of the (first) entry of ``kind`` recorded for a draw."""
    record = db.session.scalar(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == kind, LedgerEntry.draw_id == draw_id)
        .order_by(LedgerEntry.seq)
        .limit(1)
    )
    if record is None:
        raise dl.LedgerError("not-found", f"no {kind} entry for draw {draw_id}")
    return json.loads(record)["entry"]["body"]


def entry_bodies(kind: str, draw_id: str) -> list[dict[str, Any]]:
    """Bodies of every entry of ``kind`` recorded for a draw, in ``seq`` order."""
    return [
        json.loads(record)["entry"]["body"]
        for record in db.session.scalars(
            sa.select(LedgerEntry.record)
            .where(LedgerEntry.type == kind, LedgerEntry.draw_id == draw_id)
            .order_by(LedgerEntry.seq)
        )
    ]
