"""The mail worker as a real process (`flask --app app mail worker`) against the test database (SQLite
file and MariaDB): killed with SIGKILL mid-send and restarted, and two workers at once. Counted at a
real SMTP listener (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from app.extensions import db
from app.mail.models import OutboxMessage
from app.mail.services import enqueue
from tests.conftest import SECRET
from tests.support.smtp import _free_port

FLASK = str(Path(sys.executable).with_name("flask"))
ROOT = Path(__file__).resolve().parents[2]


class CountingListener:
    """Keeps (To, Message-ID) of every message; waits `delay` per message; may kill a process on the n-th."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[tuple[str, str]] = []
        self.kill_on: int | None = None
        self.victim: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.received.append((str(message["To"]), str(message["Message-ID"])))
            count = len(self.received)
        if self.kill_on == count and self.victim is not None:
            # the message has arrived but the worker dies before it hears "250": it stays `sending`
            os.kill(self.victim.pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
        elif self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"


@pytest.fixture
def listener():
    handler, port = CountingListener(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def worker(database_url: str, tmp_path: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TSUNAGU_SECRET_KEY": SECRET, "TSUNAGU_DATABASE_URL": database_url,
           "TSUNAGU_INSTANCE_PATH": str(tmp_path), "TSUNAGU_AUTH_LOG": str(tmp_path / "auth.log"),
           "TSUNAGU_SMTP_HOST": "127.0.0.1", "TSUNAGU_SMTP_PORT": str(port), "TSUNAGU_MAIL_RATE_PER_HOUR": "100000"}
    return subprocess.Popen([FLASK, "--app", "app", "mail", "worker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def queue(app, count: int) -> dict[str, str]:
    """`count` mails to distinct recipients; returns address -> Message-ID fixed at enqueue."""
    with app.app_context():
        rows = [enqueue(db.session, to=f"person{n:03d}@example.com", subject=f"お知らせ {n}", body="本文",
                        category="test") for n in range(count)]
        db.session.commit()
        return {row.to_address: row.message_id for row in rows}


def statuses(app) -> Counter[str]:
    with app.app_context():
        return Counter(db.session.scalars(sa.select(OutboxMessage.status)))


def finish(process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"worker did not finish: {output.decode(errors='replace')}")
    return output.decode(errors="replace")


def test_a_worker_killed_mid_send_and_restarted_loses_nothing(app, database_url, tmp_path, listener):
    handler, port = listener
    expected = queue(app, 8)
    handler.delay, handler.kill_on = 0.05, 3
    first = worker(database_url, tmp_path, port, "--interval", "0.2")
    handler.victim = first
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    first.stdout.close()  # type: ignore[union-attr]
    # two acknowledged; the one in flight and the rest of its claim group were left `sending`
    assert statuses(app) == Counter({"sent": 2, "sending": 6})

    time.sleep(1.2)  # longer than --stale-after: that row is now the dead worker's abandoned claim
    second = worker(database_url, tmp_path, port, "--once", "--stale-after", "1")
    output = finish(second)
    assert second.returncode == 0, output
    assert statuses(app) == Counter({"sent": 8})

    arrivals = Counter(handler.received)
    assert {to for to, _mid in arrivals} == set(expected)  # every recipient got it
    assert all(mid == expected[to] for to, mid in arrivals)  # with the Message-ID fixed at enqueue
    twice = [pair for pair, n in arrivals.items() if n > 1]
    # exactly the message in flight at the kill came twice (recovered from `sending`), same Message-ID
    assert len(twice) == 1 and max(arrivals.values()) == 2
    assert handler.received.index(twice[0]) == 2
    assert len(handler.received) == 9


def test_two_workers_at_once_never_send_the_same_message(app, database_url, tmp_path, listener):
    handler, port = listener
    expected = queue(app, 40)
    handler.delay = 0.01
    workers = [worker(database_url, tmp_path, port, "--once", "--batch", "50") for _ in range(2)]
    outputs = [finish(process) for process in workers]
    assert [p.returncode for p in workers] == [0, 0], outputs
    assert statuses(app) == Counter({"sent": 40})
    assert sorted(handler.received) == sorted(expected.items())  # each exactly once
    sent_by = [int(out.rsplit("(", 1)[1].split(" sent")[0]) for out in outputs]
    assert sum(sent_by) == 40


def test_relay_down_then_up_through_the_worker_process(app, database_url, tmp_path, listener):
    handler, port = listener
    queue(app, 3)
    down = worker(database_url, tmp_path, _free_port(), "--once")
    output = finish(down)
    assert down.returncode == 0 and "relay unreachable" in output
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
        db.session.execute(sa.update(OutboxMessage).values(not_before=OutboxMessage.created_at))
        db.session.commit()
    up = worker(database_url, tmp_path, port, "--once")
    assert "3 sent" in finish(up)
    assert len(handler.received) == 3 and statuses(app) == Counter({"sent": 3})
