"""Infra (issue 7 §7, apache role): redirect, ACME path, headers, hardening and limits through Apache.

Guest name override for ad-hoc runs: TSUNAGU_INFRA_WEB.
"""

from __future__ import annotations

import os

import pytest

WEB = os.environ.get("TSUNAGU_INFRA_WEB", "tsunagu-web1")
testinfra_hosts = [f"podman://{WEB}"]

CERT = "/etc/ssl/tsunagu/fullchain.pem"
WEBROOT = "/var/www/acme/.well-known/acme-challenge"


@pytest.fixture(scope="module")
def name(host) -> str:
    subject = host.check_output(f"openssl x509 -in {CERT} -noout -subject -nameopt RFC2253")
    return subject.split("CN=", 1)[1].split(",", 1)[0].strip()


def curl(host, name: str, args: str):
    """curl against this guest's Apache, with SNI and Host set to the site name."""
    return host.run(f"curl -sk --max-time 10 --resolve {name}:443:127.0.0.1 --resolve {name}:80:127.0.0.1 {args}")


def headers(host, name: str, path: str) -> list[tuple[str, str]]:
    out = curl(host, name, f"-o /dev/null -D - https://{name}{path}")
    assert out.rc == 0, out.stderr
    pairs = []
    for line in out.stdout.splitlines()[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            pairs.append((key.strip().lower(), value.strip()))
    return pairs


def test_apache_enabled_and_running(host):
    service = host.service("apache2")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_80_and_443(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening or host.socket("tcp://:::80").is_listening
    assert host.socket("tcp://0.0.0.0:443").is_listening or host.socket("tcp://:::443").is_listening


def test_configuration_valid(host):
    assert host.run("apache2ctl -t").rc == 0


def test_the_whole_worker_pool_runs_from_the_start(host):
    """All 192 worker threads (3 children of 64) run while idle, so a burst never makes Apache start and
    stop children, which drops the kept-alive connections of the child being stopped."""
    pids = host.check_output("pgrep -P \"$(cat /run/apache2/apache2.pid)\" -x apache2 || true").split()
    assert len(pids) == 3, f"{len(pids)} children running"
    threads = [int(host.check_output(f"ps -o nlwp= -p {pid}")) for pid in pids]
    assert all(n >= 64 for n in threads), threads  # 64 workers, plus the listener and the supervisor


def test_http_redirects_to_https(host, name):
    out = curl(host, name, f"-o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{name}/login?next=/x")
    assert out.stdout == f"301 https://{name}/login?next=/x"


def test_acme_challenge_served_over_plain_http(host, name):
    probe = f"{WEBROOT}/tsunagu-infra-probe"
    host.check_output(f"echo probe-token > {probe}")
    try:
        out = curl(host, name, f"-w ' %{{http_code}}' http://{name}/.well-known/acme-challenge/tsunagu-infra-probe")
        assert out.stdout == "probe-token\n 200"
    finally:
        host.run(f"rm -f {probe}")


def test_healthz_through_apache(host, name):
    out = curl(host, name, f"-o /dev/null -w '%{{http_code}}' https://{name}/healthz")
    assert out.stdout == "200"


@pytest.mark.parametrize("path", ["/healthz", "/missing-page-for-infra-test"])
def test_security_headers_exactly_once(host, name, path):
    found = headers(host, name, path)
    names = [key for key, _ in found]
    values = dict(found)
    for header in ("strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert names.count(header) == 1, (header, found)
    assert values["strict-transport-security"].startswith("max-age=63072000")
    assert values["x-content-type-options"] == "nosniff"
    assert values["x-frame-options"] == "DENY"
    assert names.count("content-security-policy") <= 1


def test_server_tokens_prod(host, name):
    values = dict(headers(host, name, "/healthz"))
    assert values["server"] == "Apache"


def test_static_served_by_apache(host, name):
    root = "/opt/tsunagu/current/static"
    files = host.run(f"find -L {root} -type f -name '*.css'").stdout.split()
    assert files, f"no stylesheet under {root}: the release's static link is missing"
    path = "/static/" + files[0][len(root) + 1 :]
    served = curl(host, name, f"-o /dev/null -w '%{{http_code}} %{{content_type}}' https://{name}{path}")
    assert served.stdout.startswith("200 text/css")
    values = dict(headers(host, name, path))
    assert values["cache-control"].startswith("public, max-age=")
    assert values["x-frame-options"] == "DENY"


def test_no_directory_listing(host, name):
    out = curl(host, name, f"-w ' %{{http_code}}' https://{name}/static/")
    assert "Index of" not in out.stdout
    assert out.stdout.endswith((" 403", " 404"))


def test_error_pages_have_no_signature(host, name):
    out = curl(host, name, f"https://{name}/static/no-such-file-for-infra-test.css")
    assert "Apache/" not in out.stdout
    assert "Server at" not in out.stdout


def test_trace_disabled(host, name):
    out = curl(host, name, f"-X TRACE -o /dev/null -w '%{{http_code}}' https://{name}/")
    assert out.stdout == "405"


def test_request_body_limit(host, name):
    """A body over LimitRequestBody is refused by Apache itself (413), before it is sent to gunicorn.

    HTTP/1.1 with curl's default "Expect: 100-continue": Apache answers before reading the body, so the
    result does not depend on who wins the race between the upload and the refusal.
    """
    big = host.check_output("mktemp")
    host.check_output(f"head -c 4194304 /dev/zero > {big}")
    try:
        out = curl(
            host,
            name,
            f"--http1.1 -o /dev/null -w '%{{http_code}}' "
            f"-H 'Content-Type: application/octet-stream' --data-binary @{big} https://{name}/healthz",
        )
        assert out.stdout == "413"
    finally:
        host.run(f"rm -f {big}")


def probe_log_line(host, name, path: str, agent: str) -> str:
    curl(host, name, f"-o /dev/null -A {agent} 'https://{name}{path}'")
    log = host.file("/var/log/apache2/tsunagu_access.log").content_string
    return [entry for entry in log.splitlines() if agent in entry][-1]


def test_access_log_in_combined_format(host, name):
    line = probe_log_line(host, name, "/healthz", "tsunagu-infra-probe")
    assert line.startswith("127.0.0.1 ")
    assert '"GET /healthz HTTP/' in line
    assert line.endswith('"tsunagu-infra-probe"')


def test_access_log_keeps_no_search_terms_and_no_mailed_tokens(host, name):
    searched = probe_log_line(host, name, "/admin/search?name=ProbeSurname&page=2", "tsunagu-infra-search")
    assert '"GET /admin/search HTTP/' in searched
    assert "ProbeSurname" not in searched
    for path in ("/account/setup/ProbeToken1", "/account/reset/ProbeToken2", "/register/verify/ProbeToken3",
                 "/mail/unsubscribe/ProbeToken4"):
        line = probe_log_line(host, name, path, "tsunagu-infra-token")
        assert '"GET [one-time link] HTTP/' in line
        assert "ProbeToken" not in line
