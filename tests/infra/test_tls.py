"""Infra (issue 7 §6, tls role): the certificate behind Apache and the protocols it is served with.

Runs against the converged web guest (molecule/default: tls_mode acme with Pebble on acme1).
Guest names can be overridden for ad-hoc runs: TSUNAGU_INFRA_WEB, TSUNAGU_INFRA_ACME,
TSUNAGU_INFRA_ACME_IP, TSUNAGU_INFRA_TLS_MODE.
"""

from __future__ import annotations

import os

import pytest

WEB = os.environ.get("TSUNAGU_INFRA_WEB", "tsunagu-web1")
ACME_IP = os.environ.get("TSUNAGU_INFRA_ACME_IP", "10.89.77.30")
TLS_MODE = os.environ.get("TSUNAGU_INFRA_TLS_MODE", "acme")
testinfra_hosts = [f"podman://{WEB}"]

CERT = "/etc/ssl/tsunagu/fullchain.pem"
KEY = "/etc/ssl/tsunagu/privkey.pem"


def server_name(host) -> str:
    subject = host.check_output(f"openssl x509 -in {CERT} -noout -subject -nameopt RFC2253")
    return subject.split("CN=", 1)[1].split(",", 1)[0].strip()


def s_client(host, *args: str):
    name = server_name(host)
    return host.run(
        f"timeout 10 openssl s_client -connect 127.0.0.1:443 -servername {name} {' '.join(args)} </dev/null"
    )


def test_certificate_and_key_at_the_fixed_paths(host):
    assert host.file(CERT).exists
    key = host.file(KEY)
    assert key.exists
    assert key.user == "root"
    assert key.mode == 0o600


def test_key_matches_certificate(host):
    cert_pub = host.check_output(f"openssl x509 -in {CERT} -noout -pubkey")
    key_pub = host.check_output(f"openssl pkey -in {KEY} -pubout")
    assert cert_pub.strip() == key_pub.strip()


def test_certificate_valid_for_at_least_a_day(host):
    assert host.run(f"openssl x509 -in {CERT} -noout -checkend 86400").rc == 0


@pytest.mark.skipif(TLS_MODE != "acme", reason="acme mode only")
def test_acme_certificate_issued_by_pebble(host):
    assert host.file(CERT).is_symlink
    assert host.check_output(f"readlink {CERT}").startswith("/etc/letsencrypt/live/")
    issuer = host.check_output(f"openssl x509 -in {CERT} -noout -issuer")
    assert "Pebble" in issuer
    assert not host.file("/etc/ssl/tsunagu/placeholder").exists


@pytest.mark.skipif(TLS_MODE != "acme", reason="acme mode only")
def test_acme_renewal_timer_and_reload_hook(host):
    assert host.service("certbot.timer").is_enabled
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/50-tsunagu-reload-webserver")
    assert hook.exists
    assert hook.mode & 0o111
    assert "systemctl reload apache2" in hook.content_string


@pytest.mark.skipif(TLS_MODE != "acme", reason="acme mode only")
def test_served_chain_verifies_against_the_acme_root(host):
    # Pebble's root is random per start: fetch it from its management API, then verify strictly.
    root = host.check_output("mktemp")
    host.check_output(f"curl -sfk --max-time 10 -o {root} https://{ACME_IP}:15000/roots/0")
    try:
        out = s_client(host, f"-CAfile {root} -verify_return_error")
        assert out.rc == 0, out.stderr
        assert "Verify return code: 0 (ok)" in out.stdout
    finally:
        host.run(f"rm -f {root}")


@pytest.mark.parametrize("protocol", ["-tls1_2", "-tls1_3"])
def test_tls12_and_tls13_accepted(host, protocol):
    out = s_client(host, protocol)
    assert out.rc == 0, out.stderr


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_old_protocols_refused(host, protocol):
    # SECLEVEL=0 lets this client offer TLS 1.0/1.1, so the refusal is the server's.
    out = s_client(host, protocol, "-cipher DEFAULT@SECLEVEL=0")
    assert out.rc != 0


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES256-SHA"])
def test_tls12_without_forward_secrecy_or_aead_refused(host, cipher):
    out = s_client(host, "-tls1_2", f"-cipher {cipher}")
    assert out.rc != 0
