"""Micro-benchmark of the database-free security primitives, each next to a bare baseline.

    uv run python bench/security_bench.py [--records 1000000] [--runs 5]

Prints medians over `--runs` runs (the 1 M-record verification uses min(runs, 3)). Baselines show what the
framing costs: raw AES-GCM without envelope/AAD framing, a bare HMAC, bare SHA-256 over the same bytes.
Targets for the DB-backed version: >= 10,000 audit appends/s and <= 10 s to verify 1 M records.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callvault.security.auditchain import AuditRecord, ChainHead, new_record, verify_chain
from callvault.security.canonical import canonical_json
from callvault.security.checkpoints import CheckpointSigner
from callvault.security.masking import DataClass, mask
from callvault.security.redaction import redact_text
from callvault.security.vault import (
    BlindIndex,
    FieldCipher,
    FieldContext,
    FileContext,
    InMemoryKeyStore,
    Keyring,
    MasterKey,
    RecordingCipher,
)

TENANT = "inst-bench"


class Rate(float):
    """Operations per wall-clock second, carrying the rate per CPU-second of this process as well."""

    cpu: float

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}}/s ({self.cpu:{spec}}/CPU-s)"


def rate(fn: Callable[[], object], n: int, runs: int) -> Rate:
    """Median operations per second of `fn` called `n` times, over `runs` runs (wall and CPU)."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall.append(n / (time.perf_counter() - start))
        cpu.append(n / max(time.process_time() - start_cpu, 1e-9))
    result = Rate(statistics.median(wall))
    result.cpu = statistics.median(cpu)
    return result


def seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of `fn` over `runs` runs."""
    return timed(fn, runs)[0]


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process for `fn` over `runs` runs.

    CPU time is shown next to wall time because shared machines make wall time depend on other load.
    """
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def build_records(count: int, signer: CheckpointSigner, every: int) -> tuple[list[AuditRecord], list]:  # type: ignore[type-arg]
    head = ChainHead.genesis(TENANT)
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    records, checkpoints = [], []
    for i in range(count):
        record = new_record(
            head,
            at=t0 + timedelta(microseconds=i * 1000),
            actor="user:42",
            action="contact.reveal",
            object_type="contact",
            object_id=f"c-{i}",
            outcome="success",
            source_ip="10.1.2.3",
            request_id=f"req-{i}",
            details={"field": "phone"},
        )
        head = ChainHead.of(record)
        records.append(record)
        if record.seq % every == 0:
            checkpoints.append(signer.sign(head, at=record.at))
    return records, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ops", type=int, default=20_000, help="operations per run for per-op rows")
    args = parser.parse_args()
    runs, ops = args.runs, args.ops

    keyring = Keyring(MasterKey(secrets.token_bytes(32)), InMemoryKeyStore())
    keyring.provision(TENANT)
    cipher = FieldCipher(keyring)
    ctx = FieldContext(TENANT, "contact", "phone", "0f8c2a5e-6a39-4e47-9a35-3c1d7c2b1a90")
    phone = "13812348000"
    raw = AESGCM(AESGCM.generate_key(bit_length=256))
    raw_key = secrets.token_bytes(32)

    def field_roundtrip() -> None:
        cipher.decrypt(cipher.encrypt(phone, context=ctx), context=ctx)

    def raw_roundtrip() -> None:
        nonce = os.urandom(12)
        raw.decrypt(nonce, raw.encrypt(nonce, b"13812348000", None), None)

    index = BlindIndex(keyring)
    signer = CheckpointSigner.generate()
    head = ChainHead.genesis(TENANT)
    at = datetime(2026, 11, 23, tzinfo=UTC)
    sample = new_record(
        head, at=at, actor="user:42", action="contact.reveal", object_type="contact", object_id="c-1",
        outcome="success", source_ip="10.1.2.3", request_id="req-1", details={"field": "phone"},
    )  # fmt: skip
    sample_bytes = bytes.fromhex(head.hash) + canonical_json(sample.body())

    def link_one() -> None:
        new_record(
            head, at=at, actor="user:42", action="contact.reveal", object_type="contact", object_id="c-1",
            outcome="success", source_ip="10.1.2.3", request_id="req-1", details={"field": "phone"},
        )  # fmt: skip

    audio = secrets.token_bytes(8 * 1024 * 1024)
    recorder = RecordingCipher(keyring)

    def recording() -> None:
        recorder.encrypt_file(io.BytesIO(audio), io.BytesIO(), context=FileContext(TENANT, "rec-1"))

    def raw_recording() -> None:
        key = AESGCM(AESGCM.generate_key(bit_length=256))
        for i in range(0, len(audio), 65536):
            key.encrypt(i.to_bytes(12, "big"), audio[i : i + 65536], None)

    def bare_hmac() -> None:
        hmac.new(raw_key, phone.encode(), hashlib.sha256).digest()

    def bare_sha() -> None:
        hashlib.sha256(sample_bytes).digest()

    quiet_line = "agent 1042 logged in from 10.0.0.7 at 2026-11-23 14:47:16"
    log_line = "agent 1042 called 13812348000 about card 4111 1111 1111 1111 at 2026-11-23 14:47:16 req=ab12"

    rows: list[tuple[str, str, str]] = []
    rows.append(
        (
            "field encrypt+decrypt (11-char phone)",
            f"{rate(field_roundtrip, ops, runs):,.0f}",
            f"{rate(raw_roundtrip, ops, runs):,.0f} raw AESGCM, no AAD/framing",
        )
    )
    rows.append(
        (
            "blind index (phone, normalised)",
            f"{rate(lambda: index.phone(phone, tenant_id=TENANT), ops, runs):,.0f}",
            f"{rate(bare_hmac, ops, runs):,.0f} bare HMAC-SHA256",
        )
    )
    rows.append(
        (
            "audit chain link (new_record)",
            f"{rate(link_one, ops, runs):,.0f}",
            f"{rate(bare_sha, ops, runs):,.0f} bare SHA-256 of the same bytes",
        )
    )
    rows.append(
        (
            "checkpoint sign (Ed25519)",
            f"{rate(lambda: signer.sign(head, at=at), 2000, runs):,.0f}",
            "",
        )
    )
    rows.append(
        (
            "recording encrypt (8 MiB, 64 KiB chunks)",
            f"{8 / seconds(recording, runs):,.0f} MiB/s",
            f"{8 / seconds(raw_recording, runs):,.0f} MiB/s raw AESGCM chunks",
        )
    )
    rows.append(("mask phone", f"{rate(lambda: mask(phone, DataClass.PHONE), ops, runs):,.0f}", ""))
    rows.append(
        (
            "redact_text (log line with phone + card)",
            f"{rate(lambda: redact_text(log_line), ops, runs):,.0f}",
            f"{rate(lambda: redact_text(quiet_line), ops, runs):,.0f} line without long digit runs",
        )
    )

    n = args.records
    print(f"building {n:,} chained records...", file=sys.stderr, flush=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    records, checkpoints = build_records(n, signer, every=1000)
    build_s, build_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    verify_runs = min(runs, 3)

    def verify_all() -> None:
        result = verify_chain(records, checkpoints, signer.public_key)
        if not result.ok or result.records_checked != n:
            raise SystemExit(f"verification failed: {result}")

    bodies = [bytes.fromhex(r.prev_hash) + canonical_json(r.body()) for r in records[: min(n, 200_000)]]

    def hash_only() -> None:
        for b in bodies:
            hashlib.sha256(b).digest()

    hash_s = seconds(hash_only, verify_runs) * n / len(bodies)
    verify_s, verify_cpu = timed(verify_all, verify_runs)
    rows.append(
        (
            f"verify {n:,} in-memory records + {len(checkpoints)} checkpoints",
            f"{verify_s:.2f} s",
            f"{hash_s:.2f} s bare SHA-256 of pre-serialised records; {verify_cpu:.2f} s CPU",
        )
    )
    rows.append(
        (
            f"build {n:,} chained records (single run)",
            f"{build_s:.2f} s",
            f"= {n / build_s:,.0f} links/s; {build_cpu:.2f} s CPU = {n / build_cpu:,.0f} links/s per CPU",
        )
    )

    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'operation':<{width}}  {'CallVault':>{vwidth}}  baseline")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 40}")
    for name, value, baseline in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {baseline}")
    python = sys.version.split()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(medians of {runs} runs x {ops:,} ops; verification: median of {verify_runs}; Python {python};")
    print(f" {os.cpu_count()} CPUs, load average {load} at the end)")


if __name__ == "__main__":
    main()
