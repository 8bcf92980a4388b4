"""Where accepted contacts go. The database layer implements `ContactSink`; the sinks here serve tests,
benchmarks and file-based dry runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.phones import Phone, PhoneType
from callvault.contacts.validate import Contact, Rejection


class ContactSink(Protocol):
    """Storage for one import job."""

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        """Store the batch and the checkpoint atomically: both or neither (one database transaction)."""
        ...

    def accepted_primary_phones(self) -> Iterable[str]:
        """E.164 primary phones of the contacts this import stored so far; rebuilds dedupe on resume."""
        ...


@runtime_checkable
class ScreeningSink(ContactSink, Protocol):
    """A sink that can refuse contacts the file alone cannot judge: already in the list (counted as
    duplicates, code `row.duplicate`) or on a do-not-call list (counted as rejected)."""

    def screen(self, contacts: Sequence[Contact]) -> list[Rejection | None]:
        """For each contact of a batch (after in-file dedupe), None to store it or why not (masked value)."""
        ...


def contact_to_json(contact: Contact) -> dict[str, Any]:
    """JSON form of a contact (full values: only for trusted storage, never for logs or reports)."""
    return {
        "line": contact.line,
        "name": contact.name,
        "phones": [{"e164": p.e164, "type": p.type.value} for p in contact.phones],
        "id_number": contact.id_number,
        "card_number": contact.card_number,
        "custom": contact.custom,
    }


def contact_from_json(raw: dict[str, Any]) -> Contact:
    """Inverse of `contact_to_json`."""
    return Contact(
        line=raw["line"],
        phones=tuple(Phone(p["e164"], PhoneType(p["type"])) for p in raw["phones"]),
        name=raw["name"],
        id_number=raw["id_number"],
        card_number=raw["card_number"],
        custom=raw["custom"],
    )


class MemorySink:
    """Keeps contacts in a list; the checkpoint is updated with the batch."""

    def __init__(self) -> None:
        self.contacts: list[Contact] = []
        self.checkpoint: Checkpoint | None = None

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        """Append the batch and move the checkpoint."""
        self.contacts.extend(contacts)
        self.checkpoint = checkpoint

    def accepted_primary_phones(self) -> Iterable[str]:
        """Primary phones of stored contacts."""
        return (c.primary_phone.e164 for c in self.contacts)


class CountingSink:
    """Stores nothing: measures the pipeline alone (benchmarks)."""

    def __init__(self) -> None:
        self.accepted = 0
        self.checkpoint: Checkpoint | None = None

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        """Count the batch."""
        self.accepted += len(contacts)
        self.checkpoint = checkpoint

    def accepted_primary_phones(self) -> Iterable[str]:
        """Nothing is stored, so nothing to rebuild."""
        return ()


class JsonlSink:
    """Contacts appended to a JSON-lines file, with the checkpoint in `<file>.checkpoint.json`.

    Atomicity without a database: rows are written and fsynced first, then the checkpoint (with the data
    file's size) replaces the old one by rename. Opening with `resume=True` truncates rows written after
    the last checkpoint, so a crash between the two steps leaves no row twice.
    """

    def __init__(self, path: Path, *, resume: bool = False, durable: bool = True) -> None:
        self.path = path
        self.checkpoint_path = path.with_name(path.name + ".checkpoint.json")
        self._durable = durable
        state = self._read_state() if resume else None
        self._checkpoint = Checkpoint.from_json(state["checkpoint"]) if state else None
        self._file = path.open("r+b" if state and path.exists() else "wb")
        self._file.truncate(state["data_bytes"] if state else 0)
        self._file.seek(0, os.SEEK_END)

    def _read_state(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        state: dict[str, Any] = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        return state

    def last_checkpoint(self) -> Checkpoint | None:
        """The checkpoint to pass to `run_import(resume_from=...)`, or None to start afresh."""
        return self._checkpoint

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        """Append rows, make them durable, then publish the checkpoint."""
        if contacts:
            lines = "".join(json.dumps(contact_to_json(c), ensure_ascii=False) + "\n" for c in contacts)
            self._file.write(lines.encode("utf-8"))
        self._file.flush()
        if self._durable:
            os.fsync(self._file.fileno())
        self._publish(checkpoint, self._file.tell())

    def _publish(self, checkpoint: Checkpoint, data_bytes: int) -> None:
        temporary = self.checkpoint_path.with_name(self.checkpoint_path.name + ".tmp")
        temporary.write_text(
            json.dumps({"checkpoint": checkpoint.to_json(), "data_bytes": data_bytes}), encoding="utf-8"
        )
        os.replace(temporary, self.checkpoint_path)
        self._checkpoint = checkpoint

    def accepted_primary_phones(self) -> Iterable[str]:
        """Primary phones read back from the data file."""
        self._file.flush()
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)["phones"][0]["e164"]

    def contacts(self) -> Iterator[Contact]:
        """Every stored contact, in file order."""
        self._file.flush()
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                yield contact_from_json(json.loads(line))

    def close(self) -> None:
        """Close the data file."""
        self._file.close()
