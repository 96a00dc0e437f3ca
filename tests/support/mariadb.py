"""A throwaway MariaDB server for one test session: own data dir, socket and port; stopped afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class MariaDBUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayMariaDB:
    def __init__(self) -> None:
        self.install_db = shutil.which("mariadb-install-db")
        self.server = shutil.which("mariadbd") or (Path("/usr/sbin/mariadbd").exists() and "/usr/sbin/mariadbd")
        self.client = shutil.which("mariadb")
        if not (self.install_db and self.server and self.client):
            raise MariaDBUnavailable("mariadb-server is not installed (apt-get install mariadb-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="tsunagu-mariadb-"))
        self.socket = self.dir / "mysqld.sock"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayMariaDB:
        shutil.chown(self.dir, "mysql", "mysql") if os.geteuid() == 0 else None
        subprocess.run(
            [self.install_db, "--user=mysql", f"--datadir={self.dir / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )
        self.process = subprocess.Popen([
            self.server, "--no-defaults", "--user=mysql", f"--datadir={self.dir / 'data'}",
            f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--pid-file={self.dir / 'mysqld.pid'}", f"--log-error={self.dir / 'error.log'}",
            "--skip-log-bin", "--innodb-buffer-pool-size=128M", "--skip-name-resolve",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.socket.exists() and self._ping():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.dir / "error.log").read_text(errors="replace") if (self.dir / "error.log").exists() else ""
        self.stop()
        raise MariaDBUnavailable(f"mariadbd did not start:\n{log[-2000:]}")

    def _ping(self) -> bool:
        return subprocess.run([self.client, f"--socket={self.socket}", "-uroot", "-e", "SELECT 1"],
                              capture_output=True).returncode == 0

    def create_database(self, name: str) -> str:
        subprocess.run([self.client, f"--socket={self.socket}", "-uroot", "-e",
                        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"],
                       check=True, capture_output=True)
        return f"mysql+pymysql://root@localhost/{name}?unix_socket={self.socket}&charset=utf8mb4"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
