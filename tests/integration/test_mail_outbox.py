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
