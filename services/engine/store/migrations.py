"""The schema of engine.db, one migration per released change.

Version 7::

    images        id (PK, sha256 of the config) · created_at (stored on this node)
                  · config (the config JSON, exact bytes) · parent (image id or '')
                  · manifest (digest of the manifest pulled or pushed, or '') · last_tag_time
    layers        chain_id (PK) · diff_id · parent (chain id below, or '')
                  · size (bytes of file content) · tar_size (bytes of the uncompressed tar)
    image_layers  (image_id → images.id ON DELETE CASCADE, position) PK
                  · chain_id → layers.chain_id · blob_digest · blob_media_type · blob_size
    image_names   name (PK: "docker.io/library/busybox:latest" or "...busybox@sha256:...")
                  · repository · kind ('tag' | 'digest')
                  · image_id → images.id ON DELETE CASCADE · created_at
    containers    id (PK) · name (UNIQUE) · image_id → images.id · state · created_at
                  · spec (what the user asked for, JSON) · resolved (merged with the image, JSON)
                  · pid · conmon_pid · exit_code · error · started_at · finished_at
                  · oom_killed · restart_count · manually_stopped
                  · sandbox (what netd set up: netns, every endpoint, hosts, resolv.conf; JSON)
                  · health (healthcheck status, failing streak and last results; JSON)
    volumes       name (PK) · driver · created_at · labels (JSON) · options (JSON)
                  a directory <state>/volumes/<name>/_data exists for every row
    build_cache   key (PK: sha256 of parent image, instruction and copied files)
                  · image_id → images.id ON DELETE CASCADE (the step's result) · created_at
                  · last_used
    teardowns     container_id (PK) · image_id → images.id (NULL once the root is down)
                  a container removed from ``containers`` whose root, runc state, cgroups and
                  network sandbox are still being taken down (``containers.teardown``)

An image's layers are listed lowest first (position 0 is the base). A layer directory
``<state>/layers/<chain id hex>`` exists for every row of ``layers``; a blob
``<state>/content/blobs/<alg>/<hex>`` exists for every ``images.id``, ``images.manifest`` and
``image_layers.blob_digest``. ``containers.image_id`` has no cascade on purpose: an image a
container is built on cannot be deleted under it; nor while a removed container's root may still
be mounted on its layers (``teardowns.image_id``).

A build step's result is an ordinary image (untagged unless it is the last step); removing
the image forgets the cache entry with it.

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
    Migration(
        2,
        "image records: config, layers, names",
        """
        ALTER TABLE images ADD COLUMN config BLOB NOT NULL DEFAULT x'';
        ALTER TABLE images ADD COLUMN parent TEXT NOT NULL DEFAULT '';
        ALTER TABLE images ADD COLUMN manifest TEXT NOT NULL DEFAULT '';
        ALTER TABLE images ADD COLUMN last_tag_time TEXT NOT NULL DEFAULT '';
        CREATE TABLE layers (
            chain_id TEXT PRIMARY KEY,
            diff_id TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',
            size INTEGER NOT NULL,
            tar_size INTEGER NOT NULL
        );
        CREATE TABLE image_layers (
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            chain_id TEXT NOT NULL REFERENCES layers(chain_id),
            blob_digest TEXT NOT NULL,
            blob_media_type TEXT NOT NULL,
            blob_size INTEGER NOT NULL,
            PRIMARY KEY (image_id, position)
        );
        CREATE INDEX image_layers_chain ON image_layers(chain_id);
        CREATE INDEX image_layers_blob ON image_layers(blob_digest);
        CREATE TABLE image_names (
            name TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL
        );
        CREATE INDEX image_names_image ON image_names(image_id);
        CREATE INDEX image_names_repository ON image_names(repository);
        """,
    ),
    Migration(
        3,
        "container lifecycle",
        """
        ALTER TABLE containers ADD COLUMN spec TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE containers ADD COLUMN resolved TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE containers ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN conmon_pid INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN exit_code INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN error TEXT NOT NULL DEFAULT '';
        ALTER TABLE containers ADD COLUMN started_at TEXT NOT NULL DEFAULT '';
        ALTER TABLE containers ADD COLUMN finished_at TEXT NOT NULL DEFAULT '';
        ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN sandbox TEXT NOT NULL DEFAULT '{}';
        CREATE INDEX containers_image ON containers(image_id);
        """,
    ),
    Migration(
        4,
        "named volumes",
        """
        CREATE TABLE volumes (
            name TEXT PRIMARY KEY,
            driver TEXT NOT NULL,
            created_at TEXT NOT NULL,
            labels TEXT NOT NULL DEFAULT '{}',
            options TEXT NOT NULL DEFAULT '{}'
        );
        """,
    ),
    Migration(
        5,
        "container health",
        """
        ALTER TABLE containers ADD COLUMN health TEXT NOT NULL DEFAULT '{}';
        """,
    ),
    Migration(
        6,
        "build cache",
        """
        CREATE TABLE build_cache (
            key TEXT PRIMARY KEY,
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_used TEXT NOT NULL
        );
        CREATE INDEX build_cache_image ON build_cache(image_id);
        """,
    ),
    Migration(
        7,
        "container teardowns",
        """
        CREATE TABLE teardowns (
            container_id TEXT PRIMARY KEY,
            image_id TEXT REFERENCES images(id)
        );
        CREATE INDEX teardowns_image ON teardowns(image_id);
        """,
    ),
]
