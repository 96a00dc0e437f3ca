"""roles/common on both product guests: time, locale, updates, journald, admins, sshd (issue 7 §2)."""

from __future__ import annotations

import pytest
import testinfra

from tests.infra.conftest import DB1, WEB1

testinfra_hosts = [WEB1, DB1]


def test_hostname_is_the_guest_name(host):
    assert host.check_output("hostname") in {"web1", "db1"}


def test_timezone_is_tokyo(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Asia/Tokyo"
    assert host.check_output("date +%Z") == "JST"


def test_locale_is_japanese_utf8(host):
    assert "ja_JP.utf8" in host.check_output("locale -a").split()
    assert host.file("/etc/default/locale").contains("^LANG=ja_JP.UTF-8$")


def test_chrony_runs_without_touching_the_clock(host):
    chrony = host.service("chrony")
    assert chrony.is_enabled
    assert chrony.is_running
    assert "-x" in host.file("/etc/default/chrony").content_string  # containers share the host clock
    assert host.run("chronyc -n tracking").rc == 0


def test_unattended_security_updates_configured(host):
    assert host.package("unattended-upgrades").is_installed
    auto = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert 'APT::Periodic::Update-Package-Lists "1";' in auto
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    origins = [line for line in dump.splitlines() if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert len(origins) == 1, dump  # the distribution's list is replaced, not added to
    assert "-security" in origins[0]
    assert 'Automatic-Reboot "false"' in host.check_output("apt-config dump Unattended-Upgrade::Automatic-Reboot")


def test_journald_retention(host):
    conf = host.file("/etc/systemd/journald.conf.d/50-tsunagu.conf")
    assert conf.contains("^SystemMaxUse=1G$")
    assert conf.contains("^MaxRetentionSec=3month$")
    assert conf.contains("^Storage=persistent$")
    assert host.file("/var/log/journal").is_directory


def test_admin_user_has_key_and_sudo_but_no_password(host):
    user = host.user("tsunagu-admin")
    assert user.exists
    assert "tsunagu-admins" in user.groups
    assert user.password == "*"
    keys = host.file("/home/tsunagu-admin/.ssh/authorized_keys")
    assert keys.mode == 0o600
    assert keys.user == "tsunagu-admin"
    assert keys.contains("molecule-test-only")
    assert host.run("visudo -cf /etc/sudoers.d/tsunagu-admins").rc == 0
    assert host.file("/etc/sudoers.d/tsunagu-admins").contains("^%tsunagu-admins ALL=")


def test_sudo_log_is_rotated(host):
    assert host.file("/etc/sudoers.d/tsunagu-admins").contains("logfile=/var/log/sudo.log")
    debug = host.run("logrotate --debug /etc/logrotate.d/tsunagu-sudo")
    assert debug.rc == 0, debug.stderr
    assert "/var/log/sudo.log" in debug.stdout + debug.stderr


def _sshd_effective(host) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in host.check_output("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


def test_sshd_running(host):
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled
    assert host.socket("tcp://0.0.0.0:22").is_listening


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("pubkeyauthentication", "yes"),
        ("x11forwarding", "no"),
        ("allowtcpforwarding", "no"),
        ("disableforwarding", "yes"),
        ("maxauthtries", "3"),
        ("allowgroups", "tsunagu-admins"),
        ("allowusers", "tsunagu-admin@10.89.77.30/32"),
        ("banner", "/etc/issue.net"),
    ],
)
def test_sshd_effective_setting(host, key, expected):
    """cis_5_1: what sshd really uses (sshd -T), not just what a file says."""
    assert _sshd_effective(host).get(key, "(not set)") == expected


def test_sshd_modern_algorithms_only(host):
    settings = _sshd_effective(host)
    ciphers = settings["ciphers"].split(",")
    macs = settings["macs"].split(",")
    kex = settings["kexalgorithms"].split(",")
    assert not [c for c in ciphers if "cbc" in c or "3des" in c]
    assert all(m.endswith("-etm@openssh.com") for m in macs)
    assert not [k for k in kex if "sha1" in k or "group14" in k or k.startswith("ecdh-sha2-nistp")]


def test_host_keys_are_the_guests_own(host):
    """The image ships no ssh host keys: every guest generates its own."""
    mine = host.check_output("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    other = testinfra.get_host(DB1 if host.backend.get_hostname() == "tsunagu-web1" else WEB1)
    theirs = other.check_output("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    assert mine.split()[1] != theirs.split()[1]
