"""The independent procedure in docs/audit-verification.md works on a real export (SEC-20)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callvault.security.auditchain import AuditRecord
from callvault.security.checkpoints import Checkpoint

from .test_auditchain import CHECKPOINTS, RECORDS, SIGNER

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-verification.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def export(tmp_path: Path, records: list[AuditRecord], checkpoints: list[Checkpoint]) -> list[str]:
    (tmp_path / "audit.jsonl").write_text(
        "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    (tmp_path / "checkpoints.jsonl").write_text(
        "".join(json.dumps(c.to_dict()) + "\n" for c in checkpoints), encoding="utf-8"
    )
    (tmp_path / "audit-signing-public.pem").write_bytes(SIGNER.public_key_pem())
    (tmp_path / "verify_export.py").write_text(blocks("python")[0], encoding="utf-8")
    files = ["audit.jsonl", "checkpoints.jsonl", "audit-signing-public.pem"]
    return [sys.executable, "verify_export.py", *files]


@pytest.mark.sec("SEC-20")
def test_doc_verifier_accepts_intact_export_and_names_tampered_record(tmp_path: Path) -> None:
    cmd = export(tmp_path, RECORDS, CHECKPOINTS)
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"OK: {len(RECORDS)} records")

    tampered = list(RECORDS)
    tampered[11] = AuditRecord.from_dict({**RECORDS[11].to_dict(), "actor": "user:someone-else"})
    cmd = export(tmp_path, tampered, CHECKPOINTS)
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "FAIL at seq 12" in bad.stdout

    cmd = export(tmp_path, RECORDS[:20], CHECKPOINTS)
    cut = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "FAIL at seq 21" in cut.stdout


@pytest.mark.sec("SEC-20")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_doc_openssl_spot_check_verifies_a_checkpoint(tmp_path: Path) -> None:
    export(tmp_path, RECORDS, CHECKPOINTS)
    script = next(b for b in blocks("sh") if "pkeyutl" in b)
    result = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "Signature Verified Successfully" in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_doc_fingerprint_and_record_hash_spot_checks(tmp_path: Path) -> None:
    export(tmp_path, RECORDS, CHECKPOINTS)
    fingerprint = "openssl pkey -pubin -in audit-signing-public.pem -outform DER | tail -c 32 | openssl dgst -sha256"
    out = subprocess.run(["sh", "-c", fingerprint], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert SIGNER.key_id.removeprefix("ed25519:") in out.stdout
    script = next(b for b in blocks("sh") if "dgst" in b and "PREV" in b)
    env = {
        "LINE": json.dumps(RECORDS[5].to_dict(), ensure_ascii=False),
        "PREV": RECORDS[4].hash,
        "PATH": os.environ["PATH"],
    }
    out = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True, env=env)
    assert RECORDS[5].hash in out.stdout
