"""The import pipeline without a database: read → map/validate → dedupe → sink, in checkpointed batches.

Every row read is counted exactly once: accepted (sent to the sink), rejected or duplicate (both written
to the error report). After each batch the report is flushed, then the sink stores the batch's contacts
with a `Checkpoint` atomically; a rerun with `resume_from` continues right after the last stored batch,
truncates the report to its checkpointed size and rebuilds dedupe from the sink.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.dedupe import SeenPhones
from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.phones import DEFAULT_REGION, dedupe_key, mask_phone
from callvault.contacts.readers import START, Layout, SourceFormat, SourceRow, open_reader
from callvault.contacts.report import ErrorReport
from callvault.contacts.sinks import ContactSink, ScreeningSink
from callvault.contacts.validate import Contact, Rejection, RowValidator

BATCH_ROWS: Final = 5000
DUPLICATE_CODE: Final = "row.duplicate"
GC_THRESHOLD: Final = 50_000


@dataclass(frozen=True)
class ImportResult:
    """Counters of a finished import: `total == accepted + rejected + duplicates`."""

    total: int
    accepted: int
    rejected: int
    duplicates: int
    report_path: Path
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        """The `--json` output of `callvault contacts import`."""
        return {
            "total": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "report": str(self.report_path),
        }


ProgressCallback = Callable[[Checkpoint], None]


def run_import(
    path: Path,
    *,
    fmt: SourceFormat | str = "auto",
    mapping: ColumnMapping | None,
    sink: ContactSink,
    report_path: Path,
    layout: Layout | Path | None = None,
    resume_from: Checkpoint | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int = BATCH_ROWS,
    region: str = DEFAULT_REGION,
    durable: bool = True,
) -> ImportResult:
    """Import one file into `sink`; see the module docstring for the counting and resume guarantees.

    `mapping=None` guesses one from the header (`ColumnMapping.guess`). Raises `SourceFileError` or
    `MappingError` before any row is stored when the file or the mapping cannot be used at all.
    `progress` receives the checkpoint after each batch (position, counters).
    """
    reader = open_reader(path, fmt, layout=layout, start=resume_from.position if resume_from else START)
    rows: Iterator[SourceRow] = reader.rows()
    if mapping is None:
        columns = reader.columns
        if not columns:  # JSON: take the keys of the first object
            first = next(rows, None)
            columns = list(first.fields) if first else []
            rows = itertools.chain([first] if first else [], rows)
        mapping = ColumnMapping.guess(columns)
    mapping.check_columns(reader.columns, reader.duplicate_columns)
    validator = RowValidator(mapping, region=region)
    seen = SeenPhones()
    checkpoint = resume_from or Checkpoint(START, report_offset=0)
    if resume_from is not None:
        seen.add(dedupe_key(e164) for e164 in sink.accepted_primary_phones())
    report = ErrorReport(
        report_path,
        resume_offset=resume_from.report_offset if resume_from else None,
        durable=durable,
    )
    with _fewer_collections(), contextlib.closing(report):
        stored_once = False  # even an empty file stores one (empty) batch, so the sink sees a checkpoint
        while True:
            batch = list(itertools.islice(rows, batch_rows))
            if not batch and stored_once:
                break
            checkpoint = _import_batch(batch, validator, seen, report, sink, checkpoint)
            stored_once = True
            if progress is not None:
                progress(checkpoint)
            if len(batch) < batch_rows:
                break
    return ImportResult(
        checkpoint.total,
        checkpoint.accepted,
        checkpoint.rejected,
        checkpoint.duplicates,
        report_path,
        checkpoint,
    )


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the cyclic collector's first threshold while importing.

    A batch allocates about 10^5 short-lived containers; at the default threshold (700) the collector
    runs hundreds of times per batch and each run walks the live batch: about a third of the import's
    time. Reference counting frees rows as usual; only cycle detection runs less often.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


_PHONES: Final = operator.attrgetter("phones")
_FIRST: Final = operator.itemgetter(0)
_AFTER_PLUS: Final = operator.itemgetter(slice(1, None))


def _report_not_imported(
    outcomes: list[Contact | Rejection],
    fresh: list[bool],
    report: ErrorReport,
    phone_column: str,
    screened_out: dict[int, Rejection],
) -> None:
    """Write rejections and duplicates to the report in line order."""
    fresh_flags = iter(fresh)
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            report.add(outcome)
        elif next(fresh_flags):
            refused = screened_out.get(outcome.line)
            if refused is not None:
                report.add(refused)
        else:
            primary = outcome.phones[0].e164
            national = primary[3:] if primary.startswith("+86") else primary
            report.add(
                Rejection(
                    outcome.line,
                    phone_column,
                    DUPLICATE_CODE,
                    "same primary phone as an earlier row of this file",
                    mask_phone(national),
                )
            )


def _import_batch(
    batch: list[SourceRow],
    validator: RowValidator,
    seen: SeenPhones,
    report: ErrorReport,
    sink: ContactSink,
    previous: Checkpoint,
) -> Checkpoint:
    outcomes = validator.validate_batch(batch)
    # C-level map/compress chains: these passes run once per row of every batch.
    is_contact = list(map(isinstance, outcomes, itertools.repeat(Contact)))
    contacts = cast(list[Contact], list(itertools.compress(outcomes, is_contact)))
    keys = map(int, map(_AFTER_PLUS, map(_FIRST, map(_FIRST, map(_PHONES, contacts)))))  # dedupe_key
    fresh = seen.first_seen(list(keys))
    accepted: list[Contact] = list(itertools.compress(contacts, fresh))
    rejected = len(outcomes) - len(contacts)
    duplicates = len(contacts) - len(accepted)
    screened_out: dict[int, Rejection] = {}
    if accepted and isinstance(sink, ScreeningSink):
        verdicts = sink.screen(accepted)
        phone_column = validator.mapping.phones[0]
        screened_out = {
            c.line: r if r.column else r._replace(column=phone_column)
            for c, r in zip(accepted, verdicts, strict=True)
            if r is not None
        }
        if screened_out:
            accepted = [c for c, r in zip(accepted, verdicts, strict=True) if r is None]
            listed = sum(r.code == DUPLICATE_CODE for r in screened_out.values())
            duplicates += listed
            rejected += len(screened_out) - listed
    if rejected or duplicates:
        _report_not_imported(outcomes, fresh, report, validator.mapping.phones[0], screened_out)
    checkpoint = Checkpoint(
        position=batch[-1].after if batch else previous.position,
        total=previous.total + len(batch),
        accepted=previous.accepted + len(accepted),
        rejected=previous.rejected + rejected,
        duplicates=previous.duplicates + duplicates,
        report_offset=report.flush(),
    )
    sink.write_batch(accepted, checkpoint)
    return checkpoint
