"""`nodegate pki`: what it writes, read back with Python's `cryptography` and the openssl CLI
(independent of the code under test)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
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


# ------------------------------------------------------------------------------------------------
# issue (both usages), inspect (usages, CRL, JSON), verify, sign-csr, CRL lifetime (issue 15)


def eku(cert: x509.Certificate) -> set:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_issue_server_and_client_together_keeps_both_usages(pki: ng.Pki):
    both = pki.issue("node", "server", "--client", "--node-id", "dev-node").load()

    assert eku(both) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    uris = sans(both).get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == ["spiffe://nodegate.local/node/dev-node"]
    assert ipaddress.ip_address("127.0.0.1") in sans(both).get_values_for_type(x509.IPAddress)


def test_inspect_shows_key_usage_extended_key_usage_and_sans(pki: ng.Pki):
    server = pki.issue("server", "server", "--client")

    fields = ng.parse_inspect(ng.run_nodegate("pki", "inspect", server.cert).stdout)
    ca_fields = ng.parse_inspect(ng.run_nodegate("pki", "inspect", pki.ca).stdout)

    assert fields["type"] == "certificate"
    assert fields["key_usage"] == "digitalSignature"
    assert fields["extended_key_usage"] == "serverAuth, clientAuth"
    assert fields["sans"] == "IP:127.0.0.1, DNS:localhost, URI:spiffe://nodegate.local/node/server"
    assert ca_fields["key_usage"] == "keyCertSign, cRLSign" and ca_fields["is_ca"] == "true"
    assert ca_fields["extended_key_usage"] == "-"


def test_inspect_json_agrees_with_the_certificate(pki: ng.Pki):
    client = pki.issue("dev-client", "client")
    cert = client.load()

    info = json.loads(ng.run_nodegate("pki", "inspect", client.cert, "--output", "json").stdout)

    assert info["type"] == "certificate"
    assert info["serial"] == ng.serial_hex(cert.serial_number)
    assert info["sans"] == ["URI:spiffe://nodegate.local/node/dev-client"]
    assert info["key_usage"] == ["digitalSignature"]
    assert info["extended_key_usage"] == ["clientAuth"]
    assert info["is_ca"] is False and info["expired"] is False
    assert info["not_after"] == cert.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["sha256_fingerprint"] == ng.sha256_fingerprint(cert)
    assert set(info) == {"type", "subject", "issuer", "serial", "sans", "not_before", "not_after",
                         "expired", "key_type", "is_ca", "key_usage", "extended_key_usage",
                         "sha256_fingerprint"}


def test_inspect_shows_a_crls_next_update_and_revoked_serials(pki: ng.Pki):
    revoked = pki.issue("gone", "client")
    pki.revoke(revoked)
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())

    text = ng.run_nodegate("pki", "inspect", pki.crl).stdout
    info = json.loads(ng.run_nodegate("pki", "inspect", pki.crl, "-o", "json").stdout)

    fields = ng.parse_inspect(text)
    assert fields["type"] == "crl"
    assert fields["next_update"].startswith(crl.next_update.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "days left" in fields["next_update"]
    assert ng.serial_hex(revoked.serial) in text
    assert info["type"] == "crl" and info["expired"] is False
    assert info["next_update"] == crl.next_update.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["revoked_serials"] == [ng.serial_hex(revoked.serial)]


@pytest.mark.parametrize("how", ["init", "pki crl", "pki revoke"])
def test_every_crl_nodegate_writes_lives_365_days_by_default(tmp_path, how):
    if how == "init":
        ng.run_nodegate("init", "--dir", tmp_path / "var")
        crl_path = tmp_path / "var" / "pki" / "crl.pem"
    else:
        p = ng.Pki(tmp_path / "ca").init()
        if how == "pki crl":
            p.write_crl()
        else:
            p.revoke(p.issue("x", "client"))
        crl_path = p.crl
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    lifetime = crl.next_update - crl.last_update
    assert datetime.timedelta(days=365) <= lifetime <= datetime.timedelta(days=365, minutes=2), lifetime


def test_crl_refuses_zero_or_negative_days(pki: ng.Pki):
    for days in ("0", "-3"):
        r = ng.run_nodegate("pki", "crl", "--dir", pki.dir, "--days", days, check=False)
        assert r.returncode == 2, r
        assert "--days must be positive" in r.stderr and "refuse every client" in r.stderr
    assert not pki.crl.exists(), "nothing written"


def test_verify_passes_a_good_certificate_and_key(pki: ng.Pki):
    server = pki.issue("server", "server")

    r = ng.run_nodegate("pki", "verify", "--cert", server.cert, "--key", server.key, "--ca", pki.ca)

    assert r.stdout.splitlines() == ["ok    parses", "ok    validity", "ok    key matches",
                                     "ok    chains to CA"]


def test_verify_names_a_key_that_does_not_match(pki: ng.Pki):
    a, b = pki.issue("a", "client"), pki.issue("b", "client")

    r = ng.run_nodegate("pki", "verify", "--cert", a.cert, "--key", b.key, "--ca", pki.ca,
                        check=False)

    assert r.returncode == 1
    assert f"FAIL  key matches: {b.key}: is not the key of {a.cert}" in r.stdout
    assert "ok    chains to CA" in r.stdout
    assert f"{b.key}: is not the key of {a.cert}" in r.stderr


def test_verify_names_a_certificate_from_another_ca(pki: ng.Pki, other_ca: ng.Pki):
    stranger = other_ca.issue("stranger", "client")

    r = ng.run_nodegate("pki", "verify", "--cert", stranger.cert, "--ca", pki.ca, check=False)

    assert r.returncode == 1
    assert f"{stranger.cert}: does not chain to {pki.ca}: unable to get local issuer certificate" \
        in r.stderr, r.stderr


def test_verify_names_an_expired_certificate(pki: ng.Pki):
    old = pki.issue("old", "client", "--not-before", "2020-01-01T00:00:00Z", "--not-after",
                    "2020-02-01T00:00:00Z")

    r = ng.run_nodegate("pki", "verify", "--cert", old.cert, "--ca", pki.ca, check=False)

    assert r.returncode == 1
    assert f"{old.cert}: expired 2020-02-01T00:00:00Z" in r.stderr
    assert "ok    chains to CA" in r.stdout


def make_csr(tmp_path, cn: str) -> tuple:
    key, csr = tmp_path / "req-key.pem", tmp_path / "req.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=DNS:evil.example"],
                   check=True, capture_output=True, timeout=30)
    return key, csr


def test_sign_csr_issues_for_the_csr_key_with_the_flags_sans_and_usages(pki: ng.Pki, tmp_path):
    key, csr = make_csr(tmp_path, "web.internal")
    out = tmp_path / "web.pem"

    r = ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", csr, "--out", out,
                        "--server", "--client", "--cn", "web.internal", "--san",
                        "web.internal,10.0.0.7", "--days", "30")

    cert = ng.load_cert(out)
    assert r.stdout.startswith(f"signed {out} serial ")
    verify_signed_by(cert, ng.load_cert(pki.ca))
    assert common_name(cert) == "web.internal", "CN from --cn"
    assert sans(cert).get_values_for_type(x509.DNSName) == ["web.internal"], \
        "SANs from the flags only, never the CSR's"
    assert eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    lifetime = cert.not_valid_after - cert.not_valid_before
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30, minutes=6)
    ok = ng.run_nodegate("pki", "verify", "--cert", out, "--key", key, "--ca", pki.ca)
    assert "ok    key matches" in ok.stdout
    again = ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", csr, "--out", out,
                            "--client", "--cn", "web.internal", check=False)
    assert again.returncode == 1 and "--force" in again.stderr


def test_sign_csr_refuses_a_tampered_csr_and_needs_a_usage(pki: ng.Pki, tmp_path):
    _, csr = make_csr(tmp_path, "web.internal")
    no_usage = ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", csr, "--out",
                               tmp_path / "x.pem", check=False)
    assert no_usage.returncode == 2 and "--server, --client" in no_usage.stderr

    # A client certificate's CN is a node id: the requester (whose CSR says CN=web.internal) does
    # not get to pick it; a server-only certificate may take the CSR's CN.
    out = tmp_path / "client.pem"
    no_identity = ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", csr, "--out", out,
                                  "--client", check=False)
    assert no_identity.returncode == 2 and "--cn or --node-id" in no_identity.stderr
    assert not out.exists()
    server_only = tmp_path / "server.pem"
    ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", csr, "--out", server_only,
                    "--server")
    assert common_name(ng.load_cert(server_only)) == "web.internal", "CN from the CSR"

    # A flipped bit in the CSR's signature: the CA must not sign a key whose holder is unproven.
    pem = csr.read_text().splitlines()
    der = bytearray(base64.b64decode("".join(pem[1:-1])))
    der[-3] ^= 0x01
    wrong = tmp_path / "wrong.csr"
    wrong.write_text("-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode()
                     + "-----END CERTIFICATE REQUEST-----\n")
    r = ng.run_nodegate("pki", "sign-csr", "--dir", pki.dir, "--csr", wrong, "--out",
                        tmp_path / "y.pem", "--client", "--cn", "web.internal", check=False)
    assert r.returncode == 1
    assert "signature does not verify" in r.stderr, r.stderr
    assert not (tmp_path / "y.pem").exists()
