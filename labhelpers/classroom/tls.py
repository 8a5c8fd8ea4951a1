"""The classroom server's TLS certificate: the instructor's own, checked, or a generated self-signed one.

Passwords cross the network on every request (HTTP basic auth), so the classroom server never listens
without TLS. A generated certificate names the address the server listens on (and localhost), and learners
trust exactly that file through ``MLFLOW_TRACKING_SERVER_CERT_PATH``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from labhelpers.files.artifacts import write_text_atomically
from labhelpers.foundation.errors import ServerError

CERT_FILE = "tls-cert.pem"
HOST_FILE = "tls-host.txt"  # the address a generated certificate was made for
KEY_FILE = "tls-key.pem"
VALID_DAYS = 365


@dataclass(frozen=True)
class Certificate:
    """The certificate and key files the server uses; ``generated`` when this module made them."""

    cert: Path
    key: Path
    generated: bool


def _names(host: str) -> list:
    from cryptography import x509

    dns, ips = {"localhost"}, {"127.0.0.1"}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        dns.add(host)
    else:
        if address.is_unspecified:  # every interface: name this machine as learners may reach it
            dns.update(_machine_names())
            ips.update(_machine_addresses())
        else:
            ips.add(str(address))
    return [x509.DNSName(n) for n in sorted(dns)] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(ips)
    ]


def _machine_names() -> set[str]:
    import socket

    return {name for name in (socket.gethostname(), socket.getfqdn()) if name}


def _machine_addresses() -> set[str]:
    """This machine's IPv4 addresses: its host name's, and the one it would send from (nothing is sent)."""
    import socket

    found: set[str] = set()
    with contextlib.suppress(OSError):
        found.update(
            str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        # a documentation address: a UDP connect only picks the route, nothing is sent
        probe.connect(("192.0.2.1", 9))
        found.add(probe.getsockname()[0])
    return {address for address in found if not address.startswith("127.")}


def generate(folder: Path, host: str) -> Certificate:
    """Write a self-signed certificate for ``host`` (and localhost) and its key (mode 0600).

    Args:
        folder: Where the two PEM files go.
        host: The address or host name learners connect to.

    Returns:
        The files written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"taxi registry classroom ({host})")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_text_atomically(folder / KEY_FILE, key_pem.decode(), mode=0o600)
    (folder / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / HOST_FILE).write_text(host + "\n")
    return Certificate(folder / CERT_FILE, folder / KEY_FILE, generated=True)


def check_supplied(cert: str | Path, key: str | Path) -> Certificate:
    """Check the instructor's certificate and key: both readable PEM files that belong together.

    Raises:
        ServerError: A file is missing or unreadable, or the key does not match the certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = Path(cert).resolve(), Path(key).resolve()
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ServerError(
            f"Cannot use the TLS certificate {cert_path} with key {key_path}: {error}. Give a PEM "
            "certificate and its unencrypted PEM key, or leave both out to generate a self-signed one."
        ) from None
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*public) != private.public_key().public_bytes(*public):
        raise ServerError(f"The key {key_path} does not belong to the certificate {cert_path}.")
    return Certificate(cert_path, key_path, generated=False)


def ensure(folder: Path, host: str, cert: str | Path | None, key: str | Path | None) -> Certificate:
    """The certificate to serve: the supplied pair (checked), else the one generated earlier, else a new one.

    Raises:
        ServerError: Only one of ``cert`` and ``key`` was given, or the supplied pair is unusable.
    """
    if (cert is None) != (key is None):
        raise ServerError("Give both --tls-cert and --tls-key, or neither (a self-signed pair is generated).")
    if cert is not None and key is not None:
        return check_supplied(cert, key)
    made_for = (folder / HOST_FILE).read_text().strip() if (folder / HOST_FILE).is_file() else None
    if made_for == host and (folder / CERT_FILE).is_file() and (folder / KEY_FILE).is_file():
        return Certificate(folder / CERT_FILE, folder / KEY_FILE, generated=True)
    return generate(folder, host)  # first start, or a new address the old certificate does not name
