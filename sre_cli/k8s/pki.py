"""Certificates and keys for a throwaway control plane.

One self-signed CA signs the API server's serving certificate and a client certificate per
component; the API server trusts that CA for client-certificate authentication, so the
certificate subject is the identity RBAC sees (CN = user, O = groups). A separate key pair
signs service-account tokens. Keys are ECDSA P-256: generating them takes milliseconds, which
keeps a cold start fast. ``cryptography`` is imported lazily so importing this module is free.

Example::

    pki = ClusterPKI.create(workdir / "pki")
    pki.admin.cert, pki.admin.key     # PEM files for a system:masters client
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SERVICE_IP", "CertPair", "ClusterPKI", "create_ca", "issue_cert"]

#: First address of the service range (10.0.0.0/24): the in-cluster ``kubernetes`` Service.
SERVICE_IP = "10.0.0.1"
_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class CertPair:
    """A PEM certificate and its PEM private key on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPKI:
    """Every file a control plane needs; build it with :meth:`create`."""

    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    kwok: CertPair
    #: The API server's client identity towards kubelets (logs, exec, port-forward).
    kubelet_client: CertPair
    #: The aggregator's client identity towards extension API servers (metrics-server).
    front_proxy_client: CertPair
    sa_private_key: Path
    sa_public_key: Path

    @classmethod
    def create(cls, directory: Path) -> ClusterPKI:
        """Generate a fresh CA, serving and client certificates and the SA key pair."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        directory.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _build_cert(
            subject_cn="aqua-test-ca", orgs=(), key=ca_key, issuer=None, issuer_key=ca_key, ca=True
        )
        ca = _write(directory, "ca", ca_cert, ca_key)

        def issue(name: str, cn: str, orgs: tuple[str, ...] = (), server: bool = False) -> CertPair:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _build_cert(
                subject_cn=cn, orgs=orgs, key=key, issuer=ca_cert, issuer_key=ca_key, server=server
            )
            return _write(directory, name, cert, key)

        sa_key = ec.generate_private_key(ec.SECP256R1())
        sa_private = directory / "sa.key"
        sa_public = directory / "sa.pub"
        _write_private(
            sa_private,
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        sa_public.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return cls(
            ca=ca,
            apiserver=issue("apiserver", "kube-apiserver", server=True),
            admin=issue("admin", "aqua-admin", ("system:masters",)),
            # The bootstrap RBAC policy grants these two users exactly what their
            # components need; the controller manager then uses per-controller SA tokens.
            controller_manager=issue("controller-manager", "system:kube-controller-manager"),
            scheduler=issue("scheduler", "system:kube-scheduler"),
            # kwok writes node and pod status for every fake node: cluster admin is simplest.
            kwok=issue("kwok", "kwok-controller", ("system:masters",)),
            kubelet_client=issue(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
            ),
            front_proxy_client=issue("front-proxy-client", "front-proxy-client"),
            sa_private_key=sa_private,
            sa_public_key=sa_public,
        )


def create_ca(directory: Path, name: str, cn: str) -> CertPair:
    """A self-signed CA, ``NAME.crt`` and ``NAME.key`` in ``directory``, that
    :func:`issue_cert` signs with (a test's own PKI, say)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_cert(subject_cn=cn, orgs=(), key=key, issuer=None, issuer_key=key, ca=True)
    return _write(directory, name, cert, key)


def issue_cert(
    ca: CertPair,
    directory: Path,
    name: str,
    cn: str,
    orgs: tuple[str, ...] = (),
    *,
    server: bool = False,
) -> CertPair:
    """Sign a client certificate (CN = user, O = groups), or with ``server`` a serving one
    for 127.0.0.1 and localhost, with the CA on disk.

    For identities a control plane does not create itself, e.g. a kubelet
    (``system:node:<name>`` in ``system:nodes``) or kube-proxy (``system:kube-proxy``).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca.key}: expected an EC private key")
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_cert(
        subject_cn=cn, orgs=orgs, key=key, issuer=ca_cert, issuer_key=ca_key, server=server
    )
    return _write(directory, name, cert, key)


def _build_cert(
    *,
    subject_cn: str,
    orgs: tuple[str, ...],
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject_cn))
    subject = x509.Name(attrs)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
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
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        # strict verifiers (Python 3.13's default context) want the issuer's key id on a leaf
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName(n)
            for n in (
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            )
        ]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", SERVICE_IP)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> CertPair:
    from cryptography.hazmat.primitives import serialization

    pair = CertPair(cert=directory / f"{name}.crt", key=directory / f"{name}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        pair.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
    return pair


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
