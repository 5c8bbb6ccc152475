"""Certificates for plain `wrangler dev`: its remote bindings go to `https://<worker>.kumo.workers.dev:443`, so kumo
can listen there with TLS (`kumo serve --workers-dev-port 443`) under a certificate for `*.kumo.workers.dev` from a
CA of its own, made once in the data directory. workerd trusts that CA when NODE_EXTRA_CA_CERTS names its file
(miniflare passes it on); the name must still resolve to this machine (an /etc/hosts line): kumo does not touch
the machine's DNS or trust store."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

WORKERS_DEV_NAMES = ("*.kumo.workers.dev", "kumo.workers.dev")
VALID_DAYS = 825  # what browsers and most TLS stacks still accept for a leaf


@dataclass(frozen=True)
class WorkersDevTls:
    ca_file: Path  # give this to NODE_EXTRA_CA_CERTS
    cert_file: Path
    key_file: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kumo (local)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def ensure_workers_dev_tls(data_dir: Path) -> WorkersDevTls:
    """The CA and the `*.kumo.workers.dev` certificate under `<data_dir>/workers-dev-tls/`, made if missing."""
    folder = data_dir / "workers-dev-tls"
    files = WorkersDevTls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    if files.ca_file.is_file() and files.cert_file.is_file() and files.key_file.is_file():
        return files
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("kumo local CA for workers.dev")).issuer_name(
        _name("kumo local CA for workers.dev")).public_key(ca_key.public_key()).serial_number(
        x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=VALID_DAYS)).add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                      key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                      decipher_only=False), critical=True).add_extension(
        # the CA may only vouch for kumo's workers.dev names, whoever gets hold of its key
        x509.NameConstraints(permitted_subtrees=[x509.DNSName("kumo.workers.dev")], excluded_subtrees=None),
        critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(WORKERS_DEV_NAMES[0])).issuer_name(ca.subject).public_key(
        key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(
        now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS)).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in WORKERS_DEV_NAMES]), critical=False).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    _write_private(files.key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))  # the CA's key is not kept: no more leaves
    return files
