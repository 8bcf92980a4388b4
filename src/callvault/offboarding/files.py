"""Crash-safe files: written under a temporary name, flushed to disk, then renamed into place."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WrittenFile:
    size: int
    sha256: str


class HashingWriter:
    """Writes bytes to a file while counting and hashing them."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._raw.write(data)
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> WrittenFile:
        return WrittenFile(self.size, self._hash.hexdigest())


@contextmanager
def atomic_file(path: Path) -> Iterator[HashingWriter]:
    """Yield a writer for `path`; the file appears under its name only once complete and on disk.

    A crash leaves at most a ``.part`` file, which the next run overwrites.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    # Owner-only from the start: exports hold decrypted personal data.
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as raw:
        writer = HashingWriter(raw)
        yield writer
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(part, path)
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> WrittenFile:
    with atomic_file(path) as out:
        out.write(data)
    return out.digest()


def sha256_of(path: Path) -> WrittenFile | None:
    """Size and SHA-256 of a file, or None if it does not exist."""
    try:
        with path.open("rb") as f:
            h = hashlib.sha256()
            size = 0
            while chunk := f.read(_READ_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return WrittenFile(size, h.hexdigest())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
