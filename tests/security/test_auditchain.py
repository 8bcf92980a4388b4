"""Tamper-evident audit chain (SEC-19, SEC-20, SEC-24)."""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callvault.security.auditchain import (
    AuditRecord,
    ChainHead,
    ChainWriter,
    DetailValue,
    Failure,
    Outcome,
    VerificationResult,
    body_json,
    genesis_hash,
    link,
    new_record,
    records_from_jsonl,
    verify_chain,
)
from callvault.security.canonical import canonical_json, format_time, parse_time
from callvault.security.checkpoints import (
    Checkpoint,
    CheckpointPolicy,
    CheckpointSigner,
    load_public_key_pem,
)
from callvault.security.errors import SensitiveValueError, VaultKeyError

SIGNER = CheckpointSigner.generate()
OTHER_SIGNER = CheckpointSigner.generate()
T0 = datetime(2026, 11, 23, 8, 0, 0, 123, tzinfo=UTC)
N = 30
EVERY = 5


def build_chain(tenant: str = "inst-a", n: int = N, every: int = EVERY) -> tuple[list[AuditRecord], list[Checkpoint]]:
    """`n` records, a checkpoint every `every` records and one on the last record."""
    writer = ChainWriter(
        SIGNER, CheckpointPolicy(every_records=every, every_seconds=3600), head=ChainHead.genesis(tenant)
    )
    records, checkpoints = [], []
    for i in range(n):
        record, cp = writer.append(
            at=T0 + timedelta(seconds=i),
            actor=f"user:{i % 3}",
            action="contact.reveal" if i % 2 else "auth.login",
            object_type="contact",
            object_id=f"c-{i}",
            outcome=Outcome.SUCCESS,
            source_ip="10.0.0.7",
            request_id=f"req-{i}",
            details={"field": "phone", "reason_code": i},
        )
        records.append(record)
        if cp:
            checkpoints.append(cp)
    if checkpoints[-1].seq != n:
        checkpoints.append(SIGNER.sign(writer.head, at=records[-1].at))
    return records, checkpoints


RECORDS, CHECKPOINTS = build_chain()
CP_SEQS = sorted(cp.seq for cp in CHECKPOINTS)
positions = st.integers(min_value=1, max_value=N)


def verify(records: list[AuditRecord], checkpoints: list[Checkpoint] = CHECKPOINTS) -> VerificationResult:
    return verify_chain(iter(records), checkpoints, SIGNER.public_key)


def previous_checkpoint(seq: int) -> int:
    return max((s for s in CP_SEQS if s < seq), default=0)


@pytest.mark.sec("SEC-20")
def test_intact_chain_verifies() -> None:
    result = verify(RECORDS)
    assert result.ok, result
    assert result.records_checked == N
    assert result.checkpoints_checked == len(CHECKPOINTS)
    assert result.head == ChainHead("inst-a", N, RECORDS[-1].hash)
    assert RECORDS[0].prev_hash == genesis_hash("inst-a") != genesis_hash("inst-b")
    assert CP_SEQS == [1, 6, 11, 16, 21, 26, 30]


@pytest.mark.sec("SEC-20")
@given(
    k=positions,
    field=st.sampled_from(["actor", "action", "object_id", "outcome", "source_ip", "at", "details"]),
)
def test_edit_one_record_fails_at_that_record(k: int, field: str) -> None:
    records = list(RECORDS)
    value: object = {"field": "card"} if field == "details" else "x"
    if field == "at":
        value = records[k - 1].at + timedelta(microseconds=1)
    records[k - 1] = dataclasses.replace(records[k - 1], **{field: value})
    result = verify(records)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, k, Failure.EDITED)


@pytest.mark.sec("SEC-20")
@given(k=st.integers(min_value=1, max_value=N))
def test_edit_and_rehash_one_record_is_still_caught(k: int) -> None:
    records = list(RECORDS)
    edited = dataclasses.replace(records[k - 1], actor="user:intruder")
    records[k - 1] = dataclasses.replace(edited, hash=link(edited.prev_hash, edited))
    result = verify(records)
    assert not result.ok
    if k in CP_SEQS:
        assert result.reason is Failure.CHECKPOINT_MISMATCH
        assert result.first_bad_seq is not None
        assert previous_checkpoint(k) < result.first_bad_seq <= k
    else:
        assert (result.first_bad_seq, result.reason) == (k, Failure.EDITED)


@pytest.mark.sec("SEC-20")
@given(k=st.integers(min_value=1, max_value=N))
def test_rewriting_all_history_from_a_record_is_caught_by_checkpoints(k: int) -> None:
    records = list(RECORDS[: k - 1])
    prev = records[-1].hash if records else genesis_hash("inst-a")
    for original in RECORDS[k - 1 :]:
        changed = dataclasses.replace(original, prev_hash=prev, actor="user:rewritten")
        changed = dataclasses.replace(changed, hash=link(prev, changed))
        records.append(changed)
        prev = changed.hash
    result = verify(records)
    assert (result.ok, result.reason) == (False, Failure.CHECKPOINT_MISMATCH)
    assert result.first_bad_seq == previous_checkpoint(k) + 1


@pytest.mark.sec("SEC-20")
@given(k=st.integers(min_value=1, max_value=N - 1), count=st.integers(min_value=1, max_value=3))
def test_delete_records_fails_at_first_deleted(k: int, count: int) -> None:
    records = RECORDS[: k - 1] + RECORDS[k - 1 + count :]
    result = verify(records)
    assert result.ok is False
    assert result.first_bad_seq == k
    assert result.reason is (Failure.DELETED if k - 1 + count < N else Failure.TRUNCATED)


@pytest.mark.sec("SEC-20")
@given(k=positions)
def test_truncation_up_to_last_checkpoint_is_detected(k: int) -> None:
    result = verify(RECORDS[: k - 1])
    assert (result.ok, result.first_bad_seq, result.reason) == (False, k, Failure.TRUNCATED)


@pytest.mark.sec("SEC-20")
@given(k=positions, forge_hash=st.booleans())
def test_insert_forged_record_fails_at_its_position(k: int, forge_hash: bool) -> None:
    head = ChainHead("inst-a", k - 1, RECORDS[k - 2].hash if k > 1 else genesis_hash("inst-a"))
    forged = new_record(
        head,
        at=T0,
        actor="user:ghost",
        action="export",
        object_type="report",
        object_id="r",
        outcome="success",
    )
    if not forge_hash:
        forged = dataclasses.replace(forged, hash="0" * 64)
    records = [*RECORDS[: k - 1], forged, *RECORDS[k - 1 :]]
    result = verify(records)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, k, Failure.INSERTED)


@pytest.mark.sec("SEC-20")
@given(k=st.integers(min_value=2, max_value=N), j=st.integers(min_value=1, max_value=N))
def test_insert_copy_of_another_record_is_detected(k: int, j: int) -> None:
    records = [*RECORDS[: k - 1], RECORDS[j - 1], *RECORDS[k - 1 :]]
    result = verify(records)
    assert result.ok is False
    assert result.reason is Failure.INSERTED
    assert result.first_bad_seq in (k - 1, k)


@pytest.mark.sec("SEC-20")
@given(k=st.integers(min_value=1, max_value=N - 1), data=st.data())
def test_reorder_fails_at_first_moved_record(k: int, data: st.DataObject) -> None:
    j = data.draw(st.integers(min_value=k + 1, max_value=N))
    records = list(RECORDS)
    records[k - 1], records[j - 1] = records[j - 1], records[k - 1]
    result = verify(records)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, k, Failure.REORDERED)
    moved = [*RECORDS[: k - 1], *RECORDS[k:j], RECORDS[k - 1], *RECORDS[j:]]
    result = verify(moved)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, k, Failure.REORDERED)


@pytest.mark.sec("SEC-20")
@given(index=st.integers(min_value=0, max_value=len(CHECKPOINTS) - 1), byte=st.integers(0, 63))
def test_bad_checkpoint_signature_is_reported(index: int, byte: int) -> None:
    cps = list(CHECKPOINTS)
    sig = bytearray(cps[index].signature)
    sig[byte] ^= 0x01
    cps[index] = dataclasses.replace(cps[index], signature=bytes(sig))
    result = verify(RECORDS, cps)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, cps[index].seq, Failure.BAD_SIGNATURE)


@pytest.mark.sec("SEC-20")
def test_checkpoints_from_another_key_or_tenant_do_not_count() -> None:
    foreign = OTHER_SIGNER.sign(ChainHead.of(RECORDS[9]), at=T0)
    result = verify(RECORDS, [*CHECKPOINTS, foreign])
    assert (result.reason, result.first_bad_seq) == (Failure.BAD_SIGNATURE, 10)
    other_tenant = SIGNER.sign(ChainHead("inst-b", 10, RECORDS[9].hash), at=T0)
    result = verify_chain(RECORDS, [*CHECKPOINTS, other_tenant], SIGNER.public_key, tenant_id="inst-a")
    assert (result.reason, result.first_bad_seq) == (Failure.BAD_SIGNATURE, 10)
    # A forged "the chain was longer" checkpoint cannot fake a truncation claim either.
    beyond = dataclasses.replace(CHECKPOINTS[-1], seq=N + 5)
    assert verify(RECORDS, [*CHECKPOINTS, beyond]).reason is Failure.BAD_SIGNATURE


@pytest.mark.sec("SEC-20")
def test_record_of_another_tenant_is_an_insertion() -> None:
    other, _ = build_chain("inst-b", n=5)
    records = [*RECORDS[:3], other[3], *RECORDS[3:]]
    result = verify(records)
    assert (result.first_bad_seq, result.reason) == (4, Failure.INSERTED)


def test_verify_streams_and_resumes_from_a_trusted_head() -> None:
    consumed = []

    def stream() -> Iterator[AuditRecord]:
        for r in RECORDS[10:]:
            consumed.append(r.seq)
            yield r

    start = ChainHead.of(RECORDS[9])
    result = verify_chain(stream(), CHECKPOINTS, SIGNER.public_key, start=start)
    assert result.ok
    assert result.records_checked == N - 10
    assert consumed == list(range(11, N + 1))


@pytest.mark.sec("SEC-20")
def test_jsonl_export_round_trip_verifies() -> None:
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in RECORDS]
    cps = [Checkpoint.from_dict(json.loads(json.dumps(cp.to_dict()))) for cp in CHECKPOINTS]
    pem = SIGNER.public_key_pem()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    result = verify_chain(records_from_jsonl(lines), cps, load_public_key_pem(pem))
    assert result.ok, result


@pytest.mark.sec("SEC-19")
def test_record_fields_and_canonical_form() -> None:
    record = RECORDS[0]
    body = record.body()
    assert set(body) == {
        "v", "seq", "tenant_id", "at", "actor", "action", "object_type", "object_id",
        "outcome", "source_ip", "request_id", "details", "prev_hash",
    }  # fmt: skip
    assert body["at"] == "2026-11-23T08:00:00.000123Z"
    raw = canonical_json(body)
    assert b" " not in raw
    assert list(json.loads(raw)) == sorted(body)
    assert canonical_json({"名": "张"}) == '{"名":"张"}'.encode()


def test_time_format_is_utc_with_microseconds() -> None:
    east8 = timezone(timedelta(hours=8))
    assert format_time(datetime(2026, 1, 1, 8, 0, tzinfo=east8)) == "2026-01-01T00:00:00.000000Z"
    assert parse_time("2026-01-01T00:00:00.000001Z") == datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))


@pytest.mark.sec("SEC-24")
@pytest.mark.parametrize(
    "details", [{"phone": "13812348000"}, {"note": "card 4111 1111 1111 1111"}, {"id": "11010519900307123X"}]
)
def test_new_record_refuses_sensitive_details(details: dict[str, str]) -> None:
    with pytest.raises(SensitiveValueError) as info:
        new_record(
            ChainHead.genesis("t"), at=T0, actor="u", action="a", object_type="o", object_id="1",
            outcome="success", details=details,
        )  # fmt: skip
    assert next(iter(details.values())) not in str(info.value)


def test_new_record_accepts_a_digest_whose_digits_read_like_a_phone() -> None:
    digest = "sha256:15919381757b312cb5ce498e8241bbe18e23b23e4537a0fcad6da81b0ee4c8ff"
    record = new_record(
        ChainHead.genesis("t"), at=T0, actor="u", action="a", object_type="o", object_id="1",
        outcome="success", details={"institution_audit_head": digest},
    )  # fmt: skip
    assert record.details["institution_audit_head"] == digest


def test_new_record_refuses_nested_details_and_naive_time() -> None:
    head = ChainHead.genesis("t")
    common = {"actor": "u", "action": "a", "object_type": "o", "object_id": "1", "outcome": "success"}
    with pytest.raises(TypeError):
        new_record(head, at=T0, details={"x": [1]}, **common)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="timezone-aware"):
        new_record(head, at=datetime(2026, 1, 1), **common)


def test_checkpoint_policy() -> None:
    policy = CheckpointPolicy(every_records=100, every_seconds=60)
    cp = SIGNER.sign(ChainHead("t", 10, "0" * 64), at=T0)
    assert policy.due(head_seq=1, last=None, now=T0)
    assert not policy.due(head_seq=10, last=cp, now=T0 + timedelta(hours=1))
    assert not policy.due(head_seq=11, last=cp, now=T0 + timedelta(seconds=59))
    assert policy.due(head_seq=11, last=cp, now=T0 + timedelta(seconds=60))
    assert policy.due(head_seq=110, last=cp, now=T0)


@pytest.mark.sec("SEC-20")
def test_signing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "audit-signing.pem"
    signer = CheckpointSigner.generate_to(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CheckpointSigner.from_file(path).key_id == signer.key_id
    with pytest.raises(VaultKeyError, match="overwrite"):
        CheckpointSigner.generate_to(path)
    path.chmod(0o644)
    with pytest.raises(VaultKeyError, match="chmod 600"):
        CheckpointSigner.from_file(path)
    assert "PRIVATE" not in repr(signer)


scalars = st.one_of(st.text(), st.integers(), st.booleans(), st.none())


@pytest.mark.sec("SEC-20")
@given(
    texts=st.lists(st.text(), min_size=5, max_size=5),
    optional=st.lists(st.one_of(st.none(), st.text()), min_size=2, max_size=2),
    details=st.dictionaries(st.text(), scalars, max_size=4),
    seq=st.integers(min_value=0, max_value=2**63),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_fast_serialiser_matches_canonical_json(
    texts: list[str], optional: list[str | None], details: dict[str, DetailValue], seq: int, at: datetime
) -> None:
    record = AuditRecord(
        seq=seq, tenant_id=texts[0], at=at, actor=texts[1], action=texts[2], object_type=texts[3],
        object_id=texts[4], outcome="success", source_ip=optional[0], request_id=optional[1],
        details=details, prev_hash="ab" * 32,
    )  # fmt: skip
    assert body_json(record) == canonical_json(record.body())
