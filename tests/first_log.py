"""The embedded log's tables as the first version made them: for tests that open an old log."""

FIRST_VERSION_TABLES = """
    CREATE TABLE topics (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
                         partitions INTEGER NOT NULL, created_at REAL NOT NULL);
    CREATE TABLE partitions (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                             next_offset INTEGER NOT NULL, PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
    CREATE TABLE records (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
                          key BLOB, value BLOB NOT NULL, timestamp REAL NOT NULL,
                          PRIMARY KEY (topic_id, partition, "offset")) WITHOUT ROWID;
    CREATE TABLE consumers (consumer TEXT NOT NULL, topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,
                            "offset" INTEGER NOT NULL, updated_at REAL NOT NULL,
                            PRIMARY KEY (consumer, topic_id, partition)) WITHOUT ROWID;
"""
