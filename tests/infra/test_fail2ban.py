"""Infra (issue 7 §9, fail2ban role): jails active on both guests, and a burst of failed app logins, posted
over HTTPS through Apache from another guest, gets that guest banned through firewalld (and unbanned again).

Guest overrides for ad-hoc runs: TSUNAGU_INFRA_WEB, TSUNAGU_INFRA_DB, TSUNAGU_INFRA_ACME,
TSUNAGU_INFRA_WEB_IP, TSUNAGU_INFRA_ACME_IP (acme1 plays the attacker), TSUNAGU_INFRA_SITE.
"""

from __future__ import annotations

import os
import time

import pytest

WEB = os.environ.get("TSUNAGU_INFRA_WEB", "tsunagu-web1")
DB = os.environ.get("TSUNAGU_INFRA_DB", "tsunagu-db1")
ACME = os.environ.get("TSUNAGU_INFRA_ACME", "tsunagu-acme1")
WEB_IP = os.environ.get("TSUNAGU_INFRA_WEB_IP", "10.89.77.10")
ATTACKER_IP = os.environ.get("TSUNAGU_INFRA_ACME_IP", "10.89.77.30")
SITE = os.environ.get("TSUNAGU_INFRA_SITE", "www.appliance.test")
testinfra_hosts = [f"podman://{WEB}"]


def jails(host) -> list[str]:
    out = host.check_output("fail2ban-client status")
    listed = out.split("Jail list:", 1)[1]
    return [jail.strip() for jail in listed.split(",") if jail.strip()]


def test_fail2ban_running_on_web(host):
    service = host.service("fail2ban")
    assert service.is_running
    assert service.is_enabled


def test_web_jails_active(host):
    assert set(jails(host)) >= {"sshd", "apache-auth", "apache-badbots", "tsunagu-auth"}


def test_db_guest_runs_the_sshd_jail_only(host):
    db = host.get_host(f"podman://{DB}")
    if db.run("true").rc != 0:
        pytest.skip(f"{DB} not running")
    assert db.service("fail2ban").is_running
    assert jails(db) == ["sshd"]


def test_bans_go_through_firewalld(host):
    assert "banaction = firewallcmd-rich-rules" in host.file("/etc/fail2ban/jail.d/tsunagu.local").content_string
    assert host.service("firewalld").is_running


def banned(host, ip: str) -> bool:
    return ip in host.check_output("fail2ban-client status tsunagu-auth").split("Banned IP list:", 1)[1]


def https_from_attacker(attacker) -> int:
    return attacker.run(f"curl -sk -o /dev/null --max-time 5 https://{WEB_IP}/healthz").rc


def failed_logins_through_apache(attacker, count: int) -> list[str]:
    """The attacker fetches the log-in form (cookie + CSRF token) and posts a wrong password, `count` times,
    over HTTPS through Apache; returns the HTTP status of each post ('000' once the ban drops the packets)."""
    curl = f"curl -sk --max-time 5 --resolve {SITE}:443:{WEB_IP} -c /tmp/f2b.jar -b /tmp/f2b.jar"
    script = (
        f"rm -f /tmp/f2b.jar; for i in $(seq {count}); do "
        f"token=$({curl} https://{SITE}/login | sed -n 's/.*name=\"csrf_token\"[^>]*value=\"\\([^\"]*\\)\".*/\\1/p' | head -n1); "
        f"{curl} -o /dev/null -w '%{{http_code}}\\n' -e https://{SITE}/login --data-urlencode csrf_token=$token "
        f"--data-urlencode email=intruder-$i@example.com --data-urlencode password=wrong-password-$i https://{SITE}/login "
        f"|| break; done"
    )
    return attacker.run(script).stdout.split()


def test_burst_of_failed_app_logins_bans_the_source(host):
    attacker = host.get_host(f"podman://{ACME}")
    assert https_from_attacker(attacker) == 0, "the attacker guest must reach the site before the ban"
    maxretry = int(host.check_output("fail2ban-client get tsunagu-auth maxretry").strip())
    rules_before = set(host.check_output("firewall-cmd --list-rich-rules").splitlines())
    try:
        statuses = failed_logins_through_apache(attacker, maxretry + 2)
        # a wrong password re-shows the form (200); the app's auth log records the attacker's address
        # (Apache's X-Forwarded-For through ProxyFix), not Apache's loopback address
        assert statuses[:maxretry] == ["200"] * maxretry, statuses
        deadline = time.monotonic() + 30
        while not banned(host, ATTACKER_IP) and time.monotonic() < deadline:
            time.sleep(1)
        assert banned(host, ATTACKER_IP)
        assert not banned(host, "127.0.0.1")
        ban_rules = set(host.check_output("firewall-cmd --list-rich-rules").splitlines()) - rules_before
        assert any(ATTACKER_IP in rule for rule in ban_rules), ban_rules
        assert https_from_attacker(attacker) != 0, "banned source still reaches HTTPS"
    finally:
        host.run(f"fail2ban-client set tsunagu-auth unbanip {ATTACKER_IP}")
    # the admin network's SSH rule may name the same address (acme1 plays the admin workstation): only the ban goes
    assert set(host.check_output("firewall-cmd --list-rich-rules").splitlines()) == rules_before
    assert https_from_attacker(attacker) == 0
