"""Infra (issue 7 §8, webapp role): the app in a release venv, gunicorn on loopback, settings, units, timers.

Guest name override for ad-hoc runs: TSUNAGU_INFRA_WEB.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml

WEB = os.environ.get("TSUNAGU_INFRA_WEB", "tsunagu-web1")
testinfra_hosts = [f"podman://{WEB}"]

BASE = "/opt/tsunagu"
ENV_FILE = "/etc/tsunagu/tsunagu.env"
TIMERS = [
    "tsunagu-sync",
    "tsunagu-lifecycle",
    "tsunagu-posting-notices",
    "tsunagu-events-reminders",
    "tsunagu-analytics-rollup",
    "tsunagu-report-monthly",
]
ROLE = Path(__file__).resolve().parents[2] / "roles" / "webapp"


def test_role_knows_every_app_setting() -> None:
    """The role writes any app setting given as tsunagu_<name>: its list must match app/config.py."""
    from app.config import Settings

    names = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__webapp_setting_names"]
    expected = [f.name for f in dataclasses.fields(Settings) if f.name not in ("secret_key", "database_url")]
    assert sorted(names) == sorted(expected)


def test_system_user(host) -> None:
    user = host.user("tsunagu")
    assert user.exists
    assert user.group == "tsunagu"
    assert user.shell.endswith("nologin")
    assert user.uid < 1000  # a system account


def test_current_release_is_a_symlink_to_an_installed_release(host) -> None:
    current = host.file(f"{BASE}/current")
    assert current.is_symlink
    target = current.linked_to
    assert target.startswith(f"{BASE}/releases/")
    release = host.file(target)
    assert release.user == "root" and release.mode == 0o755  # the app cannot change its own code
    assert host.file(f"{target}/.venv/.tsunagu-installed").exists
    assert host.file(f"{target}/migrations/env.py").exists
    assert host.check_output(f"cat {target}/RELEASE") == Path(target).name


def test_releases_kept_for_rollback_are_bounded(host) -> None:
    releases = host.check_output(f"ls -1 {BASE}/releases").split()
    assert 1 <= len(releases) <= 3  # webapp_keep_releases


def test_venv_has_the_app_and_gunicorn(host) -> None:
    out = host.check_output(f"{BASE}/current/.venv/bin/python -c 'import app, gunicorn; print(app.__file__)'")
    assert "/site-packages/app/" in out


def test_env_file_mode_and_content(host) -> None:
    env = host.file(ENV_FILE)
    assert env.user == "root"
    assert env.group == "tsunagu"
    assert env.mode == 0o640
    content = env.content_string  # testinfra reads it as root
    assert "TSUNAGU_SECRET_KEY='" in content
    assert "TSUNAGU_DATABASE_URL='" in content
    assert "TSUNAGU_TRUSTED_PROXIES='1'" in content
    assert "TSUNAGU_COOKIE_SECURE='true'" in content
    assert host.file("/etc/tsunagu").mode == 0o750


def test_database_url_uses_tls_when_mariadb(host) -> None:
    content = host.file(ENV_FILE).content_string
    url = next(line for line in content.splitlines() if line.startswith("TSUNAGU_DATABASE_URL="))
    if "mysql+pymysql://" not in url:
        pytest.skip("this guest uses another database (tsunagu_database_url)")
    assert "ssl_ca=/etc/tsunagu/db-ca.pem" in url
    assert "BEGIN CERTIFICATE" in host.file("/etc/tsunagu/db-ca.pem").content_string


@pytest.mark.parametrize("unit", ["tsunagu-web.socket", "tsunagu-web.service", "tsunagu-mail.service"])
def test_services_enabled_and_running(host, unit: str) -> None:
    assert host.run(f"systemctl is-enabled {unit}").stdout.strip() == "enabled"
    assert host.run(f"systemctl is-active {unit}").stdout.strip() == "active"


def test_web_runs_as_app_user_hardened(host) -> None:
    props = host.check_output(
        "systemctl show tsunagu-web.service -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp"
        " -p ProtectHome -p MainPID"
    )
    values = dict(line.split("=", 1) for line in props.splitlines())
    assert values["User"] == "tsunagu"
    assert values["NoNewPrivileges"] == "yes"
    assert values["ProtectSystem"] == "strict"
    assert values["PrivateTmp"] == "yes"
    assert values["ProtectHome"] == "yes"
    assert host.check_output(f"ps -o user= -p {values['MainPID']}") == "tsunagu"


def test_gunicorn_listens_only_on_loopback_8000(host) -> None:
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    listeners = host.check_output("ss -Htln").splitlines()
    on_8000 = [line.split()[3] for line in listeners if line.split()[3].endswith(":8000")]
    assert on_8000 == ["127.0.0.1:8000"]


def test_healthz_locally(host) -> None:
    out = host.check_output("curl -s -o /dev/stderr -w '%{http_code}' http://127.0.0.1:8000/healthz 2>/dev/null")
    assert out == "200"
    body = json.loads(host.check_output("curl -s http://127.0.0.1:8000/healthz"))
    assert body == {"status": "ok", "checks": {"database": "ok"}}


def test_login_page_renders_from_gunicorn(host) -> None:
    out = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/admin/login")
    assert out.stdout == "200"


@pytest.mark.parametrize("timer", TIMERS)
def test_timers_enabled_and_scheduled(host, timer: str) -> None:
    assert host.run(f"systemctl is-enabled {timer}.timer").stdout.strip() == "enabled"
    assert host.run(f"systemctl is-active {timer}.timer").stdout.strip() == "active"


def test_sync_timer_times_come_from_the_setting(host) -> None:
    unit = host.file("/etc/systemd/system/tsunagu-sync.timer").content_string
    content = host.file(ENV_FILE).content_string
    times = next(line for line in content.splitlines() if line.startswith("TSUNAGU_SYNC_TIMES="))
    for hhmm in times.split("=", 1)[1].strip("'").split(","):
        assert f"OnCalendar=*-*-* {hhmm.strip()}:00 Asia/Tokyo" in unit


def test_monthly_report_timer_on_the_first(host) -> None:
    assert "OnCalendar=*-*-01 " in host.file("/etc/systemd/system/tsunagu-report-monthly.timer").content_string


def test_monthly_report_writes_into_reports(host) -> None:
    """The timer's service runs the wrapper: the previous month's report lands in /var/lib/tsunagu/reports."""
    run = host.run("systemctl start tsunagu-report-monthly.service")
    assert run.rc == 0, host.run("journalctl -u tsunagu-report-monthly -n 20 --no-pager").stdout
    files = host.check_output("ls -1 /var/lib/tsunagu/reports")
    month = host.check_output("TZ=Asia/Tokyo date -d \"$(TZ=Asia/Tokyo date +%Y-%m-01) -1 month\" +%Y-%m")
    assert f"tsunagu-monthly-report-{month}.xlsx" in files


def test_flask_wrapper_runs_as_app_user(host) -> None:
    out = host.run(f"{BASE}/bin/tsunagu-flask db current")
    assert out.rc == 0, out.stderr
    assert "(head)" in out.stdout


def test_instance_and_log_folders(host) -> None:
    for path in ("/var/lib/tsunagu", "/var/log/tsunagu", "/var/lib/tsunagu/reports"):
        folder = host.file(path)
        assert folder.user == "tsunagu" and folder.mode == 0o750
