"""Tamper-evident audit trail: one SHA-256 hash chain per tenant, verified in a single streaming pass.

``h_0 = genesis_hash(tenant)`` and ``h_i = SHA-256(h_{i-1} || canonical_json(record_i without "hash"))``,
where ``h_{i-1}`` is the 32 raw bytes. Records carry ``seq`` (1, 2, ...), ``prev_hash`` and ``hash`` as
lower-case hex. Signed checkpoints (see `callvault.security.checkpoints`) pin the chain head every N records
or T minutes, so rewriting history, or cutting the tail off, up to the last checkpoint is detected.

Audit records hold identifiers and outcomes, never a sensitive value: `new_record` refuses details that
look like a phone, ID or card number.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import json.encoder
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callvault.security.canonical import format_time, parse_time
from callvault.security.checkpoints import Checkpoint, CheckpointPolicy, CheckpointSigner
from callvault.security.errors import SensitiveValueError
from callvault.security.redaction import redact_text

RECORD_VERSION: Final = 1
_quote: Final = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for strings
DetailValue = str | int | bool | None


class Outcome(StrEnum):
    """Result of the audited action."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


def genesis_hash(tenant_id: str | uuid.UUID) -> str:
    """The chain's starting value for a tenant, so chains of two tenants can never be spliced together."""
    return hashlib.sha256(b"callvault/audit-genesis/v1\x00" + str(tenant_id).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit event as stored and exported. Build new ones with `new_record`."""

    seq: int
    tenant_id: str
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    source_ip: str | None
    request_id: str | None
    details: Mapping[str, DetailValue]
    prev_hash: str
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """Every field except `hash`, in the form that is hashed and exported."""
        return {
            "v": RECORD_VERSION,
            "seq": self.seq,
            "tenant_id": self.tenant_id,
            "at": format_time(self.at),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "outcome": self.outcome,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready export (one JSON Lines row): the body plus `hash`."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        """Rebuild a record from `to_dict` output (an export line or a DB row)."""
        return cls(
            seq=int(data["seq"]),
            tenant_id=str(data["tenant_id"]),
            at=parse_time(str(data["at"])),
            actor=str(data["actor"]),
            action=str(data["action"]),
            object_type=str(data["object_type"]),
            object_id=str(data["object_id"]),
            outcome=str(data["outcome"]),
            source_ip=data.get("source_ip"),
            request_id=data.get("request_id"),
            details=dict(data.get("details") or {}),
            prev_hash=str(data["prev_hash"]),
            hash=str(data.get("hash", "")),
        )


def link(prev_hash: str, record: AuditRecord) -> str:
    """``SHA-256(prev_hash bytes || canonical_json(record without hash))`` as hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body_json(record)).hexdigest()


def _scalar_json(value: DetailValue) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return _quote(value)


def body_json(record: AuditRecord) -> bytes:
    """Same bytes as ``canonical_json(record.body())``, built directly (the verifier's hot path).

    Keys are written in sorted order and strings escaped with the function `json.dumps` itself uses; a
    property test checks that both give identical bytes.
    """
    return canonical_body(
        record.seq,
        _quote(record.tenant_id),
        format_time(record.at),
        record.actor,
        record.action,
        record.object_type,
        record.object_id,
        record.outcome,
        record.source_ip,
        record.request_id,
        record.details,
        record.prev_hash,
    )


def canonical_body(
    seq: int,
    quoted_tenant: str,
    at: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str,
    source_ip: str | None,
    request_id: str | None,
    details: Mapping[str, DetailValue],
    prev_hash: str,
) -> bytes:
    """`body_json` from plain values (`at` already in `format_time` form, the tenant already JSON-quoted), so a
    scan over database rows needs no record objects."""
    q = _quote
    d = ""
    if details:
        items = sorted(details.items())
        d = ",".join([f"{q(k)}:{q(v) if type(v) is str else _scalar_json(v)}" for k, v in items])
    return (
        f'{{"action":{q(action)},"actor":{q(actor)},"at":"{at}",'
        f'"details":{{{d}}},"object_id":{q(object_id)},"object_type":{q(object_type)},'
        f'"outcome":{q(outcome)},"prev_hash":{q(prev_hash)},'
        f'"request_id":{"null" if request_id is None else q(request_id)},"seq":{int.__repr__(seq)},'
        f'"source_ip":{"null" if source_ip is None else q(source_ip)},"tenant_id":{quoted_tenant},'
        f'"v":{RECORD_VERSION}}}'
    ).encode()


RawRecord = tuple[int, str, str, str, str, str, str, "str | None", "str | None", Mapping[str, DetailValue], str, str]
"""A stored record as plain values: seq, at (`format_time` form), actor, action, object_type, object_id, outcome,
source_ip, request_id, details, prev_hash, hash."""


def scan_intact(
    rows: Iterable[RawRecord], *, tenant_id: str, start: ChainHead, checkpoint_hashes: Mapping[int, str]
) -> ChainHead | None:
    """The head after `rows` if every link, and the hash of every checkpoint within them, matches; else None.

    The lean pass for the common case (an intact chain); on None, `verify_chain` over the same records names
    the first bad one and why. Checkpoint signatures are checked by the caller.
    """
    quoted_tenant = _quote(tenant_id)
    head_seq, head_hash, prev_raw = start.seq, start.hash, bytes.fromhex(start.hash)
    sha256 = hashlib.sha256
    for seq, at, actor, action, otype, oid, outcome, ip, rid, details, prev, digest in rows:
        if seq != head_seq + 1 or prev != head_hash:
            return None
        body = canonical_body(seq, quoted_tenant, at, actor, action, otype, oid, outcome, ip, rid, details, prev)
        prev_raw = sha256(prev_raw + body).digest()
        head_hash = prev_raw.hex()
        if head_hash != digest:
            return None
        head_seq = seq
        pinned = checkpoint_hashes.get(seq)
        if pinned is not None and pinned != head_hash:
            return None
    return ChainHead(tenant_id, head_seq, head_hash)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a tenant's chain (seq 0 and the genesis hash for an empty chain)."""

    tenant_id: str
    seq: int
    hash: str

    @classmethod
    def genesis(cls, tenant_id: str | uuid.UUID) -> ChainHead:
        """Head of an empty chain (tenant ids are kept in string form)."""
        return cls(str(tenant_id), 0, genesis_hash(tenant_id))

    @classmethod
    def of(cls, record: AuditRecord) -> ChainHead:
        """Head after `record`."""
        return cls(record.tenant_id, record.seq, record.hash)


def _check_not_sensitive(name: str, value: str) -> None:
    if redact_text(value) != value:
        # Name the field only: the value itself must not reach logs via the exception.
        raise SensitiveValueError(f"audit field {name!r} looks like personal data; store an id instead")


def new_record(
    head: ChainHead,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: Outcome | str,
    source_ip: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, DetailValue] | None = None,
) -> AuditRecord:
    """The next record after `head`, with seq, prev_hash and hash filled in.

    The DB layer must read the head and insert the record in one transaction that locks the tenant's head
    (e.g. ``SELECT ... FOR UPDATE`` on a per-tenant head row), so two writers never fork the chain.
    """
    clean: dict[str, DetailValue] = {}
    for key, value in (details or {}).items():
        if not isinstance(key, str) or not isinstance(value, str | int | bool | None):
            raise TypeError("audit details must map str to str, int, bool or None")
        if isinstance(value, str):
            _check_not_sensitive(f"details.{key}", value)
        elif isinstance(value, int) and not isinstance(value, bool):
            _check_not_sensitive(f"details.{key}", str(value))
        clean[key] = value
    for name, text in (("action", action), ("object_type", object_type)):
        _check_not_sensitive(name, text)
    at_text = format_time(at)  # also refuses naive times before anything is hashed
    seq, outcome_text = head.seq + 1, str(outcome)
    # Hash from the plain values, then build the record once (appends are a hot path too).
    body = canonical_body(
        seq,
        _quote(head.tenant_id),
        at_text,
        actor,
        action,
        object_type,
        object_id,
        outcome_text,
        source_ip,
        request_id,
        clean,
        head.hash,
    )
    return AuditRecord(
        seq=seq,
        tenant_id=head.tenant_id,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome_text,
        source_ip=source_ip,
        request_id=request_id,
        details=clean,
        prev_hash=head.hash,
        hash=hashlib.sha256(bytes.fromhex(head.hash) + body).hexdigest(),
    )


class Failure(StrEnum):
    """Why verification stopped."""

    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_SIGNATURE = "bad_signature"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Outcome of `verify_chain`. On failure `first_bad_seq` is the first position that cannot be trusted."""

    ok: bool
    tenant_id: str
    records_checked: int
    checkpoints_checked: int
    head: ChainHead
    first_bad_seq: int | None = None
    reason: Failure | None = None
    detail: str = ""


def _hash_matches(record: AuditRecord) -> bool:
    try:
        return link(record.prev_hash, record) == record.hash
    except ValueError:  # prev_hash is not hex
        return False


def _classify_gap(found: int, expected: int, rest: Iterator[AuditRecord]) -> tuple[Failure, str]:
    """A record with seq `found` stands where `expected` belongs: scan the rest once to tell why."""
    if found < expected:
        return Failure.INSERTED, f"record with seq {found} appears again where {expected} belongs"
    expected_later = duplicate_later = False
    for record in rest:
        expected_later = expected_later or record.seq == expected
        duplicate_later = duplicate_later or record.seq == found
    if duplicate_later:
        return Failure.INSERTED, f"a second record with seq {found} was inserted before seq {expected}"
    if expected_later:
        return Failure.REORDERED, f"seq {found} appears before seq {expected}"
    return Failure.DELETED, f"records {expected}..{found - 1} are missing"


def verify_chain(
    records: Iterable[AuditRecord],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    tenant_id: str | uuid.UUID | None = None,
    start: ChainHead | None = None,
) -> VerificationResult:
    """Recompute one tenant's chain from `start` (default: genesis) and check it against the checkpoints.

    `records` is consumed once in stored order (constant memory: stream it from the DB or an export);
    checkpoints are few and are held in memory. The tenant is `tenant_id`, else that of `start`, the
    checkpoints or the first record. Records after the last checkpoint can be cut off undetected; that
    window is bounded by the checkpoint policy.
    """
    cps = list(checkpoints)
    tenant = str(tenant_id) if tenant_id else (start.tenant_id if start else None)
    tenant = tenant or (cps[0].tenant_id if cps else None)
    it: Iterator[AuditRecord] = iter(records)
    if tenant is None:
        first = next(it, None)
        tenant = first.tenant_id if first is not None else ""
        if first is not None:
            it = itertools.chain((first,), it)
    start = start or ChainHead.genesis(tenant)
    by_seq: dict[int, list[tuple[Checkpoint, bool]]] = {}
    for cp in cps:
        if cp.seq > start.seq:
            ok_sig = cp.tenant_id == tenant and cp.verify(public_key)
            by_seq.setdefault(cp.seq, []).append((cp, ok_sig))
    checked = cps_checked = 0
    trusted_seq = start.seq  # last position pinned by a valid checkpoint (or the start)
    # Hot loop: plain locals, and the previous digest reused as raw bytes.
    head_seq, head_hash, prev_raw = start.seq, start.hash, bytes.fromhex(start.hash)
    sha256 = hashlib.sha256

    def fail(seq: int, reason: Failure, detail: str) -> VerificationResult:
        head = ChainHead(tenant, head_seq, head_hash)
        return VerificationResult(False, tenant, checked, cps_checked, head, seq, reason, detail)

    for record in it:
        expected = head_seq + 1
        if record.seq != expected or record.tenant_id != tenant:
            if record.tenant_id != tenant:
                return fail(expected, Failure.INSERTED, "a record of another tenant is in the chain")
            reason, detail = _classify_gap(record.seq, expected, it)
            # A second copy of the previous seq: the forged one may be either, so blame that position.
            return fail(record.seq if record.seq == expected - 1 else expected, reason, detail)
        digest = sha256(prev_raw + body_json(record)).digest()
        if record.prev_hash != head_hash or digest.hex() != record.hash:
            following = next(it, None)
            if following is not None and following.seq == record.seq:
                return fail(expected, Failure.INSERTED, f"two records claim seq {expected}")
            if _hash_matches(record) and head_seq > trusted_seq:
                # Record k is intact but chained to something else: k-1 was altered and re-hashed.
                detail = f"record {expected} was chained to another record {head_seq}"
                return fail(head_seq, Failure.EDITED, detail)
            return fail(expected, Failure.EDITED, f"record {expected} does not match its hash")
        head_seq, head_hash, prev_raw = expected, record.hash, digest
        checked += 1
        if expected not in by_seq:
            continue
        for cp, ok_sig in by_seq.pop(expected):
            if not ok_sig:
                return fail(expected, Failure.BAD_SIGNATURE, f"checkpoint at seq {expected} is not valid")
            if cp.hash != record.hash:
                following = next(it, None)
                if following is not None and following.seq == expected:
                    return fail(expected, Failure.INSERTED, f"two records claim seq {expected}")
                return fail(
                    trusted_seq + 1,
                    Failure.CHECKPOINT_MISMATCH,
                    f"records {trusted_seq + 1}..{expected} were rewritten (checkpoint hash differs)",
                )
            cps_checked += 1
            trusted_seq = expected
    for seq in sorted(by_seq):
        if not all(ok_sig for _, ok_sig in by_seq[seq]):
            return fail(seq, Failure.BAD_SIGNATURE, f"checkpoint at seq {seq} is not valid")
        return fail(head_seq + 1, Failure.TRUNCATED, f"checkpoint at seq {seq}; chain ends before")
    return VerificationResult(True, tenant, checked, cps_checked, ChainHead(tenant, head_seq, head_hash))


def records_from_jsonl(lines: Iterable[str | bytes]) -> Iterator[AuditRecord]:
    """Parse an export (one JSON object per line) lazily."""
    for line in lines:
        if line.strip():
            yield AuditRecord.from_dict(json.loads(line))


class ChainWriter:
    """Reference appender for one tenant: chains records and signs checkpoints per the policy.

    The DB version does the same inside the action's transaction: lock the head, `new_record`, insert,
    and insert a checkpoint (and queue its delivery) when `policy.due(...)`.
    """

    def __init__(
        self,
        signer: CheckpointSigner,
        policy: CheckpointPolicy,
        *,
        head: ChainHead,
        last_checkpoint: Checkpoint | None = None,
    ) -> None:
        self._signer = signer
        self._policy = policy
        self.head = head
        self.last_checkpoint = last_checkpoint

    def append(self, **fields: Any) -> tuple[AuditRecord, Checkpoint | None]:
        """Append a record (keyword arguments of `new_record`); returns it and a checkpoint if one was due."""
        record = new_record(self.head, **fields)
        self.head = ChainHead.of(record)
        checkpoint = None
        if self._policy.due(head_seq=record.seq, last=self.last_checkpoint, now=record.at):
            checkpoint = self._signer.sign(self.head, at=record.at)
            self.last_checkpoint = checkpoint
        return record, checkpoint
