"""Write files atomically: to a temporary name in the same folder, renamed when complete.

A reader (or a crashed run) therefore never sees a partial file under the final name: either
the previous complete file or the new complete one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import BgcError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is
    removed. The final file gets the usual permissions (0666 less the umask)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise BgcError(f"{path}: cannot write output: {exc.strerror}") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise BgcError(f"{path}: cannot write output: {exc.strerror}") from None
    except BaseException:
        _unlink(tmp)
        raise


def make_dir(path) -> Path:
    """Create a folder (and its parents) for outputs; failure is one line naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BgcError(f"{path}: cannot create output folder: {exc.strerror}") from None
    return path


def write_text(path, text: str) -> None:
    """Write a text file atomically (Unix newlines, UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _unlink(p):
    with contextlib.suppress(OSError):
        os.unlink(p)
