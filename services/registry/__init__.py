"""The registry: stores images and serves them over the OCI Distribution HTTP API (v1.1).

Its gRPC API (``estiba.registry.v1``: System, Repositories, Maintenance, Access) is for
administration. With auth on (off by default) every ``/v2/`` request is authenticated (Docker's
token protocol, or Basic) and authorized against grants on repository patterns; quotas per team
and retention rules apply either way; ``tls`` serves HTTPS (``tlscert.py``).

Layers, top to bottom:

* ``http/``: the ``/v2/...`` data plane (aiohttp), one module per resource, the spec's error
  codes as data in ``http/errors.py``, the access middleware (``auth.py``) and the token
  endpoint (``token.py``);
* ``api/``: the gRPC servicers, thin translations to and from ``api/convert.py``;
* ``domain/``: the rules (names, digests, manifests, uploads, blobs, garbage collection; accounts,
  permissions, tokens, quotas, retention), which know neither HTTP, gRPC nor SQL, and declare
  what they need from storage in ``ports.py``;
* ``store/``: the content-addressed blob files (``blobfs.py``, layout in its docstring) and the
  metadata in registry.db (``sqlite*.py``, schema in ``migrations.py``).

``main.py`` wires them together; ``python -m services.registry`` runs it.
"""
