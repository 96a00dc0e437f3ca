"""The mail outbox: queued in the caller's transaction, delivered by the worker to a real SMTP listener."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.mail.models import OutboxMessage
from app.mail.services import deliver_due, enqueue
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)


def _settings(app, **changes):
    import dataclasses

    return dataclasses.replace(app.extensions["tsunagu.settings"], **changes)


def test_queued_mail_is_delivered_once_with_japanese_text(app, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    with app.app_context():
        enqueue(db.session, to="hanako@example.com", subject="【つなぐ】ご案内", body="山田 花子 様\n本文です。",
                category="test")
        db.session.commit()
        first = deliver_due(db.session, _settings(app, smtp_port=port))
        second = deliver_due(db.session, _settings(app, smtp_port=port))
        row = db.session.scalar(sa.select(OutboxMessage))
        assert (first.sent, second.sent) == (1, 0)
        assert row.status == "sent" and row.message_id
    [mail] = inbox.to("hanako@example.com")
    assert mail["Subject"] == "【つなぐ】ご案内"
    assert "山田 花子 様" in mail.get_content()


def test_unreachable_relay_keeps_the_mail_for_a_retry(app):
    with app.app_context():
        enqueue(db.session, to="hanako@example.com", subject="件名", body="本文", category="test")
        db.session.commit()
        report = deliver_due(db.session, _settings(app, smtp_port=1))
        row = db.session.scalar(sa.select(OutboxMessage))
        assert (report.sent, report.retried) == (0, 1)
        assert row.status == "pending" and row.last_error and row.not_before > row.created_at


def test_header_injection_in_subject_or_address_is_neutralised(app, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    with app.app_context():
        with pytest.raises(ValueError):
            enqueue(db.session, to="a@example.com\r\nBcc: victim@example.com", subject="x", body="x", category="t")
        enqueue(db.session, to="a@example.com", subject="hi\r\nBcc: victim@example.com", body="x", category="t")
        db.session.commit()
        deliver_due(db.session, _settings(app, smtp_port=port))
    [mail] = inbox.messages
    assert mail["Bcc"] is None
    assert mail["Subject"] == "hi  Bcc: victim@example.com"


def _enqueue_many(app, count: int) -> None:
    with app.app_context():
        for n in range(count):
            enqueue(db.session, to=f"r{n}@example.com", subject=f"件名 {n}", body="本文", category="test")
        db.session.commit()


def _shift_due(app, **delta) -> None:
    """Let time pass for the outbox: everything waiting becomes due now (and sends move `delta` back)."""
    from datetime import timedelta

    from app.core.timeutil import utcnow

    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(not_before=utcnow() - timedelta(seconds=1)))
        if delta:
            db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))
                               .values(sent_at=utcnow() - timedelta(**delta)))
        db.session.commit()


def test_the_hourly_cap_is_a_sliding_window(app, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    settings = _settings(app, smtp_port=port, mail_rate_per_hour=3)
    _enqueue_many(app, 5)
    with app.app_context():
        report = deliver_due(db.session, settings)
        assert (report.sent, report.rate_limited) == (3, True)
        waiting = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
        assert len(waiting) == 2 and all(m.attempts == 0 for m in waiting)  # given back, not counted as a try
    _shift_due(app)
    with app.app_context():
        assert deliver_due(db.session, settings).sent == 0  # the three are still inside the last hour
    _shift_due(app, minutes=61)
    with app.app_context():
        assert deliver_due(db.session, settings).sent == 2
    assert len(inbox.messages) == 5


def test_relay_down_keeps_everything_queued_and_retried_then_delivers_all(app, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    _enqueue_many(app, 3)
    down = _settings(app, smtp_port=1, mail_max_attempts=2)
    for attempt in (1, 2, 3):  # more tries than mail_max_attempts: a dead relay is not the message's fault
        with app.app_context():
            report = deliver_due(db.session, down)
            assert (report.retried, report.relay_down) == (3, True)
            rows = db.session.scalars(sa.select(OutboxMessage)).all()
            assert {(m.status, m.attempts) for m in rows} == {("pending", attempt)}
            assert all("relay unreachable" in m.last_error for m in rows)
        _shift_due(app)
    with app.app_context():
        assert deliver_due(db.session, _settings(app, smtp_port=port)).sent == 3
    assert sorted(m["To"] for m in inbox.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]


class _Moody:
    """An SMTP handler answering the first DATA with a temporary (451) or permanent (550) error."""

    def __init__(self, first_reply: str) -> None:
        self.first_reply = first_reply
        self.received: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append((message["Message-ID"], self.first_reply))
        if len(self.received) == 1:
            return self.first_reply
        return "250 OK"


@pytest.fixture
def moody():
    from aiosmtpd.controller import Controller

    from tests.support.smtp import _free_port

    controllers = []

    def start(first_reply: str):
        handler, port = _Moody(first_reply), _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return handler, port

    yield start
    for controller in controllers:
        controller.stop()


def test_a_temporary_refusal_is_retried_with_the_same_message_id(app, moody):
    handler, port = moody("451 4.3.0 try again later")
    settings = _settings(app, smtp_port=port)
    _enqueue_many(app, 1)
    with app.app_context():
        stored = db.session.scalar(sa.select(OutboxMessage.message_id))
        assert deliver_due(db.session, settings).retried == 1
        row = db.session.scalar(sa.select(OutboxMessage))
        assert (row.status, row.attempts) == ("pending", 1) and "451" in row.last_error
    _shift_due(app)
    with app.app_context():
        assert deliver_due(db.session, settings).sent == 1
    assert [mid for mid, _ in handler.received] == [stored, stored]


def test_a_permanent_refusal_fails_at_once_with_the_reason(app, moody):
    _handler, port = moody("550 5.1.1 no such user")
    _enqueue_many(app, 2)
    with app.app_context():
        report = deliver_due(db.session, _settings(app, smtp_port=port))
        assert (report.sent, report.failed) == (1, 1)
        failed = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
        assert "550" in failed.last_error and failed.attempts == 1


def test_a_stopping_worker_gives_its_unsent_claims_back(app, smtp_server):  # noqa: F811
    """SIGTERM (systemctl stop): the message in hand finishes; the rest of its claim is due again at once."""
    inbox, port = smtp_server
    _enqueue_many(app, 5)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # checked before the group and before each message: stop after the first

    with app.app_context():
        assert deliver_due(db.session, _settings(app, smtp_port=port), stop=stop).sent == 1
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(m.status, m.attempts) for m in rows] == [("sent", 1)] + [("pending", 0)] * 4
        assert deliver_due(db.session, _settings(app, smtp_port=port)).sent == 4
    assert len(inbox.messages) == 5
