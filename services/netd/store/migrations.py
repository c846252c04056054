"""The schema of netd.db, one migration per released change.

Version 1::

    networks    id (PK) · name (UNIQUE) · driver · subnet · gateway · created_at
    endpoints   id (PK) · network_id → networks.id · container_id · address · created_at
                UNIQUE (network_id, address) so no address is ever handed out twice
"""

from services.kit.db import Migration

MIGRATIONS = [
    Migration(
        1,
        "networks and endpoints",
        """
        CREATE TABLE networks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            driver TEXT NOT NULL,
            subnet TEXT NOT NULL,
            gateway TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE endpoints (
            id TEXT PRIMARY KEY,
            network_id TEXT NOT NULL REFERENCES networks(id),
            container_id TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (network_id, address)
        );
        """,
    ),
]
