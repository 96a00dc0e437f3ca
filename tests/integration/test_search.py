"""S-A2 registrant search: every criterion and its negation, Japanese name matching, saved and shared
searches, roles, tampered parameters and the audit trail (SQLite and MariaDB)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.datastructures import MultiDict

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.extensions import db
from app.registrants.models import registrant_code
from app.registrants.normalise import registrant_search_text
from app.searches import services
from app.searches.models import SavedSearch
from app.searches.services import SearchError
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def _years_ago(years: int, days_later: int = 0) -> date:
    today = services.today_tokyo()
    born = today.replace(year=today.year - years) if not (today.month == 2 and today.day == 29) else \
        today.replace(year=today.year - years, day=28)
    return date.fromordinal(born.toordinal() + days_later)


@pytest.fixture
def codes(app: Flask) -> dict[str, int]:
    rows = [("region", "nagasaki", "長崎市"), ("region", "goto", "五島市"), ("region", "tsushima", "対馬市"),
            ("licence", "elem", "小学校教諭"), ("licence", "junior", "中学校教諭"),
            ("subject", "math", "数学"), ("subject", "music", "音楽"),
            ("job_type", "support", "学習支援員"), ("job_type", "lecturer", "講師"),
            ("school_type", "elementary", "小学校"), ("school_type", "junior", "中学校"),
            ("tag", "seminar", "説明会参加")]
    with app.app_context():
        entries = [Code(kind=kind, code=code, label=label, sort_order=n) for n, (kind, code, label) in enumerate(rows)]
        db.session.add_all(entries)
        db.session.commit()
        return {entry.code if entry.kind != "school_type" else f"st_{entry.code}": entry.id for entry in entries}


@pytest.fixture
def people(app: Flask, codes: dict[str, int], make_registrant: Any) -> dict[str, int]:
    """Five fictitious registrants, each distinguishable by some criterion."""
    specs = {
        "yamada": dict(family_name="山田", given_name="花子", family_name_kana="ヤマダ", given_name_kana="ハナコ",
                       birth_date=_years_ago(30), region_id=codes["nagasaki"], status="active",
                       registered_at=datetime(2026, 4, 10, 3, 0), career_note="元小学校教頭。算数の指導が得意",
                       codes=["elem", "math", "support", "st_elementary", "seminar"]),
        "suzuki": dict(family_name="鈴木", given_name="一郎", family_name_kana="スズキ", given_name_kana="イチロウ",
                       birth_date=_years_ago(45), region_id=codes["goto"], status="active",
                       registered_at=datetime(2026, 5, 20, 3, 0), interests="部活動の指導 100%",
                       codes=["junior", "music", "lecturer", "st_junior"]),
        "tanaka": dict(family_name="田中", given_name="次郎", family_name_kana="タナカ", given_name_kana="ジロウ",
                       birth_date=_years_ago(66), region_id=codes["tsushima"], status="expired",
                       registered_at=datetime(2025, 6, 1, 3, 0), former_department="対馬市教育委員会",
                       codes=["elem", "junior", "math"]),
        "nobirth": dict(family_name="佐藤", given_name="三郎", family_name_kana="サトウ", given_name_kana="サブロウ",
                        birth_date=None, region_id=None, status="withdrawn",
                        registered_at=datetime(2026, 3, 31, 14, 59), codes=[]),  # 2026-03-31 23:59 in Tokyo
        "almost31": dict(family_name="山本", given_name="ゆい", family_name_kana="ヤマモト", given_name_kana="ユイ",
                         birth_date=_years_ago(31, days_later=1), region_id=codes["nagasaki"], status="pending",
                         registered_at=datetime(2026, 3, 31, 15, 0), codes=["seminar"]),  # 2026-04-01 00:00 Tokyo
    }
    ids = {}
    for key, spec in specs.items():
        attached = spec.pop("codes")
        spec["search_text"] = registrant_search_text(spec["family_name"], spec["given_name"],
                                                     spec["family_name_kana"], spec["given_name_kana"])
        registrant = make_registrant(**spec)
        ids[key] = registrant.id
        with app.app_context():
            for code in attached:
                db.session.execute(registrant_code.insert().values(registrant_id=registrant.id, code_id=codes[code]))
            db.session.commit()
    return ids


def _found(app: Flask, people: dict[str, int], **criteria: Any) -> set[str]:
    names = {value: key for key, value in people.items()}
    with app.app_context():
        ids = db.session.scalars(services.matching_ids(db.session, criteria)).all()
        ordered = db.session.scalars(services.search_statement(criteria, "name")).all()
        assert {r.id for r in ordered} == set(ids)
        return {names[i] for i in ids}


EVERYONE = {"yamada", "suzuki", "tanaka", "nobirth", "almost31"}


@pytest.mark.parametrize(("criteria", "expected"), [
    ({"regions": ["nagasaki"]}, {"yamada", "almost31"}),
    ({"regions": ["nagasaki", "goto"]}, {"yamada", "almost31", "suzuki"}),
    ({"licences": ["elem"]}, {"yamada", "tanaka"}),
    ({"licences": ["elem", "junior"]}, {"yamada", "tanaka", "suzuki"}),
    ({"subjects": ["music"]}, {"suzuki"}),
    ({"job_types": ["support"]}, {"yamada"}),
    ({"school_types": ["st_junior"]}, {"suzuki"}),
    ({"tags": ["seminar"]}, {"yamada", "almost31"}),
])
def test_each_code_criterion_and_its_negation(app, people, codes, criteria, expected):
    key, values = next(iter(criteria.items()))
    ids = [codes[value] for value in values]
    assert _found(app, people, **{key: ids}) == expected
    # negated: everyone else, including people with no code / no region at all
    assert _found(app, people, **{key: ids, "not": [key]}) == EVERYONE - expected


def test_age_range_counts_birthdays_in_tokyo_and_negation_includes_unknown_birth_dates(app, people):
    assert _found(app, people, age_min=30, age_max=30) == {"yamada", "almost31"}  # youngest turns 31 tomorrow
    assert _found(app, people, age_min=31) == {"suzuki", "tanaka"}
    assert _found(app, people, age_max=44) == {"yamada", "almost31"}
    assert _found(app, people, age_min=40, age_max=65) == {"suzuki"}
    assert _found(app, people, age_min=40, age_max=65, **{"not": ["age"]}) == {"yamada", "almost31", "tanaka",
                                                                                 "nobirth"}


def test_status_and_registration_period_use_tokyo_days(app, people):
    assert _found(app, people, statuses=["active"]) == {"yamada", "suzuki"}
    assert _found(app, people, statuses=["active", "pending"], **{"not": ["statuses"]}) == {"tanaka", "nobirth"}
    # 2026-03-31 23:59 Tokyo is in March, 2026-04-01 00:00 Tokyo is in April
    assert _found(app, people, registered_from="2026-04-01") == {"yamada", "suzuki", "almost31"}
    assert _found(app, people, registered_to="2026-03-31") == {"tanaka", "nobirth"}
    assert _found(app, people, registered_from="2026-04-01", registered_to="2026-04-30") == {"yamada", "almost31"}
    assert _found(app, people, registered_from="2026-04-01", registered_to="2026-04-30",
                  **{"not": ["registered"]}) == {"suzuki", "tanaka", "nobirth"}


@pytest.mark.parametrize("typed", ["ヤマダ", "やまだ", "ﾔﾏﾀﾞ", "山田", "山田 花子", "ヤマダ　ハナコ", "ﾊﾅｺ"])
def test_name_matches_japanese_normalised(app, people, typed):
    assert _found(app, people, name=typed) == {"yamada"}


def test_name_partial_and_negated(app, people):
    assert _found(app, people, name="やま") == {"yamada", "almost31"}
    assert _found(app, people, name="ヤマ", **{"not": ["name"]}) == {"suzuki", "tanaka", "nobirth"}


def test_free_text_is_escaped_and_negatable(app, people):
    assert _found(app, people, text="算数") == {"yamada"}
    assert _found(app, people, text="対馬市") == {"tanaka"}  # former department
    assert _found(app, people, text="100%") == {"suzuki"}  # % is a literal, not a wildcard
    assert _found(app, people, text="%") == {"suzuki"}
    assert _found(app, people, text="_") == set()
    assert _found(app, people, text="指導", **{"not": ["text"]}) == {"tanaka", "nobirth", "almost31"}


def test_criteria_combine_with_and(app, people, codes):
    assert _found(app, people, regions=[codes["nagasaki"]], licences=[codes["elem"]], age_min=25) == {"yamada"}
    assert _found(app, people, licences=[codes["elem"]], regions=[codes["nagasaki"]],
                  **{"not": ["regions"]}) == {"tanaka"}


def test_sort_orders(app, people):
    with app.app_context():
        by_age = [r.id for r in db.session.scalars(services.search_statement({}, "age"))]
        # youngest first; an unknown birth date sorts as the lowest date on both databases, so last here
        assert by_age == [people[key] for key in ("yamada", "almost31", "suzuki", "tanaka", "nobirth")]
        by_kana = [r.family_name_kana for r in db.session.scalars(services.search_statement({}, "-kana"))]
        assert by_kana == sorted(by_kana, reverse=True)
        with pytest.raises(SearchError):
            services.search_statement({}, "password_hash")


@pytest.mark.parametrize("args", [
    [("age_min", "abc")], [("age_min", "-1")], [("age_max", "9" * 40)], [("age_min", "50"), ("age_max", "20")],
    [("regions", "1 OR 1=1")], [("regions", "x")], [("regions", str(2**40))],
    [("statuses", "active'; DROP TABLE registrant;--")], [("registered_from", "2026-13-01")],
    [("registered_from", "2026-05-01"), ("registered_to", "2026-04-01")], [("not", "password")],
    [("name", "山" * 101)], [("text", "a\x00b")],
])
def test_tampered_criteria_raise_search_error(args):
    with pytest.raises(SearchError):
        services.criteria_from_args(MultiDict(args))


def test_criteria_from_args_ignores_unknown_keys_and_drops_empty_negations():
    criteria = services.criteria_from_args(MultiDict([("regions", "3"), ("regions", "2"), ("foo", "bar"),
                                                      ("not", "regions"), ("not", "tags"), ("page", "2")]))
    assert criteria == {"regions": [2, 3], "not": ["regions"]}
    assert services.criteria_from_args(MultiDict(services.search_args(criteria))) == criteria


def test_describe_hides_typed_words():
    described = services.describe({"name": "山田", "text": "持病", "regions": [1], "age_min": 30, "not": ["regions"]})
    assert "山田" not in json.dumps(described, ensure_ascii=False) and "持病" not in json.dumps(described,
                                                                                             ensure_ascii=False)
    assert described["regions"] == [1] and described["age_min"] == 30 and described["name"] == "(指定あり)"


def _table_header(page: str) -> str:
    return page[page.index("<thead"):page.index("</thead>")]


# --- the page -----------------------------------------------------------------------------------

def test_search_page_shows_results_links_and_audits(app, people, codes, make_staff):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    response = client.get(f"/admin/search/?name=ﾔﾏﾀﾞ&regions={codes['nagasaki']}&col=kana&col=name&col=region")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 件" in page and "山田 花子" in page and "鈴木" not in page
    assert f"/admin/registrants/{people['yamada']}" in page
    header = _table_header(page)
    assert header.index("フリガナ") < header.index("氏名") < header.index("居住地域")  # the chosen order
    assert "CSV出力" not in page  # a viewer cannot export
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "search.run")).one()
        assert event.actor_id == viewer.id
        detail = json.loads(event.detail) if isinstance(event.detail, str) else event.detail
        assert detail["count"] == 1 and detail["criteria"]["regions"] == [codes["nagasaki"]]
        assert "ﾔﾏﾀﾞ" not in json.dumps(detail, ensure_ascii=False) and "山田" not in json.dumps(detail,
                                                                                                ensure_ascii=False)


def test_column_move_buttons_reorder(app, people, make_staff):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    page = client.get("/admin/search/?col=name&col=age&col=status&move=down:name").get_data(as_text=True)
    header = _table_header(page)
    assert header.index("年齢") < header.index("氏名") < header.index("状態")
    assert "フリガナ" not in header


@pytest.mark.parametrize(("query", "message"), [
    ("?sort=password_hash", "指定された並び順は使えません"),
    ("?sort=name;DROP%20TABLE%20registrant", "指定された並び順は使えません"),
    ("?columns=name,password_hash", "指定された表示列は使えません"),
    ("?page=1000000000", "ページ番号は1から"),
    ("?page=-3", "ページ番号は1から"),
    ("?per_page=100000", "1ページの件数は"),
    ("?regions=1%20OR%201=1", "選択肢の指定が正しくありません"),
    ("?age_min=%27%20OR%20%271%27=%271", "年齢は0から"),
    ("?registered_from=yesterday", "登録期間の日付は"),
    ("?not=1=1", "「除く」の指定が正しくありません"),
])
def test_tampered_parameters_give_a_message_not_an_error(app, people, make_staff, query, message):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    response = client.get(f"/admin/search/{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "検索条件を確認してください" in page
    assert "山田 花子" not in page  # nothing listed under criteria that could not be read


def test_page_beyond_the_last_shows_the_last_page_with_a_message(app, people, make_staff):
    viewer = make_staff("viewer")
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    response = client.get("/admin/search/?page=40&per_page=20")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "40 ページ目はありません" in page and "5 件" in page


# --- saved searches -----------------------------------------------------------------------------

def _save(client: Any, query: str, name: str, shared: bool = False) -> Any:
    data = {"csrf_token": csrf_token(client, f"/admin/search/?{query}"), "query": query, "name": name}
    if shared:
        data["shared"] = "y"
    return client.post("/admin/search/saved", data=data)


def test_saved_and_shared_searches_visibility(app, people, codes, make_staff):
    editor, other, viewer = make_staff("editor"), make_staff("editor"), make_staff("viewer")
    owner_client = app.test_client()
    login(owner_client, editor.email, STRONG_PASSWORD)
    query = f"regions={codes['nagasaki']}&name=ヤマダ&columns=name,age&sort=-age"
    response = _save(owner_client, query, "長崎市のヤマダさん")
    assert response.status_code == 302
    assert _save(owner_client, query, "長崎市のヤマダさん").status_code == 302  # duplicate name: refused with message
    with app.app_context():
        saved = db.session.scalars(sa.select(SavedSearch)).one()
        assert json.loads(saved.criteria) == {"name": "ヤマダ", "regions": [codes["nagasaki"]]}
        assert saved.columns == "name,age" and saved.sort == "-age" and saved.is_shared is False
        saved_id = saved.id
    opened = owner_client.get(f"/admin/search/saved/{saved_id}")
    assert opened.status_code == 302 and "sort=-age" in opened.location
    page = owner_client.get(opened.location).get_data(as_text=True)
    assert "山田 花子" in page and "長崎市のヤマダさん" in page and "山本" not in page

    other_client = app.test_client()
    login(other_client, other.email, STRONG_PASSWORD)
    assert other_client.get(f"/admin/search/saved/{saved_id}").status_code == 404  # private
    assert "長崎市のヤマダさん" not in other_client.get("/admin/search/saved").get_data(as_text=True)
    with app.app_context():
        assert services.visible_saved_search(db.session, other, saved_id) is None

    token = csrf_token(owner_client, "/admin/search/saved")
    assert owner_client.post(f"/admin/search/saved/{saved_id}/share", data={"csrf_token": token}).status_code == 302
    assert "長崎市のヤマダさん" in other_client.get("/admin/search/saved").get_data(as_text=True)
    assert other_client.get(f"/admin/search/saved/{saved_id}").status_code == 302
    with app.app_context():
        assert services.visible_saved_search(db.session, other, saved_id).id == saved_id
    # only the owner changes it
    token = csrf_token(other_client, "/admin/search/saved")
    assert other_client.post(f"/admin/search/saved/{saved_id}/delete", data={"csrf_token": token}).status_code == 403
    assert other_client.post(f"/admin/search/saved/{saved_id}/rename",
                             data={"csrf_token": token, "name": "乗っ取り"}).status_code == 403
    # a viewer can save their own but not share, and gets 403 on share
    viewer_client = app.test_client()
    login(viewer_client, viewer.email, STRONG_PASSWORD)
    response = _save(viewer_client, "statuses=active", "有効な人", shared=True)
    follow = viewer_client.get(response.location).get_data(as_text=True)
    assert "検索を共有できるのは更新権限のある職員だけです" in follow
    assert _save(viewer_client, "statuses=active", "有効な人").status_code == 302
    token = csrf_token(viewer_client, "/admin/search/saved")
    with app.app_context():
        mine = db.session.scalars(sa.select(SavedSearch).where(SavedSearch.owner_id == viewer.id)).one()
    assert viewer_client.post(f"/admin/search/saved/{mine.id}/share", data={"csrf_token": token}).status_code == 403
    assert viewer_client.post(f"/admin/search/saved/{mine.id}/rename",
                              data={"csrf_token": token, "name": "有効な登録者"}).status_code == 302
    assert viewer_client.post(f"/admin/search/saved/{mine.id}/delete", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert db.session.get(SavedSearch, mine.id) is None
        actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("search.%"))))
        assert {"search.save", "search.share", "search.rename", "search.delete", "search.run"} <= actions


def test_administrator_may_delete_a_shared_search(app, people, make_staff):
    editor, admin = make_staff("editor"), make_staff("administrator")
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    _save(client, "statuses=active", "共有テスト", shared=True)
    with app.app_context():
        saved_id = db.session.scalars(sa.select(SavedSearch.id)).one()
    admin_client = app.test_client()
    login(admin_client, admin.email, STRONG_PASSWORD)
    token = csrf_token(admin_client, "/admin/search/saved")
    assert admin_client.post(f"/admin/search/saved/{saved_id}/delete", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert db.session.get(SavedSearch, saved_id) is None
