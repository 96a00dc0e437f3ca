"""Surveys in a real browser: a registrant on a 375 px phone answers a survey and rates the system from the
footer; staff see the results. Every page passes axe and is screenshotted."""

from __future__ import annotations

from typing import Any

import pytest

from app.extensions import db
from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import PHONE, WIDTHS
from tests.e2e.support import check_page, horizontal_overflow, registrant_login, staff_login
from tests.integration.test_surveys import _make_survey
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

pytestmark = pytest.mark.browser


def _check(page: Any, name: str, width: int) -> None:
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_registrant_answers_a_survey_and_rates_on_a_phone(app, served, open_page, make_registrant):
    ids = _make_survey(app, title="OB・OG交流会についてのアンケート")
    person = make_registrant(email="phone-user@example.com")
    page = open_page(PHONE)
    registrant_login(page, served, person.email, STRONG_PASSWORD)

    page.goto(f"{served}/surveys/")
    assert "未回答" in page.locator("main").inner_text()
    _check(page, "survey-portal-list", PHONE)
    with page.expect_navigation():
        page.get_by_role("link", name="OB・OG交流会についてのアンケート").click()
    _check(page, "survey-portal-answer", PHONE)

    with page.expect_navigation():  # the required question left out
        page.get_by_role("button", name="回答を送信する").click()
    assert page.locator(".error-summary").is_visible()
    assert "この設問は回答必須です。" in page.locator("main").inner_text()
    _check(page, "survey-portal-answer-error", PHONE)

    page.get_by_role("group", name="1. 参加したいですか").get_by_label("はい").check()
    page.get_by_label("月曜").check()
    page.get_by_label("土曜").check()
    page.get_by_role("group", name="3. 前回の満足度").get_by_label("4").check()
    page.get_by_label("4. ご意見").fill("オンラインでも参加したいです。")
    with page.expect_navigation():
        page.get_by_role("button", name="回答を送信する").click()
    assert "回答を受け付けました" in page.locator("main").inner_text()
    assert page.get_by_role("group", name="1. 参加したいですか").get_by_label("はい").is_checked()
    _check(page, "survey-portal-answered", PHONE)

    footer = page.locator("footer .satisfaction-form")
    footer.scroll_into_view_if_needed()
    footer.get_by_label("5").check()
    with page.expect_navigation():
        footer.get_by_role("button", name="評価を送る").click()
    assert page.url.endswith(f"/surveys/{ids['id']}")  # back on the page the rating was sent from
    assert "評価を受け付けました" in page.locator("main").inner_text()
    assert "あなたの評価: 5" in page.locator("footer").inner_text()
    _check(page, "survey-portal-rated", PHONE)
    assert open_page.errors == []

    with app.app_context():
        from app.surveys import services
        from app.surveys.models import Survey

        survey = db.session.get(Survey, ids["id"])
        result = services.results(db.session, survey)
        assert result.responses == 1 and result.questions[0].counts == [("はい", 1), ("いいえ", 0)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_staff_survey_pages(app, served, open_page, make_staff, make_registrant, width):
    ids = _make_survey(app, title="研修アンケート")
    people = [make_registrant(email=f"answer{n}@example.com") for n in range(3)]
    with app.app_context():
        from app.core.timeutil import utcnow
        from app.surveys.models import SurveyAnswer, SurveyResponse

        for n, person in enumerate(people):
            response = SurveyResponse(survey_id=ids["id"], registrant_id=person.id, submitted_at=utcnow())
            db.session.add(response)
            db.session.flush()
            db.session.add_all([SurveyAnswer(response_id=response.id, question_id=ids["single"], option_id=ids["yes"]),
                                SurveyAnswer(response_id=response.id, question_id=ids["rating"], rating=3 + n % 3),
                                SurveyAnswer(response_id=response.id, question_id=ids["text"], text=f"意見{n}")])
        db.session.commit()
    editor = make_staff("editor")
    page = open_page(width)
    staff_login(page, served, editor.email, STRONG_PASSWORD)
    for name, path in [("survey-admin-list", "/admin/surveys"), ("survey-admin-detail", f"/admin/surveys/{ids['id']}"),
                       ("survey-admin-results", f"/admin/surveys/{ids['id']}/results"),
                       ("survey-admin-new", "/admin/surveys/new"),
                       ("survey-admin-question", f"/admin/surveys/{ids['id']}/questions/{ids['single']}/edit")]:
        response = page.goto(served + path)
        assert response is not None and response.status == 200, path
        _check(page, name, width)
    page.goto(f"{served}/admin/surveys/{ids['id']}/results")
    assert "意見2" in page.locator("main").inner_text()
    assert open_page.errors == []
