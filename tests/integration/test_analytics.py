"""First-party analytics (N5): page-view recording, the daily summaries and the dashboard."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import render_template_string

from app.analytics.models import ActiveDay, PageView, PageViewDaily
from app.analytics.recording import recording_engine
from app.analytics.rollup import rollup
from app.articles.models import Article
from app.audit.models import AuditEvent
from app.core.timeutil import tokyo_day_start_utc, tokyo_today, utcnow
from app.events.models import Event, EventRsvp
from app.extensions import db
from app.inbox.models import Message, MessageRecipient
from app.inquiries.models import Inquiry
from app.mail.models import OutboxMessage
from app.registrants.models import StatusChange
from app.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from tests.conftest import STRONG_PASSWORD, count_rows, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def views(app: Any) -> list[tuple[str, int | None, int | None]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            sa.select(PageView.endpoint, PageView.subject_id, PageView.registrant_id).order_by(PageView.id))]


def add_views(app: Any, rows: list[tuple[datetime, str, int | None, int | None]]) -> None:
    with app.app_context():
        db.session.execute(sa.insert(PageView), [
            {"viewed_at": at, "endpoint": endpoint, "subject_id": subject, "registrant_id": who}
            for at, endpoint, subject, who in rows])
        db.session.commit()


def jst(day: date, hour: int, minute: int = 0) -> datetime:
    """A Tokyo wall-clock time on `day` as the naive UTC value stored."""
    return tokyo_day_start_utc(day) + timedelta(hours=hour, minutes=minute)


# --- recording ---------------------------------------------------------------------------------------------------

def test_a_portal_page_view_is_one_row_without_url_query_or_ip(app, client):
    response = client.get("/guide?email=hanako%40example.com&q=secret", environ_base={"REMOTE_ADDR": "192.0.2.55"})
    assert response.status_code == 200
    assert views(app) == [("portal.guide", None, None)]
    with app.app_context():
        stored = db.session.execute(sa.select(PageView.__table__)).one()
    text = " ".join(str(value) for value in stored)
    assert "secret" not in text and "hanako" not in text and "192.0.2.55" not in text and "/guide" not in text
    assert set(PageView.__table__.columns.keys()) == {"id", "viewed_at", "endpoint", "subject_id", "registrant_id"}


def test_a_logged_in_registrant_is_recorded_with_their_login_and_the_page(app, client, make_registrant):
    me = make_registrant(email="hanako@example.com")
    assert login(client, me.email, STRONG_PASSWORD, realm="portal").status_code == 302
    assert client.get("/me").status_code == 200
    recorded = views(app)
    assert ("auth.login", None, me.id) in recorded
    assert recorded[-1] == ("portal.me", None, me.id)
    assert [r for r in recorded if r[0] == "auth.login"] == [("auth.login", None, me.id)]


def test_a_failed_login_is_not_a_login_event(app, client, make_registrant):
    me = make_registrant(email="hanako@example.com")
    login(client, me.email, "wrong-password-2026")
    login(client, me.email, "Wrong-password-2026", realm="portal")
    assert not [r for r in views(app) if r[0] == "auth.login"]


def test_the_first_int_url_argument_is_the_subject(app, client):
    app.add_url_rule("/portal-test/<int:thing_id>", endpoint="portal_test.show",
                     view_func=lambda thing_id: render_template_string("<p>{{ n }}</p>", n=thing_id))
    assert client.get("/portal-test/42").status_code == 200
    assert views(app) == [("portal_test.show", 42, None)]


def test_admin_static_redirects_errors_and_posts_are_not_recorded(app, client, make_staff):
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    assert client.get("/admin/").status_code == 200
    static = client.get("/static/css/tsunagu.css")
    assert static.status_code == 200
    static.close()
    assert client.get("/healthz").status_code in (200, 503)
    fresh = app.test_client()
    assert fresh.get("/me").status_code == 302  # not logged in: a redirect, not a page
    assert fresh.get("/no-such-page").status_code == 404
    assert fresh.post("/login", data={}).status_code in (200, 400)  # a POST is not a view
    assert fresh.get("/offline").status_code == 200  # fetched by the service worker to cache it
    assert views(app) == []


@pytest.mark.parametrize("settings_overrides", [{"analytics_record_page_views": False}])
def test_nothing_is_recorded_when_the_setting_is_off(app, client, make_registrant, settings_overrides):
    me = make_registrant(email="hanako@example.com")
    assert client.get("/guide").status_code == 200
    login(client, me.email, STRONG_PASSWORD, realm="portal")
    assert client.get("/me").status_code == 200
    assert views(app) == []


def test_a_database_failure_while_recording_does_not_break_the_page(app, client, caplog):
    def refuse(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO PAGE_VIEW"):
            raise sa.exc.OperationalError(statement, parameters, Exception("disk full (test)"))

    engine = recording_engine(app)
    sa.event.listen(engine, "before_cursor_execute", refuse)
    try:
        with caplog.at_level("WARNING", logger="tsunagu.analytics"):
            response = client.get("/guide")
    finally:
        sa.event.remove(engine, "before_cursor_execute", refuse)
    assert response.status_code == 200
    assert "つなぐ" in response.get_data(as_text=True)
    assert "page view not recorded" in caplog.text
    assert views(app) == []
    assert client.get("/guide").status_code == 200
    assert views(app) == [("portal.guide", None, None)]  # and it records again once the database is back


# --- rollup --------------------------------------------------------------------------------------------------------

def daily(app: Any) -> dict[tuple[date, str, int], tuple[int, int]]:
    with app.app_context():
        return {(row.day, row.endpoint, row.subject_id): (row.views, row.visitors)
                for row in db.session.scalars(sa.select(PageViewDaily))}


def active_days(app: Any) -> set[tuple[date, int]]:
    with app.app_context():
        return {(row.day, row.registrant_id) for row in db.session.scalars(sa.select(ActiveDay))}


def test_rollup_counts_each_view_on_its_tokyo_day_and_is_idempotent(app, make_registrant):
    a, b = make_registrant(), make_registrant()
    day = tokyo_today() - timedelta(days=3)
    nxt = day + timedelta(days=1)
    add_views(app, [
        (jst(day, 0, 0), "portal.index", None, None),  # 15:00 UTC the day before: still this Tokyo day
        (jst(day, 9), "auth.login", None, a.id),
        (jst(day, 9, 1), "portal_articles.show", 7, a.id),
        (jst(day, 10), "portal_articles.show", 7, b.id),
        (jst(day, 10, 5), "portal_articles.show", 7, b.id),
        (jst(day, 23, 30), "portal.me", None, b.id),  # 23:30 JST = 14:30 UTC: counts for `day`
        (jst(nxt, 0, 0), "portal.me", None, a.id),  # midnight: the next day
    ])
    with app.app_context():
        first = rollup(db.session)
    assert day in first.done and nxt in first.done
    summary = daily(app)
    assert summary[(day, "portal_articles.show", 7)] == (3, 2)
    assert summary[(day, "portal.me", 0)] == (1, 1)
    assert summary[(day, "auth.login", 0)] == (1, 1)
    assert summary[(day, "portal.index", 0)] == (1, 0)
    assert summary[(day, "*", 0)] == (5, 2)  # screens only: the login event is not a page view
    assert summary[(nxt, "*", 0)] == (1, 1)
    assert active_days(app) == {(day, a.id), (day, b.id), (nxt, a.id)}
    with app.app_context():
        second = rollup(db.session)
    assert second.done == []
    assert daily(app) == summary
    with app.app_context():  # every closed day since the first view gets its '*' row, even an empty one
        marked = set(db.session.scalars(sa.select(PageViewDaily.day).where(PageViewDaily.endpoint == "*")))
    assert marked == {day + timedelta(days=n) for n in range(3)}


def test_today_is_not_summarised_and_a_limit_leaves_the_rest_for_later(app):
    today = tokyo_today()
    add_views(app, [(jst(today - timedelta(days=n), 12), "portal.index", None, None) for n in range(0, 6)])
    with app.app_context():
        result = rollup(db.session, limit=2)
        assert len(result.done) == 2 and result.remaining == 3
        assert result.done == [today - timedelta(days=1), today - timedelta(days=2)]  # newest first
        rest = rollup(db.session)
        assert len(rest.done) == 3
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PageViewDaily)
                                 .where(PageViewDaily.day == today)) == 0


def test_cli_rollup_prints_progress_and_a_second_run_does_nothing(app):
    add_views(app, [(jst(tokyo_today() - timedelta(days=2), 12), "portal.index", None, None)])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["analytics", "rollup"])
    assert result.exit_code == 0, result.output
    assert "2 day(s) summarised" in result.stdout
    assert "1/2" in result.stderr and "2/2" in result.stderr
    again = runner.invoke(args=["analytics", "rollup"])
    assert again.exit_code == 0 and "0 day(s) summarised" in again.stdout


# --- dashboard -----------------------------------------------------------------------------------------------------

def seed_activity(app: Any, make_registrant: Any) -> dict[str, Any]:
    """Two weeks of small, countable activity with every kind of figure the dashboard shows."""
    today = tokyo_today()
    people = [make_registrant(registered_at=jst(today - timedelta(days=5), 10)) for _ in range(4)]
    a, b, c, d = (p.id for p in people)
    yesterday = today - timedelta(days=1)
    with app.app_context():
        article = Article(title="復職支援セミナーのご案内", body_markdown="本文", body_html="<p>本文</p>",
                          publish_at=utcnow() - timedelta(days=10))
        message = Message(subject="年度更新のお願い", body="本文", audience="all_active", recipient_count=4,
                          sent_at=jst(yesterday, 9))
        survey = Survey(title="研修ニーズ調査", audience="all_active", published_at=utcnow() - timedelta(days=3))
        rating = Survey(kind="satisfaction", title="満足度", audience="all_active", published_at=utcnow())
        event = Event(title="交流会 秋", description="説明", starts_at=jst(yesterday, 14), capacity=20,
                      published_at=utcnow() - timedelta(days=20))
        db.session.add_all([article, message, survey, rating, event])
        db.session.flush()
        db.session.add_all([MessageRecipient(message_id=message.id, registrant_id=r, emailed=True,
                                             read_at=utcnow() if r in (a, b) else None) for r in (a, b, c, d)])
        db.session.add(StatusChange(registrant_id=c, from_status="active", to_status="active", reason="renewed",
                                    changed_at=jst(yesterday, 11)))
        db.session.add(StatusChange(registrant_id=d, from_status="active", to_status="expired",
                                    reason="fiscal_year_end", changed_at=jst(yesterday, 0, 5)))
        question = SurveyQuestion(survey_id=rating.id, kind="rating", prompt="満足度", position=1)
        db.session.add(question)
        db.session.flush()
        for who, stars in ((a, 5), (b, 4), (c, 3)):
            response = SurveyResponse(survey_id=rating.id, registrant_id=who, submitted_at=jst(yesterday, 12),
                                      updated_at=jst(yesterday, 12))
            db.session.add(response)
            db.session.flush()
            db.session.add(SurveyAnswer(response_id=response.id, question_id=question.id, rating=stars))
        db.session.add(SurveyResponse(survey_id=survey.id, registrant_id=a, submitted_at=jst(yesterday, 13),
                                      updated_at=jst(yesterday, 13)))
        db.session.add_all([EventRsvp(event_id=event.id, registrant_id=r, status="going", attended=r != c)
                            for r in (a, b, c)])
        db.session.add_all([
            OutboxMessage(category="campaign", to_address=f"m{n}@example.com", subject="s", body_text="b",
                          status="sent", sent_at=jst(yesterday, 9, n)) for n in range(3)])
        db.session.add(OutboxMessage(category="campaign", to_address="gone@example.com", subject="s", body_text="b",
                                     status="sent", sent_at=jst(yesterday, 9), bounced_at=jst(yesterday, 10)))
        db.session.commit()
        article_id = article.id
    add_views(app, [
        (jst(yesterday, 9), "auth.login", None, a),
        (jst(yesterday, 9, 1), "portal_articles.show", article_id, a),
        (jst(yesterday, 9, 2), "portal.me", None, a),
        (jst(yesterday, 20), "auth.login", None, b),
        (jst(yesterday, 20, 1), "portal_articles.show", article_id, b),
        (utcnow() - timedelta(minutes=1), "portal_articles.show", article_id, c),  # today, counted live
    ])
    return {"ids": (a, b, c, d), "article_id": article_id}


def figure(html: str, figure_id: str) -> str:
    match = re.search(rf'id="{figure_id}">([^<]*)<', html)
    assert match, figure_id
    return match.group(1)


def test_dashboard_shows_the_figures(app, client, make_staff, make_registrant):
    seed_activity(app, make_registrant)
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    response = client.get("/admin/analytics/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert figure(html, "figure-active-registrants") == "4"
    assert figure(html, "figure-views") == "4"  # 3 yesterday (summarised on the way) + 1 today (live)
    assert figure(html, "figure-logins") == "2"
    assert figure(html, "figure-dau") == "1"
    assert figure(html, "figure-wau") == "3"
    assert figure(html, "figure-mau") == "3"
    assert "期間中の新規登録 4人、年度更新 1人、期限切れ 1人" in html
    assert re.search(r"復職支援セミナーのご案内</td><td class=\"num\">3</td>", html)
    assert re.search(r"年度更新のお願い</td><td class=\"num\">4</td><td class=\"num\">2</td><td class=\"num\">50.0%", html)
    assert "送信 4通、不達 1通、送信失敗 0通" in html
    assert "メールの開封は計測していません(追跡画像を使わないため)" in html
    assert re.search(r"研修ニーズ調査</td><td class=\"num\">4</td><td class=\"num\">1</td><td class=\"num\">25.0%", html)
    assert "平均 4.00(5段階、3件の評価)" in html
    assert re.search(r"交流会 秋</td><td class=\"num\">20</td><td class=\"num\">3</td><td class=\"num\">0</td>"
                     r"<td class=\"num\">2</td><td class=\"num\">66.7%", html)
    assert html.count("<svg class=\"series-chart\"") == 4
    assert "<script" not in html.split("<main", 1)[1]  # charts are drawn on the server
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "analytics.view")).one()
        assert event.actor_id == staff.id


def test_dashboard_shows_bookings_for_coming_events_and_inquiries(app, client, make_staff, make_registrant):
    today = tokyo_today()
    a, b, c = (make_registrant().id for _ in range(3))
    with app.app_context():
        soon = Event(title="交流会 冬", description="", capacity=2, published_at=utcnow(),
                     starts_at=jst(today + timedelta(days=10), 14))
        db.session.add(soon)
        db.session.flush()
        db.session.add_all([EventRsvp(event_id=soon.id, registrant_id=a, status="going"),
                            EventRsvp(event_id=soon.id, registrant_id=b, status="going"),
                            EventRsvp(event_id=soon.id, registrant_id=c, status="waitlist"),
                            Inquiry(registrant_id=a, status="open", received_at=jst(today, 9)),
                            Inquiry(registrant_id=b, status="answered", received_at=jst(today - timedelta(days=3), 9)),
                            Inquiry(registrant_id=c, status="open", received_at=jst(today - timedelta(days=200), 9))])
        db.session.commit()
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    html = client.get("/admin/analytics/").get_data(as_text=True)
    assert re.search(r"交流会 冬</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">1</td>", html)
    assert re.search(r"期間中に受け付けた件数</dt><dd>2</dd>", html)
    assert re.search(r"そのうち回答・完了した件数</dt><dd>1</dd>", html)
    assert re.search(r"未対応\(現在\)</dt><dd>2 ", html)


@pytest.mark.parametrize("period", ["weeks", "months"])
def test_dashboard_periods_group_the_same_views(app, client, make_staff, make_registrant, period):
    seed_activity(app, make_registrant)
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    html = client.get(f"/admin/analytics/?period={period}").get_data(as_text=True)
    assert figure(html, "figure-views") == "4"
    assert 'selected value="' + period + '"' in html or f'value="{period}" selected' in html


def test_dashboard_refuses_a_bad_period_with_a_message(app, client, make_staff):
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    response = client.get("/admin/analytics/?period=<script>")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "期間の指定が正しくないため、直近30日で表示しています。" in html
    assert "<script>" not in html


def test_dashboard_summarises_at_most_62_missing_days_and_says_how_many_are_left(app, client, make_staff):
    today = tokyo_today()
    add_views(app, [(jst(today - timedelta(days=n), 12), "portal.index", None, None) for n in range(1, 81)])
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    client.get("/admin/analytics/")
    with app.app_context():
        done = db.session.scalar(sa.select(sa.func.count()).select_from(PageViewDaily)
                                 .where(PageViewDaily.endpoint == "*"))
    assert done == 62
    html = client.get("/admin/analytics/?period=months").get_data(as_text=True)
    assert "まだ集計していない日" in html
    assert count_rows(app, PageView) == 80
