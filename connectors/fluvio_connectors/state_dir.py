"""The state directory (``FLUVIO_CONNECTORS_HOME``): private to its user, and usable or refused.

It holds the embedded topic log and the local connectors' configs and logs, so what this project
creates there is the user's alone: directories 0700, files 0600 (an existing ``topics.db`` left
0644 by an earlier version is tightened when opened). A state directory that cannot be used (a
file in its place, a parent that is a file, a directory that cannot be created or written) is a
``ConfigError`` naming it, never a traceback and never an empty listing.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

from fluvio_connectors.errors import BackendError, ConfigError
from fluvio_connectors.settings import HOME_ENV

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# What a wrong path, not a passing failure, makes mkdir/open fail with.
_BAD_PATH = {errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
             errno.ELOOP, errno.ENAMETOOLONG, errno.EEXIST, errno.EINVAL}


# Where a state directory was set, when not FLUVIO_CONNECTORS_HOME (an Airflow connection's field):
# the hint of its errors names that place.
_SOURCES: dict[str, str] = {}


def name_source(directory: Path, source: str) -> None:
    """Say where ``directory`` was set (``the state_dir field of connection X``), for the hint of
    the errors about it and anything under it; by default they name ``FLUVIO_CONNECTORS_HOME``."""
    _SOURCES[str(directory)] = source


def _hint(path: Path) -> str:
    for candidate in (path, *path.parents):
        if str(candidate) in _SOURCES:
            return f"set {_SOURCES[str(candidate)]} to a directory"
    return f"set {HOME_ENV} to a directory"


def unusable(path: Path, exc: OSError, action: str) -> ConfigError | BackendError:
    """The error for ``action`` on ``path`` failing with ``exc``: a ConfigError (exit 2) when the
    path is wrong, a BackendError (exit 1) when the machine is (disk full, too many files)."""
    reason = exc.strerror or type(exc).__name__
    message = f"state directory {path}: cannot {action} ({reason}); {_hint(path)} you can write"
    return ConfigError(message) if exc.errno in _BAD_PATH else BackendError(message)


def existing_dir(path: Path) -> bool:
    """True if ``path`` is a directory, False if nothing is there yet; ConfigError if something
    else is in the way (a file, or a file where a parent directory should be)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:  # ENOTDIR: a parent is a file; EACCES: a parent cannot be searched
        raise unusable(path, exc, "use it") from None
    if not stat.S_ISDIR(mode):
        raise ConfigError(f"state directory {path}: is not a directory; {_hint(path)}")
    return True


def private_dir(path: Path) -> Path:
    """Create ``path`` if missing, and each missing parent, all 0700 (existing ones are left as
    they are); ConfigError if something other than a directory is in the way."""
    if existing_dir(path):
        return path
    missing = [path]
    while not existing_dir(missing[-1].parent) and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            existing_dir(directory)  # created meanwhile by another process: fine if a directory
        except OSError as exc:
            raise unusable(directory, exc, "create it") from None
    return path


# Serialises private_file() within the process (see there).
_create_lock = threading.Lock()


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if missing; tighten an existing file of ours to 0600.

    An existing file is never opened, only looked at and changed by its path: a process loses
    every POSIX (``fcntl``) lock it holds on a file when it closes *any* descriptor of that file,
    and the embedded log's SQLite connections hold such locks. Opening and closing ``topics.db``
    beside them let another process take itself for the log's last user, checkpoint and delete
    the WAL under them: their later commits were invisible to every other process and their reads
    inconsistent. A file this call creates (``O_EXCL``) is new, so no lock is on it yet; the
    module lock keeps the process's other threads from opening it until that descriptor is closed.
    """
    with _create_lock:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise unusable(path.parent, exc, f"create {path.name}") from None
        else:
            os.close(fd)
            return path
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(path, PRIVATE_FILE)
    except OSError as exc:
        raise unusable(path.parent, exc, f"open {path.name}") from None
    return path
