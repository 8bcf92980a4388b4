"""The `imports` job table: one row per file imported into a contact list.

The row is the job's durable state: the checkpoint is written in the same transaction as each batch of
contacts, so a crashed import resumes exactly where its last stored batch ended. A job is found again by
(list, file SHA-256): re-running the same file continues the unfinished job instead of starting a new one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from callvault.core.models import Base, Identified, TenantScoped


class ImportJob(Identified, TenantScoped, Base):
    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_list_sha256", "list_id", "file_sha256"),)

    list_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_lists.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(24))
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The saved template the mapping was copied from ("" when given inline or guessed), to name it in errors.
    mapping_template: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # queued -> running -> finished | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    report_path: Mapped[str] = mapped_column(String(1000), default="")
    # The uploaded file kept under data_dir (API uploads): a server restart resumes the job from it.
    source_path: Mapped[str] = mapped_column(String(1000), default="")
    # Why a job failed as a whole (unreadable file, unusable mapping): a message without customer data.
    error: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
