"""testinfra modules for the appliance's guests (molecule/default).

They run only under `molecule verify` (which sets TSUNAGU_INFRA_TESTS=1 and CONTAINERS_CONF), or by
hand against running guests:

    TSUNAGU_INFRA_TESTS=1 CONTAINERS_CONF=$PWD/containers.conf .venv/bin/pytest tests/infra

Each module names its guests with ``testinfra_hosts = ["podman://tsunagu-web1", ...]`` (podman exec:
about ten times faster than the ansible backend). A plain `pytest` run skips this directory.
``TSUNAGU_INFRA_ONLY=common,firewall`` limits the run to those modules (while a role is being written).
"""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("TSUNAGU_INFRA_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(config, items):
    """TSUNAGU_INFRA_ONLY=common,firewall molecule verify: keep only those modules' tests.

    (molecule passes every module as an argument, so collect_ignore would not apply.)
    """
    only = os.environ.get("TSUNAGU_INFRA_ONLY")
    if not only:
        return
    wanted = {f"test_{name.strip()}.py" for name in only.split(",")}
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        path = Path(str(item.path))
        (drop if path.parent == here and path.name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


WEB1 = "podman://tsunagu-web1"
DB1 = "podman://tsunagu-db1"
ACME1 = "podman://tsunagu-acme1"
ADDRESSES = {"web1": "10.89.77.10", "db1": "10.89.77.20", "acme1": "10.89.77.30"}


def tcp_probe(host, address: str, port: int, seconds: int = 3) -> str:
    """Connect from a guest: 'open', 'refused' (the packet got through, nothing listens) or 'dropped'."""
    cmd = host.run(f"timeout {seconds} bash -c '</dev/tcp/{address}/{port}'")
    if cmd.rc == 0:
        return "open"
    if cmd.rc == 124:
        return "dropped"
    if "refused" in cmd.stderr:
        return "refused"
    return f"error rc={cmd.rc}: {cmd.stderr.strip()}"
