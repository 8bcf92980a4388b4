"""Reading and writing secret key files: owner-only permissions, no overwrite, no symlinks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from callvault.security.errors import VaultKeyError


def read_private_file(path: str | os.PathLike[str], *, what: str, max_bytes: int, exact: bool = False) -> bytes:
    """Read a regular file that group and others cannot access; raise `VaultKeyError` otherwise.

    With `exact`, the file must hold exactly `max_bytes` bytes.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        raise VaultKeyError(f"{what} file {p} does not exist") from exc
    except OSError as exc:
        raise VaultKeyError(f"{what} file {p} cannot be opened: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise VaultKeyError(f"{what} file {p} is not a regular file")
        if st.st_mode & 0o077:
            raise VaultKeyError(
                f"{what} file {p} has permissions {stat.S_IMODE(st.st_mode):04o}; "
                "it must not be readable or writable by group or others (chmod 600)"
            )
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if exact and len(data) != max_bytes:
        raise VaultKeyError(f"{what} file {p} must hold exactly {max_bytes} bytes")
    if len(data) > max_bytes:
        raise VaultKeyError(f"{what} file {p} must hold at most {max_bytes} bytes")
    return data


def write_private_file(path: str | os.PathLike[str], data: bytes, *, what: str) -> None:
    """Create `path` with mode 0600 and write `data`; never overwrites an existing file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError as exc:
        raise VaultKeyError(f"refusing to overwrite existing {what} file {p}") from exc
    try:
        os.fchmod(fd, 0o600)  # the umask could only have narrowed it, but be explicit
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
