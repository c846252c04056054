"""The schema of registry.db, one migration per released change.

Version 1::

    repositories    id (PK) · name (UNIQUE) · created_at
         │ 1
         ├──────────────┬───────────────────────────┐
         │ n            │ n                         │ n
    repo_blobs       manifests                    tags
    repo_id · digest  repo_id · digest (PK pair)   repo_id · name (PK pair)
    (PK pair)         media_type · content         digest ──▶ manifests (same repo)
    linked_at         subject · artifact_type      updated_at
         │            annotations · pushed_at
         │ n               │ 1
         ▼ 1               │ n
    blobs            manifest_refs
    digest (PK)      repo_id · digest ──▶ manifests
    size             ref_digest · kind ("blob" | "manifest")
    created_at
    last_used        uploads
                     id (PK) · repository · size · created_at · updated_at · expires_at

* ``blobs``: one row per file in the content store ``blobs/<alg>/<2 hex>/<hex>``, shared by all
  repositories. A row exists only once its file is complete and durable. ``last_used`` is the
  last time a repository linked (or re-checked) the blob; garbage collection spares blobs used
  within its grace period.
* ``repo_blobs``: which repositories may serve a blob (pushed to or mounted into them).
* ``manifests``: the exact bytes as pushed, keyed by the digest the client addressed them with
  (sha256 for a push by tag). ``subject`` and ``artifact_type`` feed the referrers API.
* ``manifest_refs``: what a manifest refers to (config and layer blobs, child manifests of an
  index), for the checks at push time and for garbage collection.
* ``tags``: deleting a manifest deletes its tags (ON DELETE CASCADE); deleting a tag leaves the
  manifest for garbage collection.
* ``uploads``: blob upload sessions; their bytes are in ``uploads/<id>/data``. ``size`` is what
  the client was told it has sent; ``expires_at`` moves on with every request.

Times are seconds since the epoch (REAL).
"""

from services.kit.db import Migration

MIGRATIONS = [
    Migration(
        1,
        "repositories, blobs, manifests, tags, references and upload sessions",
        """
        CREATE TABLE repositories (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            last_used REAL NOT NULL
        );
        CREATE TABLE repo_blobs (
            repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
            digest TEXT NOT NULL REFERENCES blobs(digest),
            linked_at REAL NOT NULL,
            PRIMARY KEY (repo_id, digest)
        ) WITHOUT ROWID;
        CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
        CREATE TABLE manifests (
            repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
            digest TEXT NOT NULL,
            media_type TEXT NOT NULL,
            content BLOB NOT NULL,
            subject TEXT,
            artifact_type TEXT NOT NULL DEFAULT '',
            annotations TEXT NOT NULL DEFAULT '{}',
            pushed_at REAL NOT NULL,
            PRIMARY KEY (repo_id, digest)
        );
        CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
        CREATE TABLE manifest_refs (
            repo_id INTEGER NOT NULL,
            digest TEXT NOT NULL,
            ref_digest TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
            PRIMARY KEY (repo_id, digest, ref_digest, kind),
            FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE TABLE tags (
            repo_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            digest TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (repo_id, name),
            FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX tags_by_digest ON tags(repo_id, digest);
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX uploads_by_repository ON uploads(repository);
        """,
    ),
]
