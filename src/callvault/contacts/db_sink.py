"""`DatabaseContactSink`: an import's batches go into the contacts tables, its checkpoint into the job row.

Each batch is one transaction: the contacts and their phones (sensitive values encrypted by the vault, phones
and ID numbers also blind-indexed) and the job's checkpoint and counters. A crash therefore leaves either the
whole batch with its checkpoint or neither, and `(source_import_id, source_line)` is unique, so a row can never
be stored twice even by a confused resume.

Before storing, `screen` refuses contacts whose primary phone is already in the list (a duplicate) or that the
dialler would refuse for good: `dnc.policy.listing_verdict`, the first step of the campaign gate's
`call_permitted`, gives on a do-not-call list binding the list's purpose (rejected, `dnc.listed`) and, for
marketing lists, without a valid marketing consent (rejected, `consent.missing`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callvault.contacts import sensitive as cols
from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.import_models import ImportJob
from callvault.contacts.models import ContactPhone, ContactRecord
from callvault.contacts.phones import mask_phone
from callvault.contacts.pipeline import DUPLICATE_CODE
from callvault.contacts.sealing import insert_sealed, seal_contact
from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.contacts.validate import Contact, Rejection
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc import service as dnc
from callvault.dnc.policy import REASONS, Purpose, Verdict, listing_verdict
from callvault.security.vault.runtime import Vault, vault

DNC_CODE: Final = "dnc.listed"
CONSENT_CODE: Final = "consent.missing"
# Report code of each verdict that refuses a row at import (the reason text is the policy's).
REFUSALS: Final = {Verdict.DO_NOT_CALL: DNC_CODE, Verdict.NO_CONSENT: CONSENT_CODE}


def _masked_national(e164: str) -> str:
    return mask_phone(e164[3:] if e164.startswith("+86") else e164)


class DatabaseContactSink:
    """Stores one import job's contacts; implements `ScreeningSink`."""

    def __init__(
        self,
        db: Database,
        *,
        tenant_id: uuid.UUID,
        job_id: uuid.UUID,
        list_id: uuid.UUID,
        purpose: Purpose,
        phone_column: str,
        sensitive_custom: frozenset[str] = frozenset(),
        keys: Vault | None = None,
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.job_id = job_id
        self.list_id = list_id
        self.purpose = purpose
        self.phone_column = phone_column
        self.sensitive_custom = sensitive_custom
        self.vault = keys or vault()
        self._bidx: dict[str, bytes] = {}

    def _session(self) -> Session:
        session = self.db.session()
        set_tenant(session, self.tenant_id)
        return session

    def _phone_index(self, e164: str) -> bytes:
        found = self._bidx.get(e164)
        if found is None:
            found = self.vault.index.phone(e164, tenant_id=self.tenant_id, scope=PHONE_SCOPE)
            self._bidx[e164] = found
        return found

    # --- screening ------------------------------------------------------------------------------------------

    def screen(self, contacts: Sequence[Contact]) -> list[Rejection | None]:
        """Refuse contacts already in the list (duplicates) or refused by `listing_verdict` for the purpose."""
        self._bidx = {}
        primaries = [c.primary_phone.e164 for c in contacts]
        indexes = [self._phone_index(e164) for e164 in primaries]
        with self.db.scoped() as session:
            set_tenant(session, self.tenant_id)
            listed = self._already_listed(session, indexes)
            entries, consents = dnc.listing_matches(
                session,
                tenant_id=self.tenant_id,
                numbers=dict(zip(indexes, primaries, strict=True)),
                purpose=self.purpose,
                keys=self.vault,
            )
            session.rollback()
        now = clock.now()
        verdicts: list[Rejection | None] = []
        for contact, index in zip(contacts, indexes, strict=True):
            masked = _masked_national(contact.primary_phone.e164)
            verdict = listing_verdict(self.purpose, now, dnc=entries.get(index, ()), consents=consents.get(index, ()))
            if verdict is not Verdict.ALLOWED:
                verdicts.append(Rejection(contact.line, self.phone_column, REFUSALS[verdict], REASONS[verdict], masked))
            elif index in listed:
                verdicts.append(
                    Rejection(
                        contact.line, self.phone_column, DUPLICATE_CODE, "primary phone already in the list", masked
                    )
                )
            else:
                verdicts.append(None)
        return verdicts

    def _already_listed(self, session: Session, indexes: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(indexes), 1000):
            chunk = indexes[start : start + 1000]
            rows = session.scalars(
                select(ContactPhone.e164_bidx)
                .join(ContactRecord, ContactRecord.id == ContactPhone.contact_id)
                .where(
                    ContactRecord.list_id == self.list_id,
                    ContactPhone.position == 0,
                    ContactPhone.e164_bidx.in_(chunk),
                )
            )
            found.update(rows)
        return found

    # --- storing --------------------------------------------------------------------------------------------

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        """Insert the batch's contacts and phones and move the job's checkpoint, in one transaction."""
        sealed = [
            seal_contact(
                self.vault,
                tenant_id=self.tenant_id,
                list_id=self.list_id,
                contact=contact,
                sensitive_custom=self.sensitive_custom,
                source_import_id=self.job_id,
            )
            for contact in contacts
        ]
        with self.db.scoped() as session:
            set_tenant(session, self.tenant_id)
            insert_sealed(session, sealed)
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id)
                .values(
                    checkpoint=checkpoint.to_json(),
                    total=checkpoint.total,
                    accepted=checkpoint.accepted,
                    rejected=checkpoint.rejected,
                    duplicates=checkpoint.duplicates,
                    updated_at=clock.now(),
                )
            )
            session.commit()
        self._bidx = {}

    def accepted_primary_phones(self) -> Iterable[str]:
        """Primary phones this job stored so far (decrypted), to rebuild in-file dedupe on resume."""
        return self._stored_primaries()

    def _stored_primaries(self) -> Iterator[str]:
        with self.db.scoped() as session:
            set_tenant(session, self.tenant_id)
            rows = session.execute(
                select(ContactPhone.id, ContactPhone.e164_ct)
                .join(ContactRecord, ContactRecord.id == ContactPhone.contact_id)
                .where(ContactRecord.source_import_id == self.job_id, ContactPhone.position == 0)
                .execution_options(yield_per=5000)
            )
            for phone_id, ciphertext in rows:
                context = cols.PHONE.context(self.tenant_id, phone_id)
                yield self.vault.cipher.decrypt_text(ciphertext, context=context)
