"""Infra (issue 8 §5): the personal-data register (Nagasaki spec 9) collected from the live guests.

Writes the files security/report.py merges (docs/audit.md "The register files"):

- build/audit/register-infra.json: the DB accounts with their grants (db1, as root over the local socket) and
  the OS accounts that can read the backups (db1) or the app's settings with the DB password (web1);
- build/audit/register.json: the staff accounts and roles, from `tsunagu-flask register personal-data` on web1.

While collecting it asserts what an auditor looks for: no DB account but the app user from the web guests and
MariaDB's local system accounts, no global privilege for the app user, backups readable by root and sudo
administrators only, and no password or hash in the register.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import pytest
import testinfra

from app.core.timeutil import TOKYO
from tests.infra.conftest import ADDRESSES, DB1, WEB1
from tests.infra.test_backup import BACKUP_DIR
from tests.infra.test_mariadb import APP_DB, APP_USER, sql
from tests.infra.test_webapp import BASE, ENV_FILE

AUDIT_DIR = Path(__file__).resolve().parents[2] / "build" / "audit"
INFRA_REGISTER = AUDIT_DIR / "register-infra.json"
APP_REGISTER = AUDIT_DIR / "register.json"

WEB_ADDRESSES = {ADDRESSES["web1"]}
# created by mariadb-install-db: root and mysql through the local socket only, mariadb.sys owns system views
SYSTEM_DB_ACCOUNTS = {("root", "localhost"), ("mysql", "localhost"), ("mariadb.sys", "localhost")}
OS_APP_USER = "tsunagu"
# SHOW GRANTS prints the password hash (IDENTIFIED BY PASSWORD '*…') or the plugin's string (USING '…');
# USING 'invalid' stays: it says that no password can log in
GRANT_SECRET = re.compile(r"\b(PASSWORD|USING) '(?!invalid')[^']*'")
READ, SEARCH = 0o4, 0o1


def guest(url: str) -> str:
    return url.removeprefix("podman://")


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def without_secrets(grant: str) -> str:
    return GRANT_SECRET.sub(r"\1 '***'", grant)


def db_accounts(db) -> list[dict]:
    accounts = []
    for user, host in sql(db, "SELECT User, Host FROM mysql.user ORDER BY User, Host"):
        grants = sql(db, f"SHOW GRANTS FOR {sql_string(user)}@{sql_string(host)}")
        accounts.append({"user": user, "host": host, "grants": [without_secrets(row[0]) for row in grants]})
    return accounts


# --- who can read a path: mode bits along the path, uid 0, and sudo ----------------------------------------------

@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    groups: frozenset[str]


@dataclass(frozen=True)
class Node:
    """One component of a path as the kernel checks it."""

    path: str
    owner: str
    group: str
    mode: int
    is_dir: bool
    has_acl: bool


def accounts(host) -> list[Account]:
    groups = [line.split(":") for line in host.check_output("getent group").splitlines()]
    name_of_gid = {gid: name for name, _, gid, _ in groups}
    found = []
    for line in host.check_output("getent passwd").splitlines():
        name, _, uid, gid, *_ = line.split(":")
        member_of = {group for group, _, _, members in groups if name in members.split(",")}
        found.append(Account(name, int(uid), frozenset({name_of_gid.get(gid, gid), *member_of})))
    return found


def nodes(host, path: str) -> list[Node]:
    """The path and every directory above it (each must be searchable to reach it)."""
    parts = [str(part) for part in [*reversed(PurePosixPath(path).parents), PurePosixPath(path)]]
    out = host.check_output(
        f"for p in {' '.join(map(shlex.quote, parts))}; do stat -c '%U %G %a' \"$p\"; ls -ld \"$p\"; done"
    )
    lines = out.splitlines()
    found = []
    for part, stat_line, listing in zip(parts, lines[::2], lines[1::2], strict=True):
        owner, group, mode = stat_line.split()
        mode_string = listing.split()[0]  # drwx------ ; a trailing + marks an ACL
        found.append(Node(part, owner, group, int(mode, 8), mode_string.startswith("d"), mode_string.endswith("+")))
    return found


def permission_class(node: Node, account: Account) -> tuple[str, int]:
    """POSIX: the owner's bits for the owner, the group's for its members, the others' for everyone else."""
    if account.name == node.owner:
        return "owner", node.mode >> 6
    if node.group in account.groups:
        return f"group {node.group}", node.mode >> 3
    return "others", node.mode


def granted(node: Node, account: Account, wanted: int) -> bool:
    return permission_class(node, account)[1] & wanted == wanted


def reads_by_mode(chain: list[Node], account: Account) -> bool:
    *above, target = chain
    wanted = READ | SEARCH if target.is_dir else READ
    return all(granted(node, account, SEARCH) for node in above) and granted(target, account, wanted)


def sudo_rules(host) -> dict[str, list[str]]:
    """What sudo lets each account run, as `sudo -l -U` reports it (sudo's own reading of its policy)."""
    out = host.check_output(
        "command -v sudo >/dev/null || exit 0; "
        "for u in $(getent passwd | cut -d: -f1); do echo \"@@ $u\"; sudo -n -l -U \"$u\" 2>&1; done; true"
    )
    rules: dict[str, list[str]] = {}
    for section in out.split("@@ ")[1:]:
        user, _, listing = section.partition("\n")
        _, allowed, commands = listing.partition("may run the following commands")
        rules[user] = [line.strip() for line in commands.splitlines()[1:] if line.strip()] if allowed else []
    return rules


def readers(host, path: str) -> list[tuple[Account, str]]:
    """Every account that can read `path`, and how. Any sudo rule counts (a narrow rule can still open a shell)."""
    chain = nodes(host, path)
    assert not any(node.has_acl for node in chain), f"an ACL on {path}: the mode bits are not the whole story"
    rules = sudo_rules(host)
    found = []
    for account in accounts(host):
        if account.uid == 0:
            found.append((account, "root (uid 0)"))
        elif rules.get(account.name):
            found.append((account, "sudo: " + "; ".join(rules[account.name])))
        elif reads_by_mode(chain, account):
            found.append((account, permission_class(chain[-1], account)[0]))
    return found


def os_accounts(host, name: str, path: str, backups: bool) -> list[dict]:
    return [{"host": name, "user": account.name, "groups": sorted(account.groups), "can_read_backups": backups,
             "reads": path, "via": via} for account, via in readers(host, path)]


# --- collecting ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db1():
    return testinfra.get_host(DB1)


@pytest.fixture(scope="module")
def web1():
    return testinfra.get_host(WEB1)


@pytest.fixture(scope="module")
def infra_register(db1, web1) -> dict:
    """Collect from the guests and write register-infra.json (before any assertion: the evidence is what is)."""
    version = sql(db1, "SELECT VERSION()")[0][0]
    register = {
        "register": "personal-data-infra",
        "source": "testinfra (tests/infra/test_register.py)",
        "generated_at": datetime.now(TOKYO).isoformat(timespec="seconds"),
        "database": f"MariaDB {version} on {guest(DB1)} (mysql.user)",
        "db_accounts": db_accounts(db1),
        "os_accounts": os_accounts(db1, guest(DB1), BACKUP_DIR, backups=True)
        + os_accounts(web1, guest(WEB1), ENV_FILE, backups=False),
    }
    AUDIT_DIR.mkdir(parents=True, exist_ok=True)
    INFRA_REGISTER.write_text(json.dumps(register, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return register


def readers_of(register: dict, path: str) -> dict[str, str]:
    return {entry["user"]: entry["via"] for entry in register["os_accounts"] if entry["reads"] == path}


def test_db_accounts_are_the_app_user_from_the_web_guests_and_local_system_accounts(infra_register) -> None:
    found = {(entry["user"], entry["host"]) for entry in infra_register["db_accounts"]}
    assert found == {(APP_USER, address) for address in WEB_ADDRESSES} | SYSTEM_DB_ACCOUNTS
    assert all(entry["grants"] for entry in infra_register["db_accounts"])


def test_app_db_user_has_no_global_privilege(infra_register) -> None:
    grants = [g for entry in infra_register["db_accounts"] if entry["user"] == APP_USER for g in entry["grants"]]
    global_grants = [g for g in grants if " ON *.* " in g]
    assert global_grants, "SHOW GRANTS always lists the account's global line"
    assert all(g.startswith("GRANT USAGE ON *.* ") for g in global_grants), global_grants
    assert not any("WITH GRANT OPTION" in g for g in grants)
    assert all(f" ON `{APP_DB}`." in g for g in grants if " ON *.* " not in g)


def test_register_keeps_no_password_hash(infra_register) -> None:
    text = INFRA_REGISTER.read_text(encoding="utf-8")
    assert json.loads(text) == infra_register
    assert not re.search(r"\*[0-9A-F]{40}", text)  # a mysql_native_password hash
    assert {match.group(0).split(" ", 1)[1] for match in GRANT_SECRET.finditer(text)} <= {"'***'"}


def test_backups_readable_only_by_root_and_sudo_administrators(db1, infra_register) -> None:
    exposed = db1.check_output(f"find {BACKUP_DIR} -perm /o=rwx -printf '%m %p\\n'")
    assert exposed == "", f"readable by every account:\n{exposed}"
    backup_readers = readers_of(infra_register, BACKUP_DIR)
    assert backup_readers.get("root") == "root (uid 0)"
    assert {user: via for user, via in backup_readers.items() if not via.startswith(("root", "sudo:"))} == {}


def test_app_settings_readable_only_by_root_administrators_and_the_app_user(infra_register) -> None:
    """/etc/tsunagu/tsunagu.env holds the DB password: whoever reads it can read the personal data."""
    settings_readers = readers_of(infra_register, ENV_FILE)
    by_mode = {user: via for user, via in settings_readers.items() if not via.startswith(("root", "sudo:"))}
    assert by_mode == {OS_APP_USER: f"group {OS_APP_USER}"}


def test_app_register_lists_every_staff_account_and_no_secret(web1, db1) -> None:
    APP_REGISTER.unlink(missing_ok=True)  # never leave an older run's register to be reported as this one's
    out = web1.run(f"{BASE}/bin/tsunagu-flask register personal-data --json -")
    assert out.rc == 0, out.stderr
    register = json.loads(out.stdout)
    AUDIT_DIR.mkdir(parents=True, exist_ok=True)
    APP_REGISTER.write_text(out.stdout, encoding="utf-8")

    in_database = {(int(i), role) for i, role in sql(db1, "SELECT id, role FROM tsunagu.staff_user")}
    assert {(entry["id"], entry["role"]) for entry in register["staff"]} == in_database
    roles = register["role_permissions"]
    assert all(entry["can_view_personal_data"] == ("view" in roles[entry["role"]]) for entry in register["staff"])
    assert "***" in register["database"] or "@" not in register["database"]
    keys = {key for entry in register["staff"] for key in entry}
    assert not {key for key in keys if re.search(r"password|hash|secret|totp_key", key)}
