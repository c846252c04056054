"""The registry's settings (see services.kit.config for where they come from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.kit.settings import Common, check_host_port, grpc_target


@dataclasses.dataclass(frozen=True)
class RegistryConfig(Common):
    """Settings of the registry service."""

    grpc_listen: str = ""
    """gRPC address: "" for <run_dir>/registry.sock, unix:///path, or HOST:PORT."""
    http_addr: str = "127.0.0.1:5000"
    """Where the OCI Distribution HTTP API listens, HOST:PORT."""
    read_only: bool = False
    """Refuse pushes, deletions and garbage collection (pulls go on): for backups."""
    upload_ttl: float = 86400.0
    """Seconds an upload session lives without a request before it expires."""
    max_uploads: int = 1000
    """Upload sessions open at once; more are refused with TOOMANYREQUESTS."""
    max_manifest_bytes: int = 4 << 20
    """The largest manifest accepted; a larger one is refused with 413."""
    max_page_size: int = 1000
    """The most entries in one page of /v2/_catalog or a tag list."""
    gc_interval: float = 3600.0
    """Seconds between scheduled garbage collections; 0 turns them off."""
    gc_grace_period: float = 3600.0
    """Seconds during which new unreferenced blobs and manifests are kept (pushes in flight)."""
    auth: bool = False
    """Require credentials (Docker token authentication, or Basic) and check grants on every
    /v2/ request. Off: anyone who reaches the port may pull, push and delete."""
    auth_service: str = "estiba-registry"
    """The ``service`` named in challenges: the audience of the registry's tokens."""
    auth_realm: str = ""
    """The token endpoint's URL sent in challenges; "" for <scheme>://<Host header>/token."""
    token_ttl: float = 300.0
    """Seconds an access token is valid."""
    refresh_token_ttl: float = 7 * 86400.0
    """Seconds a refresh token (offline_token=true, access_type=offline) is valid."""
    signing_key_rotation: float = 86400.0
    """Seconds between rotations of the token signing key; 0 rotates only on demand."""
    login_failures_per_account: int = 5
    """Failed logins of one account within login_failure_window before it must wait."""
    login_failures_per_address: int = 20
    """Failed logins from one address within login_failure_window before it must wait."""
    login_failure_window: float = 60.0
    """Seconds over which failed logins are counted."""
    tls: bool = False
    """Serve HTTPS. Without tls_cert, a CA and a certificate signed by it are made on first
    start under <root>/registry/tls/ (the CA is logged for clients to trust)."""
    tls_cert: str = ""
    """PEM certificate (chain) to serve; with tls_key."""
    tls_key: str = ""
    """PEM private key of tls_cert."""

    def validate(self) -> None:
        super().validate()
        check_host_port(self.http_addr, "http_addr")
        grpc_target(self.grpc_listen, self.run_dir, "registry")
        for key in (
            "upload_ttl",
            "gc_interval",
            "gc_grace_period",
            "refresh_token_ttl",
            "signing_key_rotation",
            "login_failures_per_account",
            "login_failures_per_address",
        ):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative")
        for key in ("upload_ttl", "token_ttl", "login_failure_window"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive")
        if not self.auth_service:
            raise ValueError("auth_service must not be empty")
        if self.auth_realm and not self.auth_realm.startswith(("http://", "https://")):
            raise ValueError("auth_realm must be an http:// or https:// URL")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        for key in ("max_uploads", "max_manifest_bytes", "max_page_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1")

    @property
    def state_dir(self) -> Path:
        return self.root / "registry"

    @property
    def grpc_target(self) -> str:
        return grpc_target(self.grpc_listen, self.run_dir, "registry")
