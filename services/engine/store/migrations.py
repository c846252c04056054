"""The schema of engine.db, one migration per released change.

Version 1::

    images       id (PK, sha256 of the config) · created_at
    containers   id (PK) · name (UNIQUE) · image_id → images.id · state · created_at

``state`` is one of created, running, paused, restarting, exited, dead (Docker's words).
"""

from services.kit.db import Migration

MIGRATIONS = [
    Migration(
        1,
        "images and containers",
        """
        CREATE TABLE images (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        CREATE TABLE containers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            image_id TEXT NOT NULL REFERENCES images(id),
            state TEXT NOT NULL CHECK (
                state IN ('created', 'running', 'paused', 'restarting', 'exited', 'dead')
            ),
            created_at TEXT NOT NULL
        );
        """,
    ),
]
