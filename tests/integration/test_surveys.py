"""Surveys (N4) and the satisfaction rating (S5): builder, audience, one answer per registrant, results only in
aggregate unless named, exports, and the footer rating."""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db
from app.outputs.models import OutputRecord
from app.registrants.models import Registrant
from app.searches.models import SavedSearch
from app.surveys import demo, services
from app.surveys.models import Survey, SurveyAnswer, SurveyOption, SurveyQuestion, SurveyResponse
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SECRET_TEXT = "校長との関係で悩んでいます"


def _staff(app: Flask, make_staff: Any, role: str) -> Any:
    user = make_staff(role)
    client = app.test_client()
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302
    return client


def _registrant(app: Flask, make_registrant: Any, **fields: Any) -> tuple[Any, Any]:
    person = make_registrant(**fields)
    client = app.test_client()
    assert login(client, person.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return person, client


def _make_survey(app: Flask, *, editable: bool = True, named: bool = False, published: bool = True,
                 opens: datetime | None = None, closes: datetime | None = None, audience: str = "all_active",
                 saved_search_id: int | None = None, title: str = "交流会アンケート") -> dict[str, Any]:
    """A survey with one question of each kind; returns its ids."""
    with app.app_context():
        survey = Survey(title=title, audience=audience, saved_search_id=saved_search_id, answers_editable=editable,
                        is_named=named, opens_at=opens, closes_at=closes,
                        published_at=utcnow() - timedelta(days=1) if published else None)
        survey.questions = [
            SurveyQuestion(kind="single", prompt="参加したいですか", is_required=True, position=1,
                           options=[SurveyOption(label="はい", position=1), SurveyOption(label="いいえ", position=2)]),
            SurveyQuestion(kind="multiple", prompt="都合のよい曜日", position=2,
                           options=[SurveyOption(label=label, position=n) for n, label in
                                    enumerate(["月曜", "水曜", "土曜"], start=1)]),
            SurveyQuestion(kind="rating", prompt="前回の満足度", position=3),
            SurveyQuestion(kind="text", prompt="ご意見", position=4)]
        db.session.add(survey)
        db.session.commit()
        single, multiple, rating, text = survey.questions
        return {"id": survey.id, "single": single.id, "multiple": multiple.id, "rating": rating.id, "text": text.id,
                "yes": single.options[0].id, "no": single.options[1].id,
                "days": [o.id for o in multiple.options]}


def _answer(client: Any, ids: dict[str, Any], **overrides: Any) -> Any:
    path = f"/surveys/{ids['id']}"
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/me"), f"q{ids['single']}": ids["yes"],
                            f"q{ids['multiple']}": [ids["days"][0], ids["days"][2]], f"q{ids['rating']}": "4",
                            f"q{ids['text']}": SECRET_TEXT}
    for key, value in overrides.items():
        name = f"q{ids[key]}"
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(path, data=data)


def _answers(app: Flask, survey_id: int) -> list[tuple[int, int | None, int | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(SurveyAnswer.question_id, SurveyAnswer.option_id, SurveyAnswer.rating, SurveyAnswer.text)
            .join(SurveyResponse).where(SurveyResponse.survey_id == survey_id))
        return sorted((tuple(row) for row in rows), key=lambda row: (row[0], row[1] or 0))


def _responses(app: Flask, survey_id: int) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)
                                     .where(SurveyResponse.survey_id == survey_id)) or 0)


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


# --- builder --------------------------------------------------------------------------------------

def test_editor_builds_orders_and_publishes_a_survey(app, make_staff):
    client = _staff(app, make_staff, "editor")
    token = csrf_token(client, "/admin/surveys/new")
    response = client.post("/admin/surveys/new", data={
        "csrf_token": token, "title": "研修アンケート", "description": "ご協力ください", "audience": "all_active",
        "saved_search": "0", "opens_at": "2026-06-01T09:00", "closes_at": "2026-06-30T17:00",
        "answers_editable": "y"})
    assert response.status_code == 302
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        assert (survey.opens_at, survey.closes_at) == (datetime(2026, 6, 1, 0, 0), datetime(2026, 6, 30, 8, 0))
        assert survey.answers_editable and not survey.is_named and survey.published_at is None
        survey_id = survey.id
    base = f"/admin/surveys/{survey_id}"
    page = _text(client.post(f"{base}/publish", data={"csrf_token": token}, follow_redirects=True))
    assert "設問がないため公開できません" in page

    def add(kind: str, prompt: str, options: str = "", required: bool = False) -> Any:
        data = {"csrf_token": token, "kind": kind, "prompt": prompt, "help_text": "", "options": options}
        if required:
            data["is_required"] = "y"
        return client.post(f"{base}/questions/new", data=data)

    assert "選択肢を2つ以上" in _text(add("single", "参加しますか", "はい"))
    assert add("single", "参加しますか", "はい\r\n\r\nいいえ\r\n", required=True).status_code == 302
    assert add("multiple", "曜日", "月\n水\n金").status_code == 302
    assert add("rating", "満足度", "無視される").status_code == 302
    assert add("text", "ご意見").status_code == 302
    with app.app_context():
        questions = db.session.scalars(sa.select(SurveyQuestion).order_by(SurveyQuestion.position)).all()
        assert [(q.kind, q.is_required, [o.label for o in q.options]) for q in questions] == [
            ("single", True, ["はい", "いいえ"]), ("multiple", False, ["月", "水", "金"]), ("rating", False, []),
            ("text", False, [])]
        ids = [q.id for q in questions]
    assert client.post(f"{base}/questions/{ids[3]}/move", data={"csrf_token": token, "direction": "up"}
                       ).status_code == 302
    assert client.post(f"{base}/questions/{ids[0]}/delete", data={"csrf_token": token}).status_code == 302
    edit = client.post(f"{base}/questions/{ids[1]}/edit", data={
        "csrf_token": token, "kind": "multiple", "prompt": "参加できる曜日", "help_text": "複数可",
        "options": "月曜\n水曜\n金曜\n土曜"})
    assert edit.status_code == 302
    with app.app_context():
        questions = db.session.scalars(sa.select(SurveyQuestion).order_by(SurveyQuestion.position)).all()
        assert [q.prompt for q in questions] == ["参加できる曜日", "ご意見", "満足度"]
        assert [q.position for q in questions] == [1, 2, 3]
        assert [o.label for o in questions[0].options] == ["月曜", "水曜", "金曜", "土曜"]
    page = _text(client.post(f"{base}/publish", data={"csrf_token": token}, follow_redirects=True))
    assert "アンケートを公開しました" in page
    listing = _text(client.get("/admin/surveys"))
    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        assert survey.published_at is not None
        expected = str(services.STATE_LABELS[services.state_of(survey)])
        actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("survey.%"))))
        assert {"survey.create", "survey.question_add", "survey.question_move", "survey.question_delete",
                "survey.question_update", "survey.publish"} <= actions
    assert "研修アンケート" in listing and expected in listing and "下書き" not in listing


def test_settings_form_refuses_a_close_before_the_open(app, make_staff):
    client = _staff(app, make_staff, "editor")
    token = csrf_token(client, "/admin/surveys/new")
    page = _text(client.post("/admin/surveys/new", data={
        "csrf_token": token, "title": "逆転", "audience": "all_active", "opens_at": "2026-06-30T09:00",
        "closes_at": "2026-06-01T09:00"}))
    assert "締切日時は受付開始日時より後にしてください" in page
    page = _text(client.post("/admin/surveys/new", data={
        "csrf_token": token, "title": "対象なし", "audience": "saved_search", "saved_search": "0"}))
    assert "対象にする保存した検索を選んでください" in page
    page = _text(client.post("/admin/surveys/new", data={
        "csrf_token": token, "title": "遠い年", "audience": "all_active", "opens_at": "0001-01-01T00:00"}))
    assert "2000年から2999年まで" in page
    assert count_rows(app, Survey) == 0


def test_questions_cannot_be_restructured_once_answered(app, make_staff, make_registrant):
    ids = _make_survey(app)
    _person, registrant = _registrant(app, make_registrant)
    assert _answer(registrant, ids).status_code == 302
    client = _staff(app, make_staff, "editor")
    base = f"/admin/surveys/{ids['id']}"
    token = csrf_token(client, base)
    detail = _text(client.get(base))
    assert "回答が寄せられているため" in detail and f"{base}/questions/new" not in detail
    refused = "回答が寄せられているため、設問の追加・削除・並べ替え"
    assert refused in _text(client.get(f"{base}/questions/new", follow_redirects=True))
    assert refused in _text(client.post(f"{base}/questions/{ids['text']}/delete", data={"csrf_token": token},
                                        follow_redirects=True))
    assert refused in _text(client.post(f"{base}/questions/{ids['text']}/move",
                                        data={"csrf_token": token, "direction": "up"}, follow_redirects=True))
    assert refused in _text(client.post(f"{base}/questions/{ids['single']}/edit", data={
        "csrf_token": token, "kind": "single", "prompt": "参加したいですか", "options": "はい\nいいえ\nわからない"}))
    assert refused in _text(client.post(f"{base}/questions/{ids['rating']}/edit", data={
        "csrf_token": token, "kind": "text", "prompt": "前回の満足度"}))
    wording = client.post(f"{base}/questions/{ids['single']}/edit", data={
        "csrf_token": token, "kind": "single", "prompt": "交流会に参加したいですか", "options": "はい、ぜひ\nいいえ"})
    assert wording.status_code == 302
    page = _text(client.post(f"{base}/edit", data={"csrf_token": token, "title": "交流会アンケート",
                                                   "audience": "all_active", "answers_editable": "y",
                                                   "is_named": "y"}))
    assert "記名式・無記名式は変更できません" in page
    with app.app_context():
        survey = db.session.get(Survey, ids["id"])
        assert not survey.is_named and len(survey.questions) == 4
        single = survey.questions[0]
        assert single.prompt == "交流会に参加したいですか"
        assert [(o.id, o.label) for o in single.options] == [(ids["yes"], "はい、ぜひ"), (ids["no"], "いいえ")]


# --- answering ------------------------------------------------------------------------------------

def test_a_registrant_answers_and_a_second_answer_is_refused(app, make_registrant):
    ids = _make_survey(app, editable=False)
    _person, client = _registrant(app, make_registrant)
    listing = _text(client.get("/surveys/"))
    assert "交流会アンケート" in listing and "未回答" in listing
    form = _text(client.get(f"/surveys/{ids['id']}"))
    assert "参加したいですか" in form and "(必須)" in form
    response = _answer(client, ids)
    assert response.status_code == 302
    assert "回答を受け付けました" in _text(client.get(response.headers["Location"]))
    first = _answers(app, ids["id"])
    assert len(first) == 5  # one single, two multiple, one rating, one text
    again = _answer(client, ids, single=ids["no"], rating="1")
    assert again.status_code == 302
    page = _text(client.get(again.headers["Location"]))
    assert "回答済みです" in page and "修正はできません" in page
    assert "あなたの回答" in page and SECRET_TEXT in page and "月曜、土曜" in page
    assert _responses(app, ids["id"]) == 1 and _answers(app, ids["id"]) == first
    assert "回答済み" in _text(client.get("/surveys/"))


def test_an_editable_answer_changes_until_the_close(app, make_registrant):
    ids = _make_survey(app, editable=True)
    person, client = _registrant(app, make_registrant)
    assert _answer(client, ids).status_code == 302
    page = _text(client.get(f"/surveys/{ids['id']}"))
    assert "締切まで回答を修正できます" in page
    assert re.search(rf'value="{ids["yes"]}"[^>]*checked', page) or re.search(rf'checked[^>]*value="{ids["yes"]}"', page)
    response = _answer(client, ids, single=ids["no"], multiple=None, rating="2", text="")
    assert response.status_code == 302
    assert "回答を修正しました" in _text(client.get(response.headers["Location"]))
    assert _answers(app, ids["id"]) == [(ids["single"], ids["no"], None, None), (ids["rating"], None, 2, None)]
    with app.app_context():
        survey = db.session.get(Survey, ids["id"])
        survey.closes_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    closed = _answer(client, ids, single=ids["yes"])
    assert closed.status_code == 302
    page = _text(client.get(closed.headers["Location"]))
    assert "締め切りました" in page and "<form method=\"post\" novalidate" not in page
    assert _answers(app, ids["id"]) == [(ids["single"], ids["no"], None, None), (ids["rating"], None, 2, None)]
    assert _responses(app, ids["id"]) == 1
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "survey.answer")).all()
        assert [json.loads(e.detail) for e in events] == [{"edited": False}, {"edited": True}]
        assert all(e.target == f"survey:{ids['id']}" and e.actor_id == person.id for e in events)
        assert all(SECRET_TEXT not in e.detail for e in events)


def test_a_missing_required_answer_gets_a_field_message(app, make_registrant):
    ids = _make_survey(app)
    _person, client = _registrant(app, make_registrant)
    response = _answer(client, ids, single=None)
    assert response.status_code == 200
    page = _text(response)
    assert "この設問は回答必須です。" in page and "入力内容を確認してください" in page
    assert SECRET_TEXT in page  # what was typed is kept
    assert _responses(app, ids["id"]) == 0


@pytest.mark.parametrize("tamper", [
    {"rating": "9"}, {"rating": "0"}, {"rating": "abc"}, {"single": "999999"}, {"single": "-3"},
    {"multiple": ["1x", "2"]}, {"text": "あ" * 2001}, {"text": "制御\x07文字"}])
def test_tampered_answers_get_a_message_not_a_crash(app, make_registrant, tamper):
    ids = _make_survey(app)
    other = _make_survey(app, title="別のアンケート")
    if tamper.get("single") == "999999":
        tamper = {"single": str(other["yes"])}  # an option of another survey's question
    _person, client = _registrant(app, make_registrant)
    response = _answer(client, ids, **tamper)
    assert response.status_code == 200
    page = _text(response)
    assert "入力内容を確認してください" in page
    assert any(message in page for message in ("選択肢の中から選んでください", "2000文字以内", "制御文字"))
    assert _responses(app, ids["id"]) == 0


def test_a_text_answer_of_2000_characters_with_line_breaks_is_kept(app, make_registrant):
    ids = _make_survey(app)
    _person, client = _registrant(app, make_registrant)
    text = ("あ" * 99 + "\r\n") * 20  # 2000 characters once the browser's CRLF counts as one break
    assert _answer(client, ids, text=text.rstrip()).status_code == 302
    with app.app_context():
        stored = db.session.scalar(sa.select(SurveyAnswer.text).where(SurveyAnswer.question_id == ids["text"]))
        assert stored == text.replace("\r\n", "\n").strip()


def test_a_parallel_second_response_is_refused_by_the_constraint_not_a_crash(app, make_registrant):
    """Two submits of one registrant racing: the unique constraint refuses the second insert, the session lives."""
    ids = _make_survey(app, editable=False)
    person = make_registrant()
    with app.app_context():
        now = utcnow()
        assert services.new_response(db.session, ids["id"], person.id, now) is not None
        db.session.commit()
        assert services.new_response(db.session, ids["id"], person.id, now) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 1
        survey = db.session.get(Survey, ids["id"])
        with pytest.raises(services.SurveyError, match="回答済み"):
            services.save_response(db.session, survey, person, {ids["single"]: ids["yes"]}, None)
        db.session.rollback()
    assert _responses(app, ids["id"]) == 1


def test_drafts_scheduled_and_other_audiences_stay_hidden(app, make_registrant):
    draft = _make_survey(app, published=False, title="下書きのアンケート")
    later = _make_survey(app, opens=utcnow() + timedelta(days=2), title="来週からのアンケート")
    closed = _make_survey(app, closes=utcnow() - timedelta(days=1), title="終わったアンケート")
    current = _make_survey(app, title="受付中のアンケート")
    person, client = _registrant(app, make_registrant)
    listing = _text(client.get("/surveys/"))
    assert "受付中のアンケート" in listing
    assert not any(t in listing for t in ("下書きのアンケート", "来週からのアンケート", "終わったアンケート"))
    assert client.get(f"/surveys/{draft['id']}").status_code == 404
    assert client.get(f"/surveys/{later['id']}").status_code == 404
    assert _answer(client, later).status_code == 404
    assert "締め切りました" in _text(client.get(f"/surveys/{closed['id']}"))
    with app.app_context():
        me = db.session.get(Registrant, person.id)
        assert [s.id for s in services.open_for(db.session, me)] == [current["id"]]
    assert _answer(client, current).status_code == 302
    with app.app_context():
        assert services.open_for(db.session, db.session.get(Registrant, person.id)) == []


def test_saved_search_audience(app, make_staff, make_registrant):
    with app.app_context():
        north = Code(kind="region", code="north", label="北部")
        db.session.add(north)
        db.session.commit()
        north_id = north.id
    owner = make_staff("editor")
    with app.app_context():
        shared = SavedSearch(name="北部の人", owner_id=owner.id, is_shared=True,
                             criteria=json.dumps({"regions": [north_id]}), columns="name", sort="")
        private = SavedSearch(name="非公開の検索", owner_id=owner.id, is_shared=False, criteria="{}", columns="name",
                              sort="")
        db.session.add_all([shared, private])
        db.session.commit()
        shared_id, private_id = shared.id, private.id
    inside, inside_client = _registrant(app, make_registrant, region_id=north_id)
    _outside, outside_client = _registrant(app, make_registrant)
    make_registrant(region_id=north_id, status="withdrawn")
    client = _staff(app, make_staff, "editor")
    token = csrf_token(client, "/admin/surveys/new")
    page = _text(client.get("/admin/surveys/new"))
    assert "北部の人" in page and "非公開の検索" not in page
    refused = _text(client.post("/admin/surveys/new", data={
        "csrf_token": token, "title": "他人の検索", "audience": "saved_search", "saved_search": str(private_id)}))
    assert "選択肢が正しくありません" in refused  # not offered, so not a valid choice
    assert count_rows(app, Survey) == 0
    ids = _make_survey(app, audience="saved_search", saved_search_id=shared_id, title="北部限定アンケート")
    assert "北部限定アンケート" in _text(inside_client.get("/surveys/"))
    assert "北部限定アンケート" not in _text(outside_client.get("/surveys/"))
    assert outside_client.get(f"/surveys/{ids['id']}").status_code == 404
    assert _answer(outside_client, ids).status_code == 404
    assert _answer(inside_client, ids).status_code == 302
    with app.app_context():
        survey = db.session.get(Survey, ids["id"])
        assert services.target_count(db.session, survey) == 1  # the withdrawn match is not surveyed
        assert services.in_audience(db.session, survey, inside.id)
    results = _text(client.get(f"/admin/surveys/{ids['id']}/results"))
    assert "100.0%" in results


# --- results and exports --------------------------------------------------------------------------

def _three_answers(app: Flask, make_registrant: Any, ids: dict[str, Any]) -> list[Any]:
    people = []
    for n, (single, days, rating, text) in enumerate([
            ("yes", [0, 1], "5", SECRET_TEXT), ("yes", [1], "4", "=1+1 は式ではありません"), ("no", [], "2", "")]):
        person, client = _registrant(app, make_registrant, family_name=f"回答者{n}", given_name="太郎")
        response = _answer(client, ids, single=ids[single], multiple=[ids["days"][d] for d in days] or None,
                           rating=rating, text=text)
        assert response.status_code == 302
        people.append(person)
    return people


def test_unnamed_results_are_aggregate_only(app, make_staff, make_registrant):
    ids = _make_survey(app, named=False)
    _three_answers(app, make_registrant, ids)
    make_registrant(family_name="未回答", given_name="花子")  # in the audience: 3 of 4 answered
    viewer = _staff(app, make_staff, "viewer")
    page = _text(viewer.get(f"/admin/surveys/{ids['id']}/results"))
    assert "75.0%" in page and "回答者{0}" not in page
    assert "回答者0" not in page and "回答者1" not in page and "太郎" not in page
    assert SECRET_TEXT in page and "=1+1 は式ではありません" in page  # free text without names
    assert "平均" in page and "3.67" in page
    assert 'class="bar-chart"' in page
    table = re.search(r"Q1 の選択肢ごとの人数.*?</table>", page, re.S)
    assert table and re.search(r"はい</th><td class=\"num\">2<", table.group(0))
    assert "回答者(記名式)" not in page
    assert viewer.post(f"/admin/surveys/{ids['id']}/export/answers",
                       data={"csrf_token": csrf_token(viewer, "/admin/surveys")}).status_code == 403
    with app.app_context():
        survey = db.session.get(Survey, ids["id"])
        with pytest.raises(services.SurveyError):
            services.respondents(db.session, survey)


def test_named_results_show_who_answered(app, make_staff, make_registrant):
    ids = _make_survey(app, named=True)
    _three_answers(app, make_registrant, ids)
    viewer = _staff(app, make_staff, "viewer")
    page = _text(viewer.get(f"/admin/surveys/{ids['id']}/results"))
    assert "回答者(記名式)" in page
    assert all(f"回答者{n} 太郎" in page for n in range(3))
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "survey.results_view")).one()
        assert json.loads(event.detail) == {"named": True, "responses": 3}


def _download(client: Any, url: str) -> Any:
    response = client.post(url, data={"csrf_token": csrf_token(client, "/admin/surveys")})
    assert response.status_code == 200, _text(response)[:500]
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.data
    response.close()  # closes the spooled temp file, as a browser reading to the end would
    return load_workbook(io.BytesIO(body))


def test_answer_and_summary_exports(app, make_staff, make_registrant):
    ids = _make_survey(app, named=False)
    _three_answers(app, make_registrant, ids)
    editor = _staff(app, make_staff, "editor")
    workbook = _download(editor, f"/admin/surveys/{ids['id']}/export/answers")
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0] == ("番号", "Q1. 参加したいですか", "Q2. 都合のよい曜日", "Q3. 前回の満足度", "Q4. ご意見")
    assert [row[0] for row in rows[1:]] == [1, 2, 3]
    assert sorted((row[1:] for row in rows[1:]), key=lambda r: r[2]) == [
        ("いいえ", None, 2, None), ("はい", "水曜", 4, "=1+1 は式ではありません"), ("はい", "月曜、水曜", 5, SECRET_TEXT)]
    assert not any("回答者" in str(cell) for row in rows for cell in row)
    summary = _download(editor, f"/admin/surveys/{ids['id']}/export/summary")
    assert summary.sheetnames == ["概要", "設問1", "設問2", "設問3", "設問4"]
    overview = {row[0]: row[1] for row in summary["概要"].iter_rows(values_only=True)}
    assert overview["回答数"] == 3 and overview["タイトル"] == "交流会アンケート"
    q1 = list(summary["設問1"].iter_rows(values_only=True))
    assert ("はい", 2) in q1 and ("いいえ", 1) in q1
    q2 = list(summary["設問2"].iter_rows(values_only=True))
    assert ("月曜", 1) in q2 and ("水曜", 2) in q2 and ("土曜", 0) in q2
    q3 = list(summary["設問3"].iter_rows(values_only=True))
    assert ("5", 1) in q3 and ("平均", 3.67) in q3
    q4 = [row[0] for row in summary["設問4"].iter_rows(values_only=True)]
    assert SECRET_TEXT in q4 and "=1+1 は式ではありません" in q4
    with app.app_context():
        records = db.session.scalars(sa.select(OutputRecord).order_by(OutputRecord.id)).all()
        assert [(r.kind, r.title, r.row_count) for r in records] == [("xlsx", "アンケート回答一覧", 3),
                                                                     ("xlsx", "アンケート集計", 4)]
        assert all(json.loads(r.filter_description)["survey_id"] == ids["id"] and r.sha256 for r in records)
        audit_details = " ".join(db.session.scalars(sa.select(AuditEvent.detail)))
        assert SECRET_TEXT not in audit_details and "回答者" not in audit_details
    # the chart is a native one in the file
    response = editor.post(f"/admin/surveys/{ids['id']}/export/summary",
                           data={"csrf_token": csrf_token(editor, "/admin/surveys")})
    raw = response.data
    response.close()

    assert any(name.startswith("xl/charts/chart") for name in zipfile.ZipFile(io.BytesIO(raw)).namelist())


def test_named_answers_export_has_names(app, make_staff, make_registrant):
    ids = _make_survey(app, named=True)
    people = _three_answers(app, make_registrant, ids)
    editor = _staff(app, make_staff, "editor")
    rows = list(_download(editor, f"/admin/surveys/{ids['id']}/export/answers").active.iter_rows(values_only=True))
    assert rows[0][:4] == ("登録者ID", "氏名", "回答日時", "最終修正日時")
    assert [(row[0], row[1]) for row in rows[1:]] == [(p.id, f"回答者{n} 太郎") for n, p in enumerate(people)]
    assert isinstance(rows[1][2], datetime)


# --- satisfaction ---------------------------------------------------------------------------------

def test_satisfaction_rating_from_the_footer_of_another_page(app, make_staff, make_registrant):
    person, client = _registrant(app, make_registrant)
    page = _text(client.get("/me"))
    assert 'action="/surveys/rate"' in page and "このシステムの使いやすさ" in page and "あなたの評価" not in page
    token = csrf_token(client, "/me")
    response = client.post("/surveys/rate", data={"csrf_token": token, "rating": "4", "next": "/me"})
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    page = _text(client.get("/me"))
    assert "評価を受け付けました" in page and "あなたの評価: 4" in page
    assert re.search(r'value="4"[^>]*checked', page)
    assert client.post("/surveys/rate", data={"csrf_token": token, "rating": "2", "next": "/surveys/"}
                       ).headers["Location"] == "/surveys/"
    bad = client.post("/surveys/rate", data={"csrf_token": token, "rating": "7", "next": "//evil.example.com/x"})
    assert bad.status_code == 302 and bad.headers["Location"] == "/"
    assert "1〜5の中から評価を選んでください" in _text(client.get("/"))
    with app.app_context():
        survey = services.satisfaction_survey(db.session)
        assert survey.kind == "satisfaction" and not survey.is_named and survey.answers_editable
        assert [q.prompt for q in survey.questions] == ["このシステムの使いやすさ", "ご意見・ご感想(任意)"]
        ratings = db.session.execute(sa.select(SurveyResponse.registrant_id, SurveyAnswer.rating).join(
            SurveyAnswer).where(SurveyResponse.survey_id == survey.id)).all()
        assert ratings == [(person.id, 2)]
        assert services.satisfaction_summary(db.session, utcnow() - timedelta(hours=1),
                                             utcnow() + timedelta(hours=1)) == (1, 2.0)
        assert services.satisfaction_summary(db.session, utcnow() + timedelta(hours=1),
                                             utcnow() + timedelta(hours=2)) == (0, None)
        satisfaction_id, rating_q, comment_q = survey.id, survey.questions[0].id, survey.questions[1].id
    # a comment through the survey page keeps the rating, a later footer rating keeps the comment
    client.post(f"/surveys/{satisfaction_id}", data={"csrf_token": token, f"q{rating_q}": "3",
                                                      f"q{comment_q}": "文字が大きくて読みやすい"})
    client.post("/surveys/rate", data={"csrf_token": token, "rating": "5", "next": "/me"})
    assert sorted(_answers(app, satisfaction_id), key=str) == sorted(
        [(rating_q, None, 5, None), (comment_q, None, None, "文字が大きくて読みやすい")], key=str)
    staff = _staff(app, make_staff, "viewer")
    listing = _text(staff.get("/admin/surveys"))
    assert "満足度" in listing and services.SATISFACTION_TITLE in listing
    results = _text(staff.get(f"/admin/surveys/{satisfaction_id}/results"))
    assert "5.00" in results


def test_footer_is_absent_for_visitors_and_inactive_registrants(app, make_registrant):
    assert 'action="/surveys/rate"' not in _text(app.test_client().get("/"))
    _person, client = _registrant(app, make_registrant, status="expired")
    assert 'action="/surveys/rate"' not in _text(client.get("/me"))
    token = csrf_token(client, "/me/password")
    client.post("/surveys/rate", data={"csrf_token": token, "rating": "3", "next": "/me"})
    assert count_rows(app, SurveyResponse) == 0


def test_satisfaction_survey_cannot_be_changed_by_staff(app, make_staff):
    with app.app_context():
        survey_id = services.satisfaction_survey(db.session).id
        db.session.commit()
        assert services.satisfaction_survey(db.session).id == survey_id  # created once
    client = _staff(app, make_staff, "editor")
    token = csrf_token(client, "/admin/surveys")
    page = _text(client.get(f"/admin/surveys/{survey_id}/edit", follow_redirects=True))
    assert "満足度評価は組み込みのアンケートのため" in page
    page = _text(client.post(f"/admin/surveys/{survey_id}/unpublish", data={"csrf_token": token},
                             follow_redirects=True))
    assert "満足度評価は組み込みのアンケートのため" in page
    client.post(f"/admin/surveys/{survey_id}/delete", data={"csrf_token": token})
    assert count_rows(app, Survey) == 1


# --- services for the analytics/report part -------------------------------------------------------

def test_response_rates_cover_surveys_open_in_the_window(app, make_registrant):
    for _ in range(4):
        make_registrant()
    june, july = datetime(2026, 6, 1), datetime(2026, 7, 1)
    in_june = _make_survey(app, opens=datetime(2026, 5, 20), closes=datetime(2026, 6, 10), title="6月にかかる")
    _make_survey(app, opens=datetime(2026, 7, 1), closes=datetime(2026, 7, 20), title="7月から")
    _make_survey(app, opens=datetime(2026, 4, 1), closes=datetime(2026, 6, 1), title="5月で終わり")
    _make_survey(app, published=False, opens=datetime(2026, 6, 1), title="下書き")
    with app.app_context():
        people = db.session.scalars(sa.select(Registrant.id)).all()
        for rid in people[:3]:
            db.session.add(SurveyResponse(survey_id=in_june["id"], registrant_id=rid))
        services.satisfaction_survey(db.session)
        db.session.commit()
        assert services.response_rates(db.session, june, july) == [(in_june["id"], "6月にかかる", 4, 3)]


def test_demo_surveys(app, make_registrant):
    make_registrant(email="registrant@example.com", source="demo")
    for n in range(20):
        make_registrant(email=f"demo{n}@example.com", source="demo")
    with app.app_context():
        demo.load(db.session, random.Random(7))
        db.session.commit()
        demo.load(db.session, random.Random(7))  # idempotent
        db.session.commit()
        surveys = {s.title: s for s in db.session.scalars(sa.select(Survey))}
        assert set(surveys) == {demo.OPEN_TITLE, demo.CLOSED_TITLE, services.SATISFACTION_TITLE}
        open_survey = surveys[demo.OPEN_TITLE]
        assert services.state_of(open_survey) == services.State.OPEN
        assert services.state_of(surveys[demo.CLOSED_TITLE]) == services.State.CLOSED
        assert sorted(q.kind for q in open_survey.questions) == ["multiple", "rating", "single", "text"]
        assert services.response_count(db.session, open_survey) == 8
        assert services.response_count(db.session, surveys[services.SATISFACTION_TITLE]) == 6
        me = db.session.scalar(sa.select(Registrant).where(Registrant.email == "registrant@example.com"))
        assert [s.title for s in services.open_for(db.session, me)] == [demo.OPEN_TITLE]
        result = services.results(db.session, open_survey)
        assert result.questions[0].answered == 8 and sum(c for _l, c in result.questions[0].counts) == 8
