"""Infra (issue 7 §5, backup role): the nightly backup timer on the DB guest, a compressed dump
produced by the service, rotation layout, and the restore script's safety catch. The full
back-up / destroy / restore / compare drill is molecule/default/restore_drill.yml."""

from __future__ import annotations

import pytest

from tests.infra.conftest import DB1

testinfra_hosts = [DB1]

BACKUP_DIR = "/var/backups/mariadb"
APP_DB = "tsunagu"


def newest_dump(host) -> tuple[float, str] | None:
    out = host.check_output(
        f"find {BACKUP_DIR}/daily -name '{APP_DB}-*.sql.*' ! -name '*.partial' -printf '%T@ %p\\n' | sort -rn | head -n 1"
    )
    if not out:
        return None
    stamp, path = out.split(" ", 1)
    return float(stamp), path


def test_timer_enabled_and_scheduled(host) -> None:
    timer = host.service("tsunagu-backup.timer")
    assert timer.is_enabled
    assert timer.is_running
    calendar = host.check_output("systemctl show -p TimersCalendar --value tsunagu-backup.timer")
    assert "OnCalendar=" in calendar
    assert host.check_output("systemctl show -p Persistent --value tsunagu-backup.timer") == "yes"


def test_scripts_and_directory_are_root_only(host) -> None:
    for script in ("/usr/local/sbin/tsunagu-backup", "/usr/local/sbin/tsunagu-restore"):
        f = host.file(script)
        assert (f.user, f.mode) == ("root", 0o750), script
    for directory in (BACKUP_DIR, f"{BACKUP_DIR}/daily", f"{BACKUP_DIR}/weekly"):
        d = host.file(directory)
        assert d.is_directory and (d.user, d.mode) == ("root", 0o700), directory


@pytest.fixture(scope="module")
def fresh_dump(host) -> str:
    before = host.check_output("date +%s.%N")
    host.check_output("systemctl start tsunagu-backup.service")
    assert host.run("systemctl is-failed --quiet tsunagu-backup.service").rc != 0
    newest = newest_dump(host)
    assert newest is not None, "the service left no dump"
    assert newest[0] >= float(before) - 1, "no dump newer than the service start"
    return newest[1]


def test_service_produces_a_compressed_checked_dump(host, fresh_dump) -> None:
    assert fresh_dump.endswith((".sql.zst", ".sql.gz"))
    dump = host.file(fresh_dump)
    assert (dump.user, dump.mode) == ("root", 0o600)
    assert dump.size > 0
    decompress = "zstd -q -d -c" if fresh_dump.endswith(".zst") else "gzip -d -c"
    host.check_output(f"{'zstd -q -t' if fresh_dump.endswith('.zst') else 'gzip -t'} {fresh_dump}")
    head = host.check_output(f"{decompress} {fresh_dump} | head -n 60")
    assert "MariaDB dump" in head or "MySQL dump" in head
    assert f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{APP_DB}`" in head


def test_weekly_copy_exists(host, fresh_dump) -> None:
    weekly = host.check_output(f"find {BACKUP_DIR}/weekly -name '{APP_DB}-*.sql.*' | wc -l")
    assert int(weekly) >= 1


def test_restore_lists_dumps_and_refuses_without_confirmation(host, fresh_dump) -> None:
    assert fresh_dump in host.check_output("/usr/local/sbin/tsunagu-restore --list")
    refused = host.run(f"/usr/local/sbin/tsunagu-restore {APP_DB} < /dev/null")
    assert refused.rc != 0
    assert "refusing" in refused.stderr
    # the database is untouched
    assert (
        host.check_output(
            "mariadb -N -B -e \"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'tsunagu'\""
        )
        == "1"
    )
