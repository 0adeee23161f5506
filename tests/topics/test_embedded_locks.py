"""The embedded log never drops SQLite's locks: closing any descriptor of a file drops every POSIX
lock the process holds on it, so opening the log again in a process (each thread opens its own
connection) must not open and close the database file itself. Once it did, and a triggerer with
several threads corrupted topics.db ("database disk image is malformed")."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from fluvio_connectors.state_dir import private_file
from fluvio_connectors.topics.embedded import EmbeddedTopics

# Another process opens the log, writes and closes it. A last connection to close checkpoints the
# write-ahead log and deletes it; SQLite knows it is the last one when no other connection holds its
# shared lock on the database file.
WRITE_AND_CLOSE = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
""")


def another_process_writes_and_closes(path: Path) -> None:
    subprocess.run([sys.executable, "-c", WRITE_AND_CLOSE, str(path)], capture_output=True, text=True,
                   timeout=60, check=True)


def test_opening_the_log_again_keeps_the_locks_this_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "topics.db"
    wal = tmp_path / "topics.db-wal"
    EmbeddedTopics(path).create_topic("t")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        assert holder.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        another_process_writes_and_closes(path)
        assert wal.exists()  # this process still has the log open: the other one was not the last
        private_file(path)  # what each new connection of the log does first
        with EmbeddedTopics(path) as again:  # and a second connection in this process
            assert again.list_topics() == ["t"]
        another_process_writes_and_closes(path)
        assert wal.exists(), "the other process took itself for the last user of the log"
        assert holder.execute("PRAGMA user_version").fetchone()[0] == 7
    finally:
        holder.close()
    another_process_writes_and_closes(path)
    assert not wal.exists()  # now it was the last one


def test_an_existing_log_left_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "topics.db"
    EmbeddedTopics(path).create_topic("t")
    path.chmod(0o644)
    with EmbeddedTopics(path) as topics:
        assert topics.list_topics() == ["t"]
    assert path.stat().st_mode & 0o777 == 0o600
