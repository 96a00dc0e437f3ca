"""S5 fiscal-year validity: renewal reminders, one-click renewal, expiry on 1 April, anonymisation.

The daily run is driven across simulated days (`run_lifecycle(..., today)` / `flask lifecycle run --today`);
the portal's idea of "today" is patched where a test needs the renewal season.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.auth.models import AccountToken, LoginSession
from app.codes.models import Code
from app.core.timeutil import tokyo_day_start_utc, utcnow
from app.extensions import db
from app.lifecycle import services
from app.lifecycle.models import LifecycleNotice
from app.mail.models import OutboxMessage
from app.mail.services import deliver_due
from app.registrants.models import ConsentRecord, Registrant, StatusChange
from app.surveys.models import QuestionKind, Survey, SurveyAnswer, SurveyOption, SurveyQuestion, SurveyResponse
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

FY_END = date(2027, 3, 31)
NEXT_FY_END = date(2028, 3, 31)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"retention_days": 30, "renewal_reminder_dates": "02-01,03-01"}


def run(app, day: str, **kwargs: Any) -> services.LifecycleReport:  # type: ignore[no-untyped-def]
    with app.app_context():
        return services.run_lifecycle(db.session, app.extensions["tsunagu.settings"], date.fromisoformat(day),
                                      **kwargs)


def reminders_to(app, registrant_id: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.registrant_id == registrant_id, OutboxMessage.category == services.MAIL_CATEGORY)
            .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def fetch(app, registrant_id: int) -> Registrant:  # type: ignore[no-untyped-def]
    with app.app_context():
        registrant = db.session.get(Registrant, registrant_id)
        db.session.expunge(registrant)
        return registrant


def history(app, registrant_id: int) -> list[tuple[str | None, str, str]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return [(c.from_status, c.to_status, c.reason) for c in db.session.scalars(
            sa.select(StatusChange).where(StatusChange.registrant_id == registrant_id).order_by(StatusChange.id))]


def audit_actions(app, registrant_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return [(e.action, e.actor_kind) for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.target == f"registrant:{registrant_id}").order_by(AuditEvent.seq))]


def renewal_today(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setattr(services, "today_in_tokyo", lambda: day)


# --- reminders -----------------------------------------------------------------------------------------

def test_s5_reminder_goes_out_once_on_each_configured_date(app, make_registrant, smtp_server):  # noqa: F811
    """S5: 02-01 and 03-01 each send one reminder; a second run on the same day sends nothing."""
    inbox, port = smtp_server
    registrant = make_registrant(email="hanako@example.com", valid_until=FY_END)
    assert run(app, "2027-01-31").reminder is None
    first = run(app, "2027-02-01")
    again = run(app, "2027-02-01")
    assert (first.reminder, first.reminders_sent, first.reminder_catch_up) == ("renewal_reminder_02-01", 1, False)
    assert again.reminders_sent == 0
    assert run(app, "2027-02-20").reminders_sent == 0
    assert len(reminders_to(app, registrant.id)) == 1
    assert run(app, "2027-03-01").reminders_sent == 1
    assert run(app, "2027-03-01").reminders_sent == 0
    assert run(app, "2027-03-31").reminders_sent == 0
    mails = reminders_to(app, registrant.id)
    assert len(mails) == 2
    with app.app_context():
        kinds = sorted(db.session.scalars(sa.select(LifecycleNotice.kind)))
        assert kinds == ["renewal_reminder_02-01", "renewal_reminder_03-01"]
        settings = dataclasses.replace(app.extensions["tsunagu.settings"], smtp_port=port)
        assert deliver_due(db.session, settings).sent == 2
    delivered = inbox.to("hanako@example.com")
    assert len(delivered) == 2
    body = delivered[0].get_content()
    assert "山田 花子 様" in body and "http://127.0.0.1:5000/me/renew" in body
    assert "2027年3月31日" in body and "2028年3月31日" in body
    assert delivered[0]["Subject"] == "【つなぐ】登録の更新のお願い(2027年3月31日まで)"


def test_s5_missed_reminder_is_caught_up_once_but_not_after_the_fiscal_year(app, make_registrant):
    """The timer missed 02-01: the next run sends it (once); if both were missed, only the later one goes."""
    caught_up = make_registrant(valid_until=FY_END)
    report = run(app, "2027-02-05")
    assert (report.reminder, report.reminder_catch_up, report.reminders_sent) == ("renewal_reminder_02-01", True, 1)
    assert run(app, "2027-02-06").reminders_sent == 0
    late = make_registrant(valid_until=FY_END)  # joined after the first round
    report = run(app, "2027-03-10")
    assert report.reminder == "renewal_reminder_03-01" and report.reminders_sent == 2
    assert len(reminders_to(app, caught_up.id)) == 2
    assert len(reminders_to(app, late.id)) == 1  # not 02-01 and 03-01 on one day
    never_reminded = make_registrant(valid_until=FY_END)
    assert run(app, "2027-04-01").reminders_sent == 0  # the fiscal year is over: no reminder any more
    assert reminders_to(app, never_reminded.id) == []


def test_s5_no_reminder_when_renewed_without_mail_consent_or_not_active(app, make_registrant):
    """Renewed, mail consent withdrawn, expired, withdrawn and pending registrants get nothing."""
    control = make_registrant(valid_until=FY_END)
    skipped = [
        make_registrant(valid_until=NEXT_FY_END, renewed_at=utcnow()),
        make_registrant(valid_until=FY_END, mail_consent=False),
        make_registrant(valid_until=date(2026, 3, 31), status="expired"),
        make_registrant(valid_until=FY_END, status="expired"),
        make_registrant(valid_until=FY_END, status="withdrawn"),
        make_registrant(valid_until=FY_END, status="pending"),
    ]
    assert run(app, "2027-02-01").reminders_sent == 1
    assert len(reminders_to(app, control.id)) == 1
    for registrant in skipped:
        assert reminders_to(app, registrant.id) == [], registrant.status


def test_s5_expired_registrants_are_not_reachable(app, make_registrant):
    """The documented rule for mail and matching: only active registrants are reachable."""
    active = make_registrant(valid_until=FY_END)
    for status in ("expired", "pending", "withdrawn"):
        make_registrant(valid_until=FY_END, status=status)
    with app.app_context():
        reachable = db.session.scalars(sa.select(Registrant.id).where(services.reachable_condition())).all()
    assert reachable == [active.id]


# --- renewal ---------------------------------------------------------------------------------------------

def test_s5_registrant_renews_with_one_click_from_the_mail_link(app, client, make_registrant, monkeypatch):
    """The mail's link opens /me/renew after login; one POST extends to the next fiscal year's end."""
    registrant = make_registrant(email="renew@example.com", valid_until=FY_END)
    run(app, "2027-02-01")
    renewal_today(monkeypatch, date(2027, 2, 10))
    response = client.get("/me/renew")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = login(client, "renew@example.com", STRONG_PASSWORD, realm="portal")
    assert response.status_code == 302 and response.headers["Location"].endswith("/me/renew")
    page = client.get("/me/renew").get_data(as_text=True)
    assert "登録を更新する" in page and "2028年3月31日" in page
    token = csrf_token(client, "/me/renew")
    response = client.post("/me/renew", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/me/renew")
    confirmation = client.get("/me/renew").get_data(as_text=True)
    assert "登録を更新しました。有効期限は2028年3月31日です。" in confirmation
    assert "登録は更新済みです" in confirmation and "登録を更新する" not in confirmation
    client.post("/me/renew", data={"csrf_token": token})  # a second click changes nothing
    renewed = fetch(app, registrant.id)
    assert renewed.valid_until == NEXT_FY_END and renewed.status == "active" and renewed.renewed_at
    assert history(app, registrant.id) == [("active", "active", "renewed")]
    assert audit_actions(app, registrant.id).count(("registrant.renew", "registrant")) == 1
    assert run(app, "2027-03-01").reminders_sent == 0  # renewed: no second reminder
    assert run(app, "2027-04-01").expired == 0
    assert fetch(app, registrant.id).status == "active"


def test_s5_renewal_needs_csrf_and_a_registrant_login(app, client, make_registrant, make_staff, monkeypatch):
    registrant = make_registrant(email="csrf@example.com", valid_until=FY_END)
    renewal_today(monkeypatch, date(2027, 2, 10))
    assert client.post("/me/renew").status_code == 400  # no CSRF token
    staff = make_staff("administrator")
    login(client, staff.email, STRONG_PASSWORD)
    response = client.post("/me/renew", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert fetch(app, registrant.id).valid_until == FY_END


def test_s5_expired_registrant_renews_in_the_new_fiscal_year(app, client, make_registrant, monkeypatch):
    registrant = make_registrant(email="late@example.com", valid_until=FY_END)
    run(app, "2027-04-01")
    assert fetch(app, registrant.id).status == "expired"
    renewal_today(monkeypatch, date(2027, 4, 20))
    login(client, "late@example.com", STRONG_PASSWORD, realm="portal")
    page = client.get("/me/renew").get_data(as_text=True)
    assert "有効期限(2027年3月31日)が過ぎている" in page
    client.post("/me/renew", data={"csrf_token": csrf_token(client, "/me/renew")})
    renewed = fetch(app, registrant.id)
    assert (renewed.status, renewed.valid_until) == ("active", NEXT_FY_END)
    assert history(app, registrant.id) == [("active", "expired", "fiscal_year_end"),
                                          ("expired", "active", "renewed")]


def test_s5_renewal_is_refused_before_the_season(app, client, make_registrant, monkeypatch):
    registrant = make_registrant(email="early@example.com", valid_until=FY_END)
    renewal_today(monkeypatch, date(2026, 11, 21))
    login(client, "early@example.com", STRONG_PASSWORD, realm="portal")
    page = client.get("/me/renew").get_data(as_text=True)
    assert "更新の受付は2027年2月1日から始まります" in page and "登録を更新する" not in page
    client.post("/me/renew", data={"csrf_token": csrf_token(client, "/me/renew")})
    assert "現在、登録の更新は受け付けていません。" in client.get("/me/renew").get_data(as_text=True)
    assert fetch(app, registrant.id).valid_until == FY_END
    assert history(app, registrant.id) == []


def test_s5_renewal_box_on_the_me_page_in_season_only(app, client, make_registrant, monkeypatch):
    make_registrant(email="box@example.com", valid_until=FY_END)
    login(client, "box@example.com", STRONG_PASSWORD, realm="portal")
    renewal_today(monkeypatch, date(2026, 11, 21))
    assert "renewal-box" not in client.get("/me").get_data(as_text=True)
    renewal_today(monkeypatch, date(2027, 3, 1))
    page = client.get("/me").get_data(as_text=True)
    assert "renewal-box" in page and 'action="/me/renew"' in page


# --- expiry and anonymisation -----------------------------------------------------------------------------

def test_s5_unrenewed_registration_expires_on_1_april_once(app, make_registrant):
    registrant = make_registrant(valid_until=FY_END)
    renewed = make_registrant(valid_until=NEXT_FY_END)
    assert run(app, "2027-03-31").expired == 0
    report = run(app, "2027-04-01")
    assert report.expired == 1 and run(app, "2027-04-01").expired == 0
    expired = fetch(app, registrant.id)
    assert expired.status == "expired"
    assert expired.status_changed_at == tokyo_day_start_utc(date(2027, 4, 1))
    assert history(app, registrant.id) == [("active", "expired", "fiscal_year_end")]
    assert audit_actions(app, registrant.id) == [("registrant.expire", "system")]
    assert fetch(app, renewed.id).status == "active"


def test_s5_first_run_after_missed_days_still_expires(app, make_registrant):
    registrant = make_registrant(valid_until=FY_END)
    assert run(app, "2027-04-05").expired == 1
    assert fetch(app, registrant.id).status == "expired"


def test_s5_anonymised_after_the_retention_period(app, make_registrant):
    """retention_days=30: expired on 1 April, kept through 1 May, anonymised on 2 May; history survives."""
    with app.app_context():
        region = Code(kind="region", code="R01", label="長崎地区")
        licence = Code(kind="licence", code="L01", label="小学校教諭一種")
        db.session.add_all([region, licence])
        db.session.commit()
        region_id, licence_id = region.id, licence.id
    registrant = make_registrant(valid_until=FY_END, birth_date=date(1960, 5, 5), phone="095-000-0000",
                                 postal_code="850-8570", address="長崎市尾上町3-1", career_note="元小学校教諭",
                                 interests="読み聞かせ", external_id="EAPP-1", region_id=region_id)
    with app.app_context():
        row = db.session.get(Registrant, registrant.id)
        row.codes = [db.session.get(Code, licence_id)]
        db.session.add_all([
            ConsentRecord(registrant_id=registrant.id, kind="mail", granted=True, source="staff"),
            LoginSession(token_hash="a" * 64, account_kind="registrant", account_id=registrant.id),
            AccountToken(purpose="reset", token_hash="b" * 64, account_kind="registrant", account_id=registrant.id,
                         expires_at=utcnow() + timedelta(hours=1)),
        ])
        db.session.commit()
    run(app, "2027-02-01")  # a reminder in the outbox, with their name and address
    run(app, "2027-04-01")
    assert run(app, "2027-05-01").anonymised == 0
    report = run(app, "2027-05-02")
    assert report.anonymised == 1 and run(app, "2027-05-03").anonymised == 0
    gone = fetch(app, registrant.id)
    assert gone.status == "anonymised"
    assert (gone.family_name, gone.given_name, gone.family_name_kana, gone.given_name_kana) == (
        "匿名化済", "", "トクメイ", "")
    assert gone.email == f"anonymised-{registrant.id}@invalid"
    for name in ("birth_date", "phone", "postal_code", "address", "career_note", "interests", "external_id",
                 "password_hash"):
        assert getattr(gone, name) is None, name
    assert gone.search_text == "" and gone.name_key == ""
    assert gone.region_id == region_id
    with app.app_context():
        assert [c.id for c in db.session.get(Registrant, registrant.id).codes] == [licence_id]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountToken)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)) == 1
        outbox = db.session.scalars(sa.select(OutboxMessage)).all()
        assert [(m.to_address, m.body_text, m.status) for m in outbox] == [
            (gone.email, "", "failed")]
        detail = db.session.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "registrant.anonymise"))
        assert "山田" not in detail and json.loads(detail)["from_status"] == "expired"
    assert history(app, registrant.id) == [("active", "expired", "fiscal_year_end"),
                                          ("expired", "anonymised", "retention_period_ended")]
    assert audit_actions(app, registrant.id) == [("registrant.expire", "system"),
                                                 ("registrant.anonymise", "system")]


def test_s5_withdrawn_registrant_is_anonymised_after_retention(app, make_registrant):
    withdrawn = make_registrant(valid_until=FY_END, status="withdrawn",
                                status_changed_at=tokyo_day_start_utc(date(2027, 1, 10)))
    recent = make_registrant(valid_until=FY_END, status="withdrawn",
                             status_changed_at=tokyo_day_start_utc(date(2027, 1, 20)))
    assert run(app, "2027-02-10").anonymised == 1
    assert fetch(app, withdrawn.id).status == "anonymised"
    assert fetch(app, recent.id).status == "withdrawn"
    assert history(app, withdrawn.id) == [("withdrawn", "anonymised", "retention_period_ended")]


def test_s5_anonymising_erases_free_text_survey_answers_but_keeps_choices(app, make_registrant):
    withdrawn = make_registrant(valid_until=FY_END, status="withdrawn",
                                status_changed_at=tokyo_day_start_utc(date(2027, 1, 10)))
    with app.app_context():
        survey = Survey(title="交流会アンケート", published_at=utcnow())
        text = SurveyQuestion(kind=QuestionKind.TEXT.value, prompt="ご意見", position=1)
        choice = SurveyQuestion(kind=QuestionKind.SINGLE.value, prompt="参加しますか", position=2,
                                options=[SurveyOption(label="はい", position=1)])
        survey.questions = [text, choice]
        db.session.add(survey)
        db.session.flush()
        db.session.add(SurveyResponse(survey_id=survey.id, registrant_id=withdrawn.id, answers=[
            SurveyAnswer(question_id=text.id, text="山田です。電話は000-0000-0000"),
            SurveyAnswer(question_id=choice.id, option_id=choice.options[0].id)]))
        db.session.commit()
    assert run(app, "2027-02-10").anonymised == 1
    with app.app_context():
        answers = db.session.execute(sa.select(SurveyAnswer.text, SurveyAnswer.option_id)
                                     .order_by(SurveyAnswer.id)).all()
    assert answers[0].text is None
    assert answers[1].option_id is not None


# --- command line and admin page ------------------------------------------------------------------------

def test_s5_flask_lifecycle_run_with_today(app, make_registrant):
    registrant = make_registrant(valid_until=FY_END)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lifecycle", "run", "--today", "2027-02-01"])
    assert result.exit_code == 0, result.output
    assert "lifecycle 2027-02-01 (fiscal year 2026)" in result.stdout
    assert "renewal reminders: 1 queued [renewal_reminder_02-01]" in result.stdout
    again = runner.invoke(args=["lifecycle", "run", "--today", "2027-02-01"])
    assert "renewal reminders: 0 queued" in again.stdout
    expired = runner.invoke(args=["lifecycle", "run", "--today", "2027-04-01"])
    assert expired.exit_code == 0 and "expired: 1" in expired.stdout and "expire: 1/1" in expired.stderr
    assert fetch(app, registrant.id).status == "expired"
    assert runner.invoke(args=["lifecycle", "run", "--today", "2027-13-01"]).exit_code != 0
    with app.app_context():
        runs = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "lifecycle.run")).all()
        assert [json.loads(e.detail)["today"] for e in runs] == ["2027-02-01", "2027-02-01", "2027-04-01"]
        assert {e.actor_kind for e in runs} == {"system"}


def test_s5_admin_lifecycle_page_and_run_now(app, client, make_staff, make_registrant):
    make_registrant(valid_until=FY_END)
    make_registrant(valid_until=date(2026, 3, 31), status="expired")
    viewer, admin = make_staff("viewer"), make_staff("administrator")
    login(client, viewer.email, STRONG_PASSWORD)
    page = client.get("/admin/lifecycle/").get_data(as_text=True)
    assert "<svg" in page and "2026年度" in page and "2025年度" in page
    assert "まだ実行されていません" in page and "今すぐ実行" not in page
    assert client.post("/admin/lifecycle/run", data={"csrf_token": csrf_token(client, "/admin/")}).status_code == 403
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, admin.email, STRONG_PASSWORD)
    response = client.post("/admin/lifecycle/run", data={"csrf_token": csrf_token(client, "/admin/lifecycle/")})
    assert response.status_code == 302
    page = client.get("/admin/lifecycle/").get_data(as_text=True)
    assert "年度更新の処理を実行しました" in page and "前回の実行" in page and admin.display_name in page
    with app.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "lifecycle.run"))
        assert event.actor_kind == "staff" and event.actor_id == admin.id
