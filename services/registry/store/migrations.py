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

Version 2 adds who may do what (everything keyed by name, so a grant reads as it is typed)::

    users         id · name (UNIQUE) · password_hash · admin · created_at · tokens_after
    teams         id · name (UNIQUE) · quota_bytes · created_at
    team_members  team_id ──▶ teams · user_id ──▶ users · role ("member" | "admin")
    robots        id · team_id ──▶ teams · name "<team>+<robot>" (UNIQUE) · secret_hash
                  created_at · expires_at · revoked_at
    grants        subject_kind ("user" | "team" | "robot") · subject · pattern · actions
    anonymous_pull  pattern
    retention     pattern · keep_last · keep_days
    signing_keys  kid · secret · created_at · retired_at
    audit         id · at · actor · action · target · outcome · address · detail

* ``users.password_hash``: ``scrypt$N$r$p$salt$hash`` (services.registry.domain.passwords).
  ``tokens_after``: tokens issued to the user before this time are refused (password changed).
* ``robots.secret_hash``: sha256 of a random secret shown once; ``expires_at`` 0 is never.
* ``grants.actions``: a comma-separated subset of pull, push, overwrite, delete; ``pattern`` is a
  repository name with ``*`` (within one component) and ``**`` (across components).
* ``teams.quota_bytes``: 0 is no quota; the team's repositories are those named ``<team>/...``.
* ``signing_keys``: HMAC keys of the tokens; the newest unretired one signs, retired ones still
  verify until every token they signed has expired.

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
    Migration(
        2,
        "users, teams, robots, grants, anonymous pull, retention, signing keys and audit",
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            admin INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            tokens_after REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            quota_bytes INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE TABLE team_members (
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('member', 'admin')),
            added_at REAL NOT NULL,
            PRIMARY KEY (team_id, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE robots (
            id INTEGER PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            name TEXT NOT NULL UNIQUE,
            secret_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL DEFAULT 0,
            revoked_at REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE grants (
            subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'team', 'robot')),
            subject TEXT NOT NULL,
            pattern TEXT NOT NULL,
            actions TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (subject_kind, subject, pattern)
        ) WITHOUT ROWID;
        CREATE TABLE anonymous_pull (
            pattern TEXT PRIMARY KEY,
            created_at REAL NOT NULL
        );
        CREATE TABLE retention (
            pattern TEXT PRIMARY KEY,
            keep_last INTEGER NOT NULL DEFAULT 0,
            keep_days REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            secret BLOB NOT NULL,
            created_at REAL NOT NULL,
            retired_at REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_by_time ON audit(at);
        """,
    ),
]
