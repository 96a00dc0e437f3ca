"""The demo catcher (`flask mail catcher`): a real process receiving over SMTP, saving .eml files the
admin page 「受信したメール(デモ)」 lists and shows decoded."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import SECRET, STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import _free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def catch_dir(tmp_path) -> Path:
    return tmp_path / "caught"


@pytest.fixture
def settings_overrides(catch_dir):
    return {"mail_catch_dir": str(catch_dir)}


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode(errors="replace")  # type: ignore[union-attr]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("the catcher did not start listening")


@pytest.fixture
def catcher(catch_dir, tmp_path):
    port = _free_port()
    env = {**os.environ, "TSUNAGU_SECRET_KEY": SECRET, "TSUNAGU_INSTANCE_PATH": str(tmp_path),
           "TSUNAGU_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
           "TSUNAGU_MAIL_CATCH_DIR": str(catch_dir)}
    process = subprocess.Popen([str(Path(sys.executable).with_name("flask")), "--app", "app", "mail", "catcher",
                                "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    _wait_for_port(port, process)
    yield port, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_caught_mail_is_saved_privately_and_readable_in_the_admin(app, client, make_staff, catcher, catch_dir):
    port, process = catcher
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "tsunagu@example.com", "hanako@example.com", "【つなぐ】研修のご案内"
    mail.set_content("山田 花子 様\n研修のご案内です。", charset="utf-8")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(mail)
    [saved] = list(catch_dir.glob("*.eml"))
    assert stat.S_IMODE(catch_dir.stat().st_mode) == 0o700 and stat.S_IMODE(saved.stat().st_mode) == 0o600

    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    listing = client.get("/admin/mail/caught").get_data(as_text=True)
    assert "【つなぐ】研修のご案内" in listing and "hanako@example.com" in listing
    page = client.get(f"/admin/mail/caught/view?name={saved.name}").get_data(as_text=True)
    assert "山田 花子 様" in page and "研修のご案内です。" in page
    for bad in ("../../etc/passwd", "x.eml", saved.name.replace(".eml", ".txt")):
        assert client.get("/admin/mail/caught/view", query_string={"name": bad}).status_code == 404

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0 and "1 caught" in output


@pytest.mark.parametrize("settings_overrides", [{"mail_catch_dir": ""}])
def test_without_a_catch_dir_there_is_no_caught_mail_page(app, client, make_staff, settings_overrides):
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    assert client.get("/admin/mail/caught").status_code == 404
    assert "受信したメール(デモ)" not in client.get("/admin/mail/").get_data(as_text=True)
