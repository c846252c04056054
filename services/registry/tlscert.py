"""HTTPS for the registry: the configured certificate, or a CA and a server certificate made
with the ``openssl`` command on first start.

The generated files live in ``<root>/registry/tls/``: ``ca.crt`` (what clients trust: copy it to
``/etc/docker/certs.d/<host:port>/ca.crt`` or pass it to ``--cert-dir``), ``ca.key``,
``server.crt`` and ``server.key`` (keys readable by root only). The server certificate names
localhost, the loopback addresses, the host name and the listen address. They are reused on
later starts, so clients keep trusting the same CA; delete the directory to make new ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from services.kit import errors
from services.kit.log import get_logger

log = get_logger()

CA_DAYS = "3650"
SERVER_DAYS = "825"


def server_names(listen_host: str) -> list[str]:
    """subjectAltName entries of the generated certificate."""
    names = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        names.append(f"DNS:{hostname}")
    host = listen_host.strip("[]")
    if host and host not in ("0.0.0.0", "::", "127.0.0.1", "::1", "localhost"):
        try:
            ipaddress.ip_address(host)
            names.append(f"IP:{host}")
        except ValueError:
            names.append(f"DNS:{host}")
    return names


async def _openssl(*args: str, cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "openssl", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise errors.Internal(f"openssl {args[0]} failed: {out.decode(errors='replace')[-500:]}")


def _all_exist(paths: tuple[Path, ...]) -> bool:
    return all(p.exists() for p in paths)


def _write_extensions(directory: Path, listen_host: str) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / "server.ext").write_text(
        f"subjectAltName={','.join(server_names(listen_host))}\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
        "basicConstraints=critical,CA:FALSE\n"
    )


def _tidy(directory: Path) -> None:
    for name in ("ca.key", "server.key"):
        os.chmod(directory / name, 0o600)
    for name in ("server.csr", "server.ext", "ca.srl"):
        (directory / name).unlink(missing_ok=True)


async def generate(directory: Path, listen_host: str) -> None:
    """Make ca.crt/ca.key and server.crt/server.key in ``directory``."""
    await asyncio.to_thread(_write_extensions, directory, listen_host)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    await _openssl(
        "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", CA_DAYS,
        "-subj", f"/CN=estiba registry CA {socket.gethostname()}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    await _openssl(
        "req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj",
        "/CN=estiba registry", cwd=directory,
    )  # fmt: skip
    await _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", SERVER_DAYS, "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    await asyncio.to_thread(_tidy, directory)


async def server_context(
    cert: str, key: str, state_dir: Path, listen_host: str
) -> tuple[ssl.SSLContext, str]:
    """The TLS context to serve with, and the PEM certificate clients should trust."""
    if cert:
        cert_path, key_path, trust = Path(cert), Path(key), Path(cert)
    else:
        directory = state_dir / "tls"
        cert_path, key_path, trust = (
            directory / "server.crt", directory / "server.key", directory / "ca.crt",
        )  # fmt: skip
        if not await asyncio.to_thread(_all_exist, (cert_path, key_path, trust)):
            await generate(directory, listen_host)
            log.info("tls_certificate_generated", directory=str(directory))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        await asyncio.to_thread(context.load_cert_chain, cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise errors.FailedPrecondition(
            f"cannot load the TLS certificate {cert_path} with key {key_path}: {exc}",
            reason="TLS_INVALID",
        ) from exc
    pem = await asyncio.to_thread(trust.read_text)
    log.info("tls_trust_this_ca", path=str(trust), pem=pem)
    return context, pem
