"""Write files atomically: to a temporary name in the same folder, renamed when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import BgcError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is
    removed, so a reader never sees a partial file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise BgcError(f"{path}: cannot write output: {exc.strerror}") from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise BgcError(f"{path}: cannot write output: {exc.strerror}") from None
    except BaseException:
        _unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _unlink(p):
    with contextlib.suppress(OSError):
        os.unlink(p)
