"""The SQLite store: one database file, one thread that runs each transaction in one hop."""
