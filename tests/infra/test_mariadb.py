"""Infra (issue 7 §4, mariadb role): the DB guest's MariaDB — private address only, hardened, TLS
required for the app user, who may connect only from the web guests."""

from __future__ import annotations

import base64
import os
import re
import shlex
from urllib.parse import unquote, urlsplit

import pytest
import testinfra

from tests.infra.conftest import ADDRESSES, DB1, WEB1

testinfra_hosts = [DB1]

DB_ADDRESS = ADDRESSES["db1"]
WEB_ADDRESS = ADDRESSES["web1"]
APP_DB = "tsunagu"
APP_USER = "tsunagu"
TLS_DIR = "/etc/mysql/tls"
CONFIG = "/etc/mysql/mariadb.conf.d/60-tsunagu.cnf"
APP_PRIVILEGES = {
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "INDEX",
    "DROP",
    "REFERENCES",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
}
CA_ON_WEB = "/root/tsunagu-infra-test-db-ca.pem"


def sql(host, query: str) -> list[list[str]]:
    """Run a query as root over the local socket (unix_socket auth); rows of tab-separated fields."""
    out = host.check_output(f"mariadb -N -B -e {shlex.quote(query)}")
    return [line.split("\t") for line in out.splitlines() if line]


def variable(host, name: str) -> str:
    return sql(host, f"SELECT @@GLOBAL.{name}")[0][0]


@pytest.fixture(scope="module")
def web():
    return testinfra.get_host(WEB1)


@pytest.fixture(scope="module")
def app_password(web) -> str:
    """The app user's password as the web guest has it (TSUNAGU_DATABASE_URL in the env file),
    or TSUNAGU_INFRA_DB_PASSWORD when the webapp role has not run."""
    env_file = web.file("/etc/tsunagu/tsunagu.env")
    if env_file.exists:
        for line in env_file.content_string.splitlines():
            if line.startswith("TSUNAGU_DATABASE_URL="):
                url = line.split("=", 1)[1].strip().strip("'\"")
                return unquote(urlsplit(url).password or "")
    password = os.environ.get("TSUNAGU_INFRA_DB_PASSWORD", "")
    if not password:
        pytest.skip("no app password: neither /etc/tsunagu/tsunagu.env on web1 nor TSUNAGU_INFRA_DB_PASSWORD")
    return password


@pytest.fixture(scope="module")
def ca_on_web(host, web) -> str:
    """The DB guest's CA certificate, put on web1 independently of the webapp role."""
    pem = host.file(f"{TLS_DIR}/ca.pem").content_string
    encoded = base64.b64encode(pem.encode()).decode()
    web.check_output(f"echo {encoded} | base64 -d > {CA_ON_WEB}")
    yield CA_ON_WEB
    web.run(f"rm -f {CA_ON_WEB}")


def app_login(web, password: str, *tls_args: str) -> testinfra.backend.base.CommandResult:
    query = "SELECT CURRENT_USER(), @@hostname; SHOW SESSION STATUS LIKE 'Ssl_version'"
    return web.run(
        f"MYSQL_PWD={shlex.quote(password)} timeout 20 mariadb -N -B -h {DB_ADDRESS} -u {APP_USER} "
        f"{' '.join(tls_args)} {APP_DB} -e {shlex.quote(query)}"
    )


def test_server_installed_enabled_running(host) -> None:
    assert host.package("mariadb-server").is_installed
    service = host.service("mariadb")
    assert service.is_enabled
    assert service.is_running


def test_listens_only_on_the_private_address(host) -> None:
    assert host.socket(f"tcp://{DB_ADDRESS}:3306").is_listening
    assert not host.socket("tcp://0.0.0.0:3306").is_listening
    assert not host.socket("tcp://:::3306").is_listening
    listeners = [s for s in host.socket.get_listening_sockets() if s.endswith(":3306")]
    assert listeners == [f"tcp://{DB_ADDRESS}:3306"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("local_infile", "0"),
        ("skip_name_resolve", "1"),
        ("require_secure_transport", "1"),
        ("character_set_server", "utf8mb4"),
        ("collation_server", "utf8mb4_unicode_ci"),
        ("slow_query_log", "1"),
        ("have_ssl", "YES"),
        ("bind_address", DB_ADDRESS),
    ],
)
def test_server_setting(host, name: str, expected: str) -> None:
    assert variable(host, name) == expected


def test_strict_sql_mode_and_modern_tls_only(host) -> None:
    modes = set(variable(host, "sql_mode").split(","))
    assert {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ENGINE_SUBSTITUTION"} <= modes
    assert set(variable(host, "tls_version").split(",")) == {"TLSv1.2", "TLSv1.3"}


def test_buffer_pool_sized_by_the_role(host) -> None:
    configured = re.search(r"^innodb_buffer_pool_size = (\d+)M$", host.file(CONFIG).content_string, re.M)
    assert configured, "the role's config sets innodb_buffer_pool_size"
    assert int(variable(host, "innodb_buffer_pool_size")) == int(configured.group(1)) * 1024 * 1024


def test_slow_query_log_file(host) -> None:
    assert variable(host, "slow_query_log_file") == "/var/log/mysql/mariadb-slow.log"
    log = host.file("/var/log/mysql/mariadb-slow.log")
    assert log.exists
    size = log.size
    sql(host, "SELECT SLEEP(1.2)")
    assert host.file("/var/log/mysql/mariadb-slow.log").size > size


def test_no_anonymous_users_no_test_database(host) -> None:
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE User = ''") == [["0"]]
    assert sql(host, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'") == [["0"]]
    assert sql(host, r"SELECT COUNT(*) FROM mysql.db WHERE Db = 'test' OR Db LIKE 'test\_%'") == [["0"]]


def test_root_only_through_the_local_socket(host) -> None:
    assert sql(host, "SELECT Host FROM mysql.user WHERE User = 'root'") == [["localhost"]]
    grants = " ".join(row[0] for row in sql(host, "SHOW GRANTS FOR 'root'@'localhost'"))
    assert "unix_socket" in grants
    over_tcp = host.run(f"timeout 10 mariadb -h {DB_ADDRESS} -u root -e 'SELECT 1'")
    assert over_tcp.rc != 0


def test_app_user_only_from_the_web_guests_with_tls(host) -> None:
    assert sql(host, "SELECT Host FROM mysql.user WHERE User = 'tsunagu'") == [[WEB_ADDRESS]]
    grants = [row[0] for row in sql(host, f"SHOW GRANTS FOR '{APP_USER}'@'{WEB_ADDRESS}'")]
    usage = next(g for g in grants if g.startswith("GRANT USAGE ON *.*"))
    assert "REQUIRE SSL" in usage
    on_db = next(g for g in grants if f"ON `{APP_DB}`.*" in g)
    privileges = {p.strip() for p in on_db.split(" ON ")[0].removeprefix("GRANT ").split(",")}
    assert privileges == APP_PRIVILEGES
    assert not any("ALL PRIVILEGES" in g or "WITH GRANT OPTION" in g for g in grants)


def test_app_database_is_utf8mb4(host) -> None:
    rows = sql(
        host,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = 'tsunagu'",
    )
    assert rows == [["utf8mb4", "utf8mb4_unicode_ci"]]


def test_internal_ca_and_server_certificate(host) -> None:
    ca_key = host.file(f"{TLS_DIR}/ca-key.pem")
    assert (ca_key.user, ca_key.mode) == ("root", 0o600)
    server_key = host.file(f"{TLS_DIR}/server-key.pem")
    assert (server_key.user, server_key.mode) == ("mysql", 0o600)
    host.check_output(f"openssl verify -CAfile {TLS_DIR}/ca.pem {TLS_DIR}/server-cert.pem")
    text = host.check_output(f"openssl x509 -in {TLS_DIR}/server-cert.pem -noout -ext subjectAltName")
    assert f"IP Address:{DB_ADDRESS}" in text


def test_app_login_without_tls_is_refused(web, app_password) -> None:
    result = app_login(web, app_password, "--skip-ssl")
    assert result.rc != 0
    assert "ERROR" in result.stderr


def test_app_login_with_verified_tls_works(web, app_password, ca_on_web) -> None:
    result = app_login(web, app_password, "--ssl", f"--ssl-ca={ca_on_web}", "--ssl-verify-server-cert")
    assert result.rc == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0][0] == f"{APP_USER}@{WEB_ADDRESS}"
    assert lines[1][1] in {"TLSv1.2", "TLSv1.3"}


def test_app_user_cannot_read_files_or_other_databases(web, app_password, ca_on_web) -> None:
    query = shlex.quote("SELECT COUNT(*) FROM mysql.user")
    other = web.run(
        f"MYSQL_PWD={shlex.quote(app_password)} timeout 20 mariadb -N -B -h {DB_ADDRESS} -u {APP_USER} "
        f"--ssl --ssl-ca={ca_on_web} --ssl-verify-server-cert -e {query}"
    )
    assert other.rc != 0 and "denied" in other.stderr
