"""The history store: every run, kept in SQLite across restarts and crashes, searchable by words and meaning."""
