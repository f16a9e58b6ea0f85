"""SQLAlchemy models, the database engine (SQLite WAL by default) and the asynchronous writer."""
