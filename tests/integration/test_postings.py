"""S-A12 job postings for staff: create, edit, copy, open and close, search; every bad field refused with
its own message and nothing saved; viewers read only; every change audited without the posting's texts."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import SYSTEM
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db
from app.postings import services
from app.postings.models import JobPosting, PostingCodeRole, posting_code
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

CODES = [("school_type", "junior_high", "中学校"), ("school_type", "elementary", "小学校"),
         ("region", "nagasaki", "長崎市"), ("region", "goto", "五島市"),
         ("job_type", "fulltime_lecturer", "常勤講師"), ("job_type", "club_coach", "部活動指導員"),
         ("employment_type", "temporary", "臨時的任用"), ("employment_type", "hourly", "非常勤講師(時間講師)"),
         ("subject", "math", "数学"), ("subject", "english", "英語"),
         ("licence", "jh_1", "中学校教諭一種"), ("licence", "hs_1", "高等学校教諭一種"),
         ("licence", "elem_1", "小学校教諭一種")]
SECRET_CONTACT = "架空市立第一中学校 教頭 架空太郎 000-000-0001 kyoto@example.com"


@pytest.fixture
def codes(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = {code: Code(kind=kind, code=code, label=label, sort_order=n * 10)
                for n, (kind, code, label) in enumerate(CODES)}
        rows["old_licence"] = Code(kind="licence", code="old_licence", label="旧免許", sort_order=999,
                                   valid_to=date(2020, 3, 31))
        db.session.add_all(rows.values())
        db.session.commit()
        return {code: row.id for code, row in rows.items()}


def form_data(codes: dict[str, int], **changes: Any) -> dict[str, Any]:
    data = {"title": "中学校 数学 常勤講師", "school_name": "架空市立第一中学校",
            "school_type": codes["junior_high"], "region": codes["nagasaki"], "job_type": codes["fulltime_lecturer"],
            "employment_type": codes["temporary"], "subjects": [codes["math"]], "required_licences": [codes["jh_1"]],
            "preferred_licences": [codes["hs_1"]], "period_start": "2030-06-01", "period_end": "2031-03-31",
            "days_hours": "月〜金 8:15〜16:45", "openings": "1", "description": "産休代替。第2学年の数学。",
            "contact": SECRET_CONTACT, "publish_from": "2030-05-01T09:00", "publish_until": "2030-05-31T17:00",
            "show_in_portal": "y"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def editor_client(app: Flask, make_staff: Any, role: str = "editor") -> Any:
    client = app.test_client()
    user = make_staff(role)
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302
    return client


def post(client: Any, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


def only_posting(app: Flask) -> JobPosting:
    with app.app_context():
        posting = db.session.scalars(sa.select(JobPosting)).one()
        db.session.expunge(posting)
        return posting


def codes_of(app: Flask, posting_id: int) -> dict[str, set[int]]:
    with app.app_context():
        rows = db.session.execute(sa.select(posting_code.c.role, posting_code.c.code_id)
                                  .where(posting_code.c.posting_id == posting_id)).all()
    result: dict[str, set[int]] = {role.value: set() for role in PostingCodeRole}
    for role, code_id in rows:
        result[role].add(code_id)
    return result


def events(app: Flask, prefix: str = "posting.") -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like(prefix + "%"))
                                  .order_by(AuditEvent.seq)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def make_posting(app: Flask, codes: dict[str, int], status: str = "draft", **changes: Any) -> int:
    """A posting saved through the service (as a form would), then put into `status`."""
    values = services.PostingValues(
        title="中学校 数学 常勤講師", school_name="架空市立第一中学校", school_type=codes["junior_high"],
        region=codes["nagasaki"], job_type=codes["fulltime_lecturer"], subjects=[codes["math"]],
        required_licences=[codes["jh_1"]], period_start=date(2026, 6, 1), period_end=date(2027, 3, 31), openings=1)
    for name, value in changes.items():
        setattr(values, name, value)
    with app.app_context():
        posting = services.save_posting(db.session, SYSTEM, values)
        if status != "draft":
            if status != "open":
                services.set_status(db.session, SYSTEM, posting, "open")
            services.set_status(db.session, SYSTEM, posting, status)
        db.session.commit()
        return posting.id


def test_an_editor_creates_edits_and_publishes_a_posting(app, codes, make_staff):
    client = editor_client(app, make_staff)
    assert client.get("/admin/postings/new").status_code == 200
    response = post(client, "/admin/postings/new", form_data(codes))
    assert response.status_code == 302
    posting = only_posting(app)
    assert response.headers["Location"] == f"/admin/postings/{posting.id}"
    assert (posting.status, posting.openings, posting.period_start, posting.period_end) == (
        "draft", 1, date(2030, 6, 1), date(2031, 3, 31))
    assert posting.publish_from == datetime(2030, 5, 1, 0, 0)  # typed in Tokyo time, stored in UTC
    assert posting.publish_until == datetime(2030, 5, 31, 8, 0)
    assert posting.employment_type_id == codes["temporary"] and posting.show_in_portal is True
    assert codes_of(app, posting.id) == {"subject": {codes["math"]}, "required_licence": {codes["jh_1"]},
                                         "preferred_licence": {codes["hs_1"]}}
    page = client.get(f"/admin/postings/{posting.id}").get_data(as_text=True)
    assert "架空市立第一中学校" in page and "中学校教諭一種" in page and "臨時的任用" in page and "下書き" in page
    assert "2030-05-01 09:00" in page  # shown in Tokyo time again

    path = f"/admin/postings/{posting.id}/edit"
    edit_page = client.get(path).get_data(as_text=True)
    assert 'value="2030-05-01T09:00"' in edit_page and "産休代替" in edit_page
    response = post(client, path, form_data(codes, title="中学校 数学・英語 常勤講師", subjects=[codes["math"], codes["english"]],
                                            openings="2", show_in_portal=None))
    assert response.status_code == 302
    posting = only_posting(app)
    assert (posting.title, posting.openings, posting.show_in_portal) == ("中学校 数学・英語 常勤講師", 2, False)
    assert codes_of(app, posting.id)["subject"] == {codes["math"], codes["english"]}

    token = csrf_token(client, f"/admin/postings/{posting.id}")
    client.post(f"/admin/postings/{posting.id}/status", data={"csrf_token": token, "to": "open"})
    opened = only_posting(app)
    assert opened.status == "open" and opened.publish_from == datetime(2030, 5, 1, 0, 0)  # its own window kept
    assert "求人を公開しました" in client.get(f"/admin/postings/{posting.id}").get_data(as_text=True)

    trail = events(app)
    assert [e.action for e in trail] == ["posting.create", "posting.update", "posting.status"]
    assert json.loads(trail[1].detail)["changed"] == ["openings", "show_in_portal", "subjects", "title"]
    assert json.loads(trail[2].detail) == {"from": "draft", "to": "open"}
    assert all(e.target == f"posting:{posting.id}" for e in trail)
    for event in trail:  # ids and field names only: no contact, names, school or texts
        assert "架空" not in event.detail and "example.com" not in event.detail and "数学" not in event.detail


def test_an_unchanged_save_is_not_audited(app, codes, make_staff):
    client = editor_client(app, make_staff)
    post(client, "/admin/postings/new", form_data(codes))
    posting = only_posting(app)
    response = post(client, f"/admin/postings/{posting.id}/edit", form_data(codes))
    assert response.status_code == 302
    assert [e.action for e in events(app)] == ["posting.create"]


BAD_FIELDS = [
    ("period_end", {"period_start": "2030-06-01", "period_end": "2030-05-31"}, "勤務期間の終了日は開始日以降にしてください。"),
    ("openings", {"openings": "0"}, "募集人数は1人以上にしてください。"),
    ("openings", {"openings": "-3"}, "募集人数は1人以上にしてください。"),
    ("openings", {"openings": "1000"}, "募集人数は999人以下にしてください。"),
    ("openings", {"openings": "たくさん"}, "整数"),
    ("school_type", {"school_type": "999999"}, "選択できない値です"),
    ("school_type", {"school_type": "abc"}, "選択できない値です"),
    ("region", {"region": "0"}, "選択してください。"),
    ("school_type", {"school_type": "REGION"}, "選択できない値です"),
    ("required_licences", {"required_licences": ["OLD"]}, "選択できない値が含まれています"),
    ("subjects", {"subjects": ["NAGASAKI"]}, "選択できない値が含まれています"),  # a code of another kind
    ("preferred_licences", {"preferred_licences": ["JH"]}, "必須の免許に選んだ免許は、歓迎する免許に選ばないでください。"),
    ("employment_type", {"employment_type": "SUBJECT"}, "選択できない値です"),
    ("publish_until", {"publish_from": "2030-05-10T09:00", "publish_until": "2030-05-01T09:00"},
     "掲載終了日時は掲載開始日時より後にしてください。"),
    ("publish_until", {"publish_until": "2030-05-01T09:00"}, "掲載終了日時は掲載開始日時より後にしてください。"),
    ("title", {"title": "あ" * 201}, "200文字以内で入力してください。"),
    ("title", {"title": "  "}, "入力してください。"),
    ("school_name", {"school_name": "校" * 101}, "100文字以内で入力してください。"),
    ("description", {"description": "説" * 4001}, "4000文字以内で入力してください。"),
    ("contact", {"contact": "連" * 301}, "300文字以内で入力してください。"),
    ("days_hours", {"days_hours": "月" * 201}, "200文字以内で入力してください。"),
    ("period_start", {"period_start": "2030-02-30"}, "日付"),
    ("period_start", {"period_start": "1899-01-01"}, "日付を確認してください。"),
    ("period_start", {"period_start": ""}, "入力してください。"),
    ("title", {"title": "件名\x07"}, "制御文字"),
]


def _resolve(value: Any, codes: dict[str, int]) -> Any:
    names = {"OLD": codes["old_licence"], "NAGASAKI": codes["nagasaki"], "JH": codes["jh_1"],
             "REGION": codes["nagasaki"], "SUBJECT": codes["math"]}
    if isinstance(value, list):
        return [names.get(v, v) for v in value]
    return names.get(value, value)


@pytest.mark.parametrize(("field", "changes", "message"), BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _c, _m) in enumerate(BAD_FIELDS)])
def test_a_bad_field_is_refused_with_its_own_message_and_nothing_is_saved(app, codes, make_staff, field, changes,
                                                                         message):
    client = editor_client(app, make_staff)
    data = form_data(codes, **{name: _resolve(value, codes) for name, value in changes.items()})
    response = post(client, "/admin/postings/new", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    errors = html.split(f'id="{field}-errors"', 1)
    assert len(errors) == 2, f"no message on {field}"
    assert message in errors[1].split("</ul>", 1)[0]
    assert "入力内容を確認してください" in html
    assert count_rows(app, JobPosting) == 0 and events(app) == []


def test_several_problems_are_shown_at_once(app, codes, make_staff):
    client = editor_client(app, make_staff)
    response = post(client, "/admin/postings/new", form_data(codes, openings="0", period_end="2030-01-01",
                                                              title="", region="999999"))
    html = response.get_data(as_text=True)
    for field in ("openings", "period_end", "title", "region"):
        assert f'id="{field}-errors"' in html, field
    assert count_rows(app, JobPosting) == 0


def test_editing_keeps_a_retired_code_the_posting_has_but_a_new_posting_cannot_choose_it(app, codes, make_staff):
    posting_id = make_posting(app, codes, required_licences=[codes["jh_1"]])
    with app.app_context():  # the licence is retired after the posting chose it
        db.session.get(Code, codes["jh_1"]).valid_to = date(2020, 1, 1)
        db.session.commit()
    client = editor_client(app, make_staff)
    edit_page = client.get(f"/admin/postings/{posting_id}/edit").get_data(as_text=True)
    assert "中学校教諭一種" in edit_page
    response = post(client, f"/admin/postings/{posting_id}/edit", form_data(codes, title="改題"))
    assert response.status_code == 302
    assert codes_of(app, posting_id)["required_licence"] == {codes["jh_1"]}
    assert "中学校教諭一種" not in client.get("/admin/postings/new").get_data(as_text=True)
    refused = post(client, "/admin/postings/new", form_data(codes))
    assert refused.status_code == 200 and "選択できない値が含まれています" in refused.get_data(as_text=True)
    assert count_rows(app, JobPosting) == 1


def test_copy_makes_a_new_draft_with_the_same_content(app, codes, make_staff):
    source_id = make_posting(app, codes, "open", preferred_licences=[codes["hs_1"]], contact=SECRET_CONTACT,
                             publish_until=utcnow() + timedelta(days=3))
    client = editor_client(app, make_staff)
    token = csrf_token(client, f"/admin/postings/{source_id}")
    response = client.post(f"/admin/postings/{source_id}/copy", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        copy = db.session.scalars(sa.select(JobPosting).where(JobPosting.id != source_id)).one()
        source = db.session.get(JobPosting, source_id)
        assert response.headers["Location"] == f"/admin/postings/{copy.id}/edit"
        assert copy.title == "中学校 数学 常勤講師(コピー)" and copy.status == "draft"
        assert (copy.school_name, copy.region_id, copy.period_start, copy.contact) == (
            source.school_name, source.region_id, source.period_start, source.contact)
        assert copy.publish_from is None and copy.publish_until is None and copy.notified_at is None
        copy_id = copy.id
    assert codes_of(app, copy_id) == codes_of(app, source_id)
    assert "(コピー)" in client.get(response.headers["Location"]).get_data(as_text=True)
    [event] = [e for e in events(app) if e.action == "posting.copy"]
    assert event.target == f"posting:{copy_id}" and json.loads(event.detail) == {"source_id": source_id}


def test_a_long_title_stays_within_its_limit_when_copied(app, codes):
    source_id = make_posting(app, codes, title="長" * 200)
    with app.app_context():
        copy = services.copy_posting(db.session, SYSTEM, db.session.get(JobPosting, source_id))
        assert len(copy.title) == 200 and copy.title.endswith("(コピー)")


def _status(client: Any, posting_id: int, to: str) -> str:
    token = csrf_token(client, f"/admin/postings/{posting_id}")
    response = client.post(f"/admin/postings/{posting_id}/status", data={"csrf_token": token, "to": to})
    assert response.status_code == 302
    return client.get(response.headers["Location"]).get_data(as_text=True)


def status_of(app: Flask, posting_id: int) -> str:
    with app.app_context():
        return db.session.get(JobPosting, posting_id).status


def test_status_changes_follow_the_allowed_steps(app, codes, make_staff):
    posting_id = make_posting(app, codes)
    client = editor_client(app, make_staff)
    page = _status(client, posting_id, "filled")  # a draft cannot be filled
    assert "「下書き」の求人は「充足」にできません。" in page and status_of(app, posting_id) == "draft"
    page = _status(client, posting_id, "open")
    assert "求人を公開しました" in page and status_of(app, posting_id) == "open"
    with app.app_context():
        posting = db.session.get(JobPosting, posting_id)
        assert posting.publish_from is not None and posting.publish_from <= utcnow()  # published from now
    assert "すでに「募集中」です。" in _status(client, posting_id, "open")
    assert "求人を充足にしました" in _status(client, posting_id, "filled")
    with app.app_context():
        assert db.session.get(JobPosting, posting_id).closed_at is not None
    page = _status(client, posting_id, "open")
    assert status_of(app, posting_id) == "open"
    with app.app_context():
        assert db.session.get(JobPosting, posting_id).closed_at is None
    assert "求人を終了しました" in _status(client, posting_id, "closed")
    assert status_of(app, posting_id) == "closed"
    _status(client, posting_id, "draft")  # not a status one changes to
    _status(client, posting_id, "deleted")
    assert status_of(app, posting_id) == "closed"
    moves = [json.loads(e.detail) for e in events(app) if e.action == "posting.status"]
    assert [(m["from"], m["to"]) for m in moves][-4:] == [("draft", "open"), ("open", "filled"), ("filled", "open"),
                                                          ("open", "closed")]


def test_a_posting_whose_window_has_ended_is_not_opened(app, codes, make_staff):
    posting_id = make_posting(app, codes, publish_from=utcnow() - timedelta(days=10),
                              publish_until=utcnow() - timedelta(days=1))
    client = editor_client(app, make_staff)
    page = _status(client, posting_id, "open")
    assert "掲載終了日時を過ぎています。" in page and status_of(app, posting_id) == "draft"


def test_a_viewer_reads_postings_but_changes_nothing(app, codes, make_staff):
    posting_id = make_posting(app, codes, "open")
    client = editor_client(app, make_staff, "viewer")
    assert client.get("/admin/postings/").status_code == 200
    page = client.get(f"/admin/postings/{posting_id}").get_data(as_text=True)
    assert "架空市立第一中学校" in page and "/edit" not in page and "/copy" not in page and "/status" not in page
    token = csrf_token(client, "/admin/postings/")  # the page has no form: take the token from the search page
    for path, data in ((f"/admin/postings/{posting_id}/status", {"to": "closed"}),
                       (f"/admin/postings/{posting_id}/copy", {}),
                       (f"/admin/postings/{posting_id}/edit", form_data(codes, title="改ざん")),
                       ("/admin/postings/new", form_data(codes))):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert client.get("/admin/postings/new").status_code == 403
    with app.app_context():
        posting = db.session.get(JobPosting, posting_id)
        assert (posting.status, posting.title) == ("open", "中学校 数学 常勤講師")
    assert count_rows(app, JobPosting) == 1


def test_the_list_searches_by_text_status_codes_and_period(app, codes, make_staff):
    first = make_posting(app, codes, "open")
    goto = make_posting(app, codes, "closed", title="部活動指導員(ソフトテニス)", school_name="架空市立第三中学校",
                        region=codes["goto"], job_type=codes["club_coach"], subjects=[codes["english"]],
                        required_licences=[], period_start=date(2027, 4, 1), period_end=None)
    elementary = make_posting(app, codes, title="小学校 学級担任", school_name="架空町立みどり小学校",
                              school_type=codes["elementary"], subjects=[], required_licences=[codes["elem_1"]],
                              period_start=date(2026, 1, 1), period_end=date(2026, 3, 31))
    client = editor_client(app, make_staff, "viewer")

    def found(query: str) -> set[int]:
        html = client.get("/admin/postings/?" + query).get_data(as_text=True)
        return {pid for pid in (first, goto, elementary) if f'href="/admin/postings/{pid}"' in html}

    assert found("") == {first, goto, elementary}
    assert found("q=第三") == {goto} and found("q=中学校 数学") == {first}
    assert found("q=100%25") == set()  # LIKE wildcards are literal
    assert found("status=open") == {first} and found("status=draft") == {elementary}
    assert found(f"region={codes['goto']}") == {goto}
    assert found(f"job_type={codes['club_coach']}") == {goto}
    assert found(f"school_type={codes['elementary']}") == {elementary}
    assert found(f"subject={codes['math']}") == {first}
    assert found("period_from=2027-04-01") == {goto}  # open-ended period still running
    assert found("period_to=2026-04-30") == {elementary}
    assert found("period_from=2026-07-01&period_to=2026-08-01") == {first}
    bad = client.get("/admin/postings/?status=nonsense&period_from=2026-13-01").get_data(as_text=True)
    assert "検索条件を確認してください。" in bad


def test_the_list_is_paginated(app, codes, make_staff):
    for n in range(services.PER_PAGE + 1):
        make_posting(app, codes, title=f"求人{n:03d}")
    client = editor_client(app, make_staff, "viewer")
    first = client.get("/admin/postings/").get_data(as_text=True)
    assert "51 件" in first and "求人050" in first and "求人000" not in first and "1 / 2 ページ" in first
    second = client.get("/admin/postings/?page=2").get_data(as_text=True)
    assert "求人000" in second and "求人050" not in second


def test_open_postings_are_those_open_inside_their_window(app, codes):
    now = utcnow().replace(microsecond=0) + timedelta(days=30)  # the moment asked about, ahead of the real now
    made = {
        "open_no_window": make_posting(app, codes, "open"),
        "open_in_window": make_posting(app, codes, "open", publish_from=now - timedelta(days=1),
                                       publish_until=now + timedelta(days=1)),
        "open_ends_now": make_posting(app, codes, "open", publish_from=now - timedelta(days=1), publish_until=now),
        "open_starts_now": make_posting(app, codes, "open", publish_from=now),
        "open_later": make_posting(app, codes, "open", publish_from=now + timedelta(hours=1)),
        "draft": make_posting(app, codes),
        "filled": make_posting(app, codes, "filled"),
        "closed": make_posting(app, codes, "closed"),
    }
    with app.app_context():
        # no start at all (set_status fills it in; older data or other writers may not)
        db.session.execute(sa.update(JobPosting).where(JobPosting.id == made["open_no_window"])
                           .values(publish_from=None))
        db.session.commit()
        ids = set(db.session.scalars(services.open_postings_statement(now).with_only_columns(JobPosting.id)))
    assert ids == {made["open_no_window"], made["open_in_window"], made["open_starts_now"]}


def test_posting_codes_and_summary(app, codes):
    posting_id = make_posting(app, codes, subjects=[codes["english"], codes["math"]],
                              preferred_licences=[codes["hs_1"]])
    with app.app_context():
        posting = db.session.get(JobPosting, posting_id)
        found = services.posting_codes(db.session, posting)
        assert [c.code for c in found[PostingCodeRole.SUBJECT]] == ["math", "english"]  # master order
        assert [c.code for c in found[PostingCodeRole.REQUIRED_LICENCE]] == ["jh_1"]
        assert [c.code for c in found[PostingCodeRole.PREFERRED_LICENCE]] == ["hs_1"]
        assert services.posting_summary(posting) == "中学校 数学 常勤講師(架空市立第一中学校、2026-06-01〜2027-03-31)"
        posting.title, posting.period_end = "長" * 200, None
        summary = services.posting_summary(posting)
        assert len(summary) == 200 and summary.endswith("…(架空市立第一中学校、2026-06-01〜)")


def test_the_detail_page_leaves_room_for_matching(app, codes, make_staff):
    posting_id = make_posting(app, codes, "open")
    client = editor_client(app, make_staff)
    page = client.get(f"/admin/postings/{posting_id}").get_data(as_text=True)
    has_matching = "matching_admin.for_posting" in app.view_functions
    assert ("候補者を探す" in page) == has_matching


def test_the_code_master_screen_lists_employment_types(app, codes, make_staff):
    client = editor_client(app, make_staff, "administrator")
    page = client.get("/admin/codes?kind=employment_type").get_data(as_text=True)
    assert "任用形態" in page and "臨時的任用" in page and "非常勤講師(時間講師)" in page
