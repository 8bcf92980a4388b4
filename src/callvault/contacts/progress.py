"""A rich progress bar for imports, fed by `run_import(progress=...)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.pipeline import ProgressCallback
from callvault.contacts.readers import SourceFormat

# Formats whose positions are byte offsets: the bar can show the share of the file read.
_BYTE_POSITIONS = frozenset({SourceFormat.CSV, SourceFormat.NDJSON, SourceFormat.FIXED})


@contextmanager
def import_progress(path: Path, fmt: SourceFormat, *, console: Console | None = None) -> Iterator[ProgressCallback]:
    """Show a bar (bytes read for line formats, rows for workbooks and JSON) with the running counters."""
    by_bytes = fmt in _BYTE_POSITIONS
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[counters]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size if by_bytes else None, counters="")

        def update(checkpoint: Checkpoint) -> None:
            bar.update(
                task,
                completed=checkpoint.position.offset if by_bytes else checkpoint.total,
                counters=(
                    f"{checkpoint.total:,} rows: {checkpoint.accepted:,} accepted, "
                    f"{checkpoint.rejected:,} rejected, {checkpoint.duplicates:,} duplicates"
                ),
            )

        yield update
