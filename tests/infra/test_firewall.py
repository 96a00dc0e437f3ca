"""roles/firewall: firewalld (nftables) drops everything not allowed (issue 7 §3).

Reachability is probed from the guests: a port that firewalld lets through answers (open, or
'refused' when nothing listens yet), a dropped one times out.
"""

from __future__ import annotations

import socket

import pytest
import testinfra

from tests.infra.conftest import ACME1, ADDRESSES, DB1, WEB1, tcp_probe

testinfra_hosts = [WEB1, DB1]


def test_firewalld_running_with_nftables(host):
    assert host.service("firewalld").is_running
    assert host.service("firewalld").is_enabled
    assert host.file("/etc/firewalld/firewalld.conf").contains("^FirewallBackend=nftables$")
    assert host.check_output("firewall-cmd --state") == "running"


def test_default_zone_drops(host):
    assert host.check_output("firewall-cmd --get-default-zone") == "drop"
    assert host.check_output("firewall-cmd --permanent --zone=drop --get-target") == "DROP"


def test_ssh_only_from_admin_networks(host):
    rules = host.check_output("firewall-cmd --zone=drop --list-rich-rules")
    assert 'source address="10.89.77.30/32" service name="ssh" accept' in rules
    assert "ssh" not in host.check_output("firewall-cmd --zone=drop --list-services").split()


def test_open_services_per_guest(host):
    services = set(host.check_output("firewall-cmd --zone=drop --list-services").split())
    ports = host.check_output("firewall-cmd --zone=drop --list-ports").split()
    if host.backend.get_hostname() == "tsunagu-web1":
        assert services == {"http", "https"}
    else:
        assert services == set()
    assert ports == []


def test_db_rich_rule_names_each_web_guest():
    rules = testinfra.get_host(DB1).check_output("firewall-cmd --zone=drop --list-rich-rules").splitlines()
    mysql_rules = [r for r in rules if 'port="3306"' in r]
    assert mysql_rules == [
        'rule family="ipv4" source address="10.89.77.10" port port="3306" protocol="tcp" accept'
    ] or mysql_rules == ['rule family="ipv4" source address="10.89.77.10/32" port port="3306" protocol="tcp" accept']


def test_mysql_port_reaches_db_from_web1_only():
    """From web1 3306 on db1 gets through (open once MariaDB listens); from acme1 it is dropped."""
    web1 = testinfra.get_host(WEB1)
    acme1 = testinfra.get_host(ACME1)
    assert tcp_probe(web1, ADDRESSES["db1"], 3306) in {"open", "refused"}
    assert tcp_probe(acme1, ADDRESSES["db1"], 3306) == "dropped"


def test_mysql_port_not_reachable_from_the_host():
    with pytest.raises(OSError):
        socket.create_connection((ADDRESSES["db1"], 3306), timeout=3).close()


def test_ssh_reaches_guests_from_the_admin_network_only():
    acme1 = testinfra.get_host(ACME1)  # 10.89.77.30/32 is the scenario's admin network
    web1 = testinfra.get_host(WEB1)
    assert tcp_probe(acme1, ADDRESSES["web1"], 22) == "open"
    assert tcp_probe(acme1, ADDRESSES["db1"], 22) == "open"
    assert tcp_probe(web1, ADDRESSES["db1"], 22) == "dropped"


def test_web_ports_open_to_everyone():
    acme1 = testinfra.get_host(ACME1)
    db1 = testinfra.get_host(DB1)
    for port in (80, 443):
        assert tcp_probe(acme1, ADDRESSES["web1"], port) in {"open", "refused"}
        assert tcp_probe(db1, ADDRESSES["web1"], port) in {"open", "refused"}
    assert tcp_probe(acme1, ADDRESSES["web1"], 8000) == "dropped"  # gunicorn stays private
