"""The schema of registry.db, one migration per released change.

Version 1::

    repositories   name (PK) · created_at
    blobs          digest (PK) · size · created_at        one row per blob in blobs/<alg>/<2>/<hex>

Blob contents live on disk in the content store; the database holds what refers to them.
"""

from services.kit.db import Migration

MIGRATIONS = [
    Migration(
        1,
        "repositories and blobs",
        """
        CREATE TABLE repositories (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
]
