"""Throwaway PKI for the local control plane: one CA, serving and client certificates, SA keys, kubeconfigs.

Everything here is for a loopback test cluster that lives for minutes: keys are EC P-256 (fast to
generate), certificates are valid for one day, and files are written with mode 0600 for keys.

Kubernetes conventions followed: a client certificate's Common Name is the user name and each
Organization is a group (``O=system:masters`` grants cluster-admin through the bootstrap binding
``cluster-admin``); service-account tokens are signed with a key pair whose public half the API
server verifies (``--service-account-key-file``) and whose private half it signs with
(``--service-account-signing-key-file``).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=1)
# Clock skew between this process and the API server is nil (same host), but a backdated
# notBefore keeps certificates valid if the wall clock steps back slightly during a run.
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key (PKCS#8, unencrypted)."""

    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
    )


class CertificateAuthority:
    """A self-signed CA that issues serving and client certificates into ``directory``.

    Raises ``OSError`` when ``directory`` cannot be written.
    """

    def __init__(self, directory: Path, common_name: str = "dbjobs-local-ca") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            _builder(self._name, self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.cert_path = directory / "ca.crt"
        self.cert_path.write_bytes(self.cert_pem)

    def _issue(
        self, stem: str, subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> CertPair:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(subject, self._name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        pair = CertPair(self.directory / f"{stem}.crt", self.directory / f"{stem}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(pair.key, key)
        return pair

    def issue_server(self, stem: str, dns_names: list[str], ips: list[str]) -> CertPair:
        """Issue a TLS serving certificate whose SANs are ``dns_names`` and ``ips`` (IPv4/IPv6 text)."""
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else stem)])
        return self._issue(stem, subject, ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def issue_client(self, stem: str, user: str, groups: tuple[str, ...] = ()) -> CertPair:
        """Issue a client certificate for Kubernetes user ``user`` in ``groups`` (CN=user, O=group each)."""
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        return self._issue(stem, x509.Name(attrs), ExtendedKeyUsageOID.CLIENT_AUTH, [])


def write_service_account_keys(directory: Path) -> CertPair:
    """Write an RSA-2048 key pair for service-account tokens; ``cert`` holds the PEM *public key*.

    RSA rather than EC because RS256 is the algorithm every Kubernetes token consumer accepts.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pair = CertPair(directory / "sa.pub", directory / "sa.key")
    public = key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pair.cert.write_bytes(pem)
    _write_key(pair.key, key)
    return pair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(path: Path, server: str, ca_cert: Path, client: CertPair, user: str) -> Path:
    """Write a self-contained kubeconfig (CA and client certificate embedded as ``*-data``) to ``path``.

    One cluster ``dbjobs-local``, one user ``user``, one context ``<user>@dbjobs-local`` made
    current; mode 0600 because it holds a private key. Returns ``path``.
    """
    cluster, context = "dbjobs-local", f"{user}@dbjobs-local"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}],
        "users": [
            {"name": user, "user": {"client-certificate-data": _b64(client.cert), "client-key-data": _b64(client.key)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return path


def write_token_kubeconfig(path: Path, server: str, ca_cert: Path, token: str, user: str) -> Path:
    """Like :func:`write_kubeconfig`, authenticating with a bearer ``token`` (e.g. a ServiceAccount token
    from ``kubectl create token``) instead of a client certificate. Mode 0600. Returns ``path``."""
    cluster, context = "dbjobs-local", f"{user}@dbjobs-local"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    return path
