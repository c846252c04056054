"""The registry's rules: names, digests, manifests, uploads, blobs and garbage collection.

Nothing here knows HTTP, gRPC or SQL. Services take their storage through the protocols in
``ports`` and raise only ``services.kit.errors`` classes, each with a ``reason`` that names the
OCI Distribution error code it stands for (``BLOB_UNKNOWN``, ``DIGEST_INVALID``, ...).
"""
