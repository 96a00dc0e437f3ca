"""Infra (issue 7 §10, mailrelay role): postfix as a send-only relay client on loopback, bounces to the app.

Guest name override for ad-hoc runs: TSUNAGU_INFRA_WEB.
"""

from __future__ import annotations

import os

import pytest

WEB = os.environ.get("TSUNAGU_INFRA_WEB", "tsunagu-web1")
testinfra_hosts = [f"podman://{WEB}"]


def postconf(host, name: str) -> str:
    return host.check_output(f"postconf -h {name}")


def test_postfix_enabled_and_running(host) -> None:
    postfix = host.service("postfix")
    assert postfix.is_enabled
    assert host.run("postfix status").rc == 0


def test_postfix_listens_only_on_loopback(host) -> None:
    assert host.socket("tcp://127.0.0.1:25").is_listening
    listeners = [line.split()[3] for line in host.check_output("ss -Htln").splitlines()]
    on_25 = [addr for addr in listeners if addr.endswith(":25")]
    assert on_25, "postfix is not listening"
    assert all(addr.startswith(("127.", "[::1]")) for addr in on_25), on_25


def test_relayhost_is_the_configured_relay(host) -> None:
    relay = postconf(host, "relayhost")
    assert relay.startswith("[") and "]:" in relay


def test_send_only(host) -> None:
    assert postconf(host, "inet_interfaces") == "loopback-only"
    assert postconf(host, "mydestination") == ""
    assert postconf(host, "local_transport").startswith("error:")
    assert postconf(host, "mynetworks") == "127.0.0.0/8 [::1]/128"
    assert postconf(host, "smtpd_relay_restrictions") == "permit_mynetworks, reject"


def test_tls_to_the_relay(host) -> None:
    assert postconf(host, "smtp_tls_security_level") in {"encrypt", "verify", "secure", "may"}
    assert "!TLSv1.1" in postconf(host, "smtp_tls_mandatory_protocols")


def test_sasl_credentials_are_private_or_absent(host) -> None:
    paths = ("/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db")
    if postconf(host, "smtp_sasl_auth_enable") != "yes":
        assert not any(host.file(path).exists for path in paths), "credentials left behind with authentication off"
        return
    for path in paths:
        secret = host.file(path)
        assert secret.user == "root" and secret.mode == 0o600, path


def test_bounces_to_the_sender_go_to_the_app(host) -> None:
    """The app's sender address is routed to the pipe that runs `flask mail bounce` as tsunagu."""
    sender = host.check_output("sed -n \"s/^TSUNAGU_MAIL_FROM='\\(.*\\)'$/\\1/p\" /etc/tsunagu/tsunagu.env")
    if not sender:
        pytest.skip("tsunagu_mail_from not set")
    assert host.check_output(f"postmap -q {sender} hash:/etc/postfix/transport") == "tsunagu-bounce:"
    pipe = host.check_output("postconf -M tsunagu-bounce/unix")
    assert "user=tsunagu" in pipe and "mail bounce" in pipe


def test_a_bounce_reaches_the_app(host) -> None:
    """A non-DSN message to the bounce address is piped to the app, which refuses it (exit 2), not relayed."""
    sender = host.check_output("sed -n \"s/^TSUNAGU_MAIL_FROM='\\(.*\\)'$/\\1/p\" /etc/tsunagu/tsunagu.env")
    if not sender:
        pytest.skip("tsunagu_mail_from not set")
    marker = host.check_output("date +%s%N")
    host.check_output(
        f"printf 'Subject: infra-test {marker}\\n\\nnot a DSN\\n' | /usr/sbin/sendmail -f '' {sender}"
    )
    log = ""
    for _ in range(20):
        log = host.run("journalctl -q --no-pager -t postfix/pipe --since '-2min'").stdout
        if "tsunagu-bounce" in log:
            break
        host.run("sleep 0.5")
    assert "relay=tsunagu-bounce" in log, log
