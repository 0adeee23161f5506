"""A small filesystem that a test can fill up and empty again: a real ``ENOSPC``, deterministically.

``TinyDisk`` mounts a tmpfs of a few MiB (root only: CI runs as root); ``fill()`` writes a filler
file until the kernel refuses a byte more, ``free()`` removes it. Where mounting is not allowed the
tests that need it skip with that reason (unit tests inject the same error at the write call).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class TinyDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / ".filler"

    def fill(self) -> None:
        """Write until the disk is full (the last write fails with ENOSPC)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
                block = b"\0" * size
                while True:
                    try:
                        os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        info = os.statvfs(self.path)
        assert info.f_bavail == 0, "the tiny disk still has room"

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()


@contextlib.contextmanager
def tiny_disk(where: Path, size: str = "8m") -> Iterator[TinyDisk]:
    """A tmpfs of ``size`` mounted on ``where`` (made if missing) for the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem to fill needs root")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield TinyDisk(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
