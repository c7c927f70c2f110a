"""`nodegate pki`: what it writes, read back with Python's `cryptography` and the openssl CLI
(independent of the code under test)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import nodegate_testlib as ng


def verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """Raises InvalidSignature unless `ca`'s key signed `cert` (cryptography 38 has no helper)."""
    key = ca.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    else:
        raise AssertionError(f"unexpected CA key {type(key)}")


def openssl_verify(ca: os.PathLike, cert: os.PathLike, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca), *extra, str(cert)],
                          capture_output=True, text=True, timeout=30)


def sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


# ------------------------------------------------------------------------------------------------
# pki init


def test_init_writes_a_self_signed_ca_with_a_private_key_file(pki: ng.Pki):
    ca = ng.load_cert(pki.ca)

    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey), "ECDSA P-256 by default"
    assert ca.public_key().curve.name == "secp256r1"
    verify_signed_by(ca, ca)
    assert stat.S_IMODE(pki.ca_key.stat().st_mode) == 0o600


def test_init_refuses_to_overwrite_without_force(pki: ng.Pki):
    before = (pki.ca.read_bytes(), pki.ca_key.read_bytes())

    again = ng.run_nodegate("pki", "init", "--dir", pki.dir, check=False)

    assert again.returncode != 0
    assert (pki.ca.read_bytes(), pki.ca_key.read_bytes()) == before
    assert again.stderr.strip(), "the refusal must be explained"


def test_init_with_force_replaces_the_ca(pki: ng.Pki):
    before = pki.ca.read_bytes()

    ng.run_nodegate("pki", "init", "--dir", pki.dir, "--force")

    assert pki.ca.read_bytes() != before
    assert stat.S_IMODE(pki.ca_key.stat().st_mode) == 0o600


@pytest.mark.parametrize("key_type, check", [
    ("ecdsa-p256", lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1"),
    ("ed25519", lambda k: isinstance(k, ed25519.Ed25519PublicKey)),
    ("rsa-3072", lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 3072),
])
def test_init_and_issue_honour_the_key_type(tmp_path, key_type, check):
    pki = ng.Pki(tmp_path / "pki").init("--key-type", key_type, "--cn", f"Test CA {key_type}")
    leaf = pki.issue("node", "client", "--key-type", key_type)

    ca = ng.load_cert(pki.ca)
    assert check(ca.public_key())
    assert check(leaf.load().public_key())
    assert common_name(ca) == f"Test CA {key_type}"
    verify_signed_by(leaf.load(), ca)
    inspected = ng.parse_inspect(ng.run_nodegate("pki", "inspect", leaf.cert).stdout)
    assert key_type.split("-")[0] in inspected["key_type"].lower()


def test_init_rejects_an_unknown_key_type(tmp_path):
    result = ng.run_nodegate("pki", "init", "--dir", tmp_path / "pki", "--key-type", "dsa-1024",
                             check=False)

    assert result.returncode != 0
    assert not (tmp_path / "pki" / "ca-key.pem").exists()


# ------------------------------------------------------------------------------------------------
# pki issue


def test_issued_server_cert_has_ip_and_dns_sans_and_verifies_against_the_ca(pki: ng.Pki):
    server = pki.issue("server", "server", "--san", "127.0.0.1,localhost")

    cert = server.load()
    assert ipaddress.ip_address("127.0.0.1") in sans(cert).get_values_for_type(x509.IPAddress)
    assert "localhost" in sans(cert).get_values_for_type(x509.DNSName)
    verify_signed_by(cert, ng.load_cert(pki.ca))
    result = openssl_verify(pki.ca, server.cert, "-purpose", "sslserver")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(server.key.stat().st_mode) == 0o600


def test_issued_client_cert_carries_node_id_in_cn_and_spiffe_uri_san(pki: ng.Pki):
    client = pki.issue("dev-client", "client")

    cert = client.load()
    assert common_name(cert) == "dev-client"
    assert sans(cert).get_values_for_type(x509.UniformResourceIdentifier) == \
        ["spiffe://nodegate.local/node/dev-client"]
    verify_signed_by(cert, ng.load_cert(pki.ca))
    result = openssl_verify(pki.ca, client.cert, "-purpose", "sslclient")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(client.key.stat().st_mode) == 0o600


def test_issue_uses_node_id_and_trust_domain_when_given(pki: ng.Pki):
    client = pki.issue("worker", "client", "--node-id", "worker-7.eu", "--trust-domain", "example.org")

    cert = client.load()
    assert common_name(cert) == "worker-7.eu"
    assert sans(cert).get_values_for_type(x509.UniformResourceIdentifier) == \
        ["spiffe://example.org/node/worker-7.eu"]


def test_issued_certs_are_leaves_with_the_right_extended_key_usage(pki: ng.Pki):
    server = pki.issue("server", "server").load()
    client = pki.issue("client", "client").load()

    for cert in (server, client):
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ExtendedKeyUsageOID.SERVER_AUTH in \
        server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in \
        client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value


def test_issued_cert_does_not_verify_against_another_ca(pki: ng.Pki, other_ca: ng.Pki):
    client = pki.issue("dev-client", "client")

    result = openssl_verify(other_ca.ca, client.cert)

    assert result.returncode != 0


def test_serials_are_random_and_large(pki: ng.Pki):
    serials = [pki.issue(f"c{i}", "client").serial for i in range(4)]

    assert len(set(serials)) == 4
    # Random 128-bit serials: fewer than 100 significant bits has probability ~2^-28 per cert.
    assert all(s.bit_length() >= 100 for s in serials), [ng.serial_hex(s) for s in serials]


def test_issue_honours_validity_window_and_days(pki: ng.Pki):
    expired = pki.issue("old", "client", "--not-before", "2020-01-01T00:00:00Z",
                        "--not-after", "2020-01-02T00:00:00Z").load()
    short = pki.issue("short", "client", "--days", "3").load()

    assert expired.not_valid_before == datetime.datetime(2020, 1, 1)
    assert expired.not_valid_after == datetime.datetime(2020, 1, 2)
    lifetime = short.not_valid_after - short.not_valid_before
    assert datetime.timedelta(days=2, hours=23) <= lifetime <= datetime.timedelta(days=3, hours=1)
    assert short.not_valid_after > datetime.datetime.utcnow()


def test_issue_refuses_to_overwrite_without_force(pki: ng.Pki):
    first = pki.issue("node", "client")
    before = first.cert.read_bytes()

    again = ng.run_nodegate("pki", "issue", "--dir", pki.dir, "--name", "node", "--client", check=False)
    assert again.returncode != 0
    assert first.cert.read_bytes() == before

    ng.run_nodegate("pki", "issue", "--dir", pki.dir, "--name", "node", "--client", "--force")
    assert first.cert.read_bytes() != before


def test_issue_writes_into_out_dir(pki: ng.Pki, tmp_path):
    issued = pki.issue("elsewhere", "server", out_dir=tmp_path / "out")

    assert issued.cert.parent == tmp_path / "out" and issued.cert.exists() and issued.key.exists()
    assert not (pki.dir / "elsewhere.pem").exists()


def test_issue_requires_server_or_client(pki: ng.Pki):
    result = ng.run_nodegate("pki", "issue", "--dir", pki.dir, "--name", "what", check=False)

    assert result.returncode != 0
    assert not (pki.dir / "what.pem").exists()


def test_issue_without_a_ca_fails_and_names_the_directory(tmp_path):
    empty = tmp_path / "no-ca-here"
    empty.mkdir()

    result = ng.run_nodegate("pki", "issue", "--dir", empty, "--name", "x", "--client", check=False)

    assert result.returncode != 0
    assert "no-ca-here" in result.stderr or "ca.pem" in result.stderr, result.stderr


# ------------------------------------------------------------------------------------------------
# pki inspect


def test_inspect_prints_every_field_and_they_agree_with_the_certificate(pki: ng.Pki):
    server = pki.issue("server", "server", "--san", "127.0.0.1,localhost")
    cert = server.load()

    fields = ng.parse_inspect(ng.run_nodegate("pki", "inspect", server.cert).stdout)

    assert set(fields) >= {"subject", "issuer", "serial", "sans", "not_before", "not_after", "key_type",
                           "sha256_fingerprint"}, fields
    assert fields["serial"] == ng.serial_hex(cert.serial_number), "uppercase hex without colons"
    assert "127.0.0.1" in fields["sans"] and "localhost" in fields["sans"]
    assert fields["sha256_fingerprint"].replace(":", "").lower() == ng.sha256_fingerprint(cert)
    assert "server" in fields["subject"]
    assert common_name(ng.load_cert(pki.ca)) in fields["issuer"]
    assert "2020" not in fields["not_after"]
    assert any(w in fields["key_type"].lower() for w in ("ecdsa", "p-256", "p256", "prime256v1"))


def test_inspect_fails_on_a_file_that_is_not_a_certificate(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")

    result = ng.run_nodegate("pki", "inspect", junk, check=False)
    missing = ng.run_nodegate("pki", "inspect", tmp_path / "absent.pem", check=False)

    assert result.returncode != 0 and "junk.pem" in result.stderr, result.stderr
    assert missing.returncode != 0 and "absent.pem" in missing.stderr, missing.stderr


# ------------------------------------------------------------------------------------------------
# pki revoke / crl


def test_crl_without_revocations_is_empty_and_signed_by_the_ca(pki: ng.Pki):
    pki.write_crl()

    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert len(crl) == 0
    assert crl.is_signature_valid(ng.load_cert(pki.ca).public_key())
    assert crl.issuer == ng.load_cert(pki.ca).subject


def test_revoke_lists_the_serial_in_a_signed_crl_that_openssl_enforces(pki: ng.Pki):
    revoked = pki.issue("revoked", "client")
    kept = pki.issue("kept", "client")

    pki.revoke(revoked)

    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.is_signature_valid(ng.load_cert(pki.ca).public_key())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None
    refused = openssl_verify(pki.ca, revoked.cert, "-crl_check", "-CRLfile", str(pki.crl))
    accepted = openssl_verify(pki.ca, kept.cert, "-crl_check", "-CRLfile", str(pki.crl))
    assert refused.returncode != 0 and "revoked" in (refused.stdout + refused.stderr).lower()
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_revocations_accumulate_and_survive_crl_regeneration(pki: ng.Pki):
    first, second = pki.issue("first", "client"), pki.issue("second", "client")

    pki.revoke(first)
    pki.revoke(second)
    pki.write_crl()

    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert {r.serial_number for r in crl} == {first.serial, second.serial}


def test_revoke_refuses_a_cert_from_another_ca(pki: ng.Pki, other_ca: ng.Pki):
    stranger = other_ca.issue("stranger", "client")

    result = ng.run_nodegate("pki", "revoke", "--dir", pki.dir, "--cert", stranger.cert, check=False)

    assert result.returncode != 0
    if pki.crl.exists():
        crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(stranger.serial) is None


def test_issued_key_is_a_loadable_private_key_matching_the_cert(pki: ng.Pki):
    from cryptography.hazmat.primitives import serialization

    issued = pki.issue("server", "server")

    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    assert key.public_key().public_bytes(enc, pub) == issued.load().public_key().public_bytes(enc, pub)
