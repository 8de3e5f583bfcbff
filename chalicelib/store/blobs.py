"""Large deliveries as files in the local hub's state directory (S3's stand-in, claim-check).

A blob is written to a temporary file, flushed to disk and renamed into place, so a crash
never leaves half a delivery under its name. Refs are `file:` + the key relative to the root;
a ref that would resolve outside the root is refused (ValueError), never read or deleted.
"""

from __future__ import annotations

import os
from pathlib import Path

PREFIX = "file:"


class FileBlobs:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or path == self.root or not path.is_relative_to(self.root):
            raise ValueError("blob key outside the blob directory")
        return path

    def _path_of(self, ref: str) -> Path:
        if not ref.startswith(PREFIX):
            raise ValueError("not a file blob ref")
        return self._path(ref[len(PREFIX) :])

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # the delivery is acknowledged after this returns
        os.replace(tmp, path)
        return PREFIX + path.relative_to(self.root).as_posix()

    def get(self, ref: str) -> bytes:
        return self._path_of(ref).read_bytes()

    def delete(self, ref: str) -> None:
        """Erase a delivery: overwrite it with zeros first, then unlink (a missing one is fine).
        On copy-on-write or flash storage the old blocks may survive; see docs/privacy.md."""
        path = self._path_of(ref)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as out:
                out.write(b"\0" * size)
                out.flush()
                os.fsync(out.fileno())
            path.unlink()
        except FileNotFoundError:
            pass
