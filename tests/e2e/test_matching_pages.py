"""S-A13 in a real browser: an editor opens the match list of a posting, selects candidates, adds them to
the pipeline, records one as 採用 and marks the posting filled; the match list, the registrant's postings
and the weights page pass axe at both widths."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.matching.models import MatchCandidate
from app.postings.models import JobPosting
from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import PHONE, WIDTHS
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, staff_login
from tests.integration.test_matching import build_world, person
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

pytestmark = pytest.mark.browser


def _check(page: Any, name: str, width: int, heading: str) -> None:
    assert page.locator("main h1").inner_text().startswith(heading)
    assert page.locator(BREADCRUMBS).locator("li").first.inner_text() == "管理画面トップ"
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_editor_works_a_match_from_list_to_filled(app, served, open_page, make_staff, make_registrant, width):
    world = build_world(app)
    best = person(app, make_registrant, world, family_name="数井", given_name="一郎",
                  codes=("jh_1", "librarian", "math", "science", "fulltime", "junior_high", "nagasaki"))
    second = person(app, make_registrant, world, family_name="理科", given_name="花子",
                    codes=("jh_1", "science", "fulltime"))
    third = person(app, make_registrant, world, family_name="英田", given_name="葵", region="sasebo",
                   codes=("jh_1", "english"))
    person(app, make_registrant, world, family_name="小島", given_name="健", codes=("elem_1",))  # no licence: never
    editor = make_staff("editor")
    page = open_page(width)
    staff_login(page, served, editor.email, STRONG_PASSWORD)

    page.goto(f"{served}/admin/matching/postings/{world.posting_id}")
    rows = page.locator("table.match-table tbody tr")
    assert rows.count() == 3
    assert "数井 一郎" in rows.nth(0).inner_text() and "英田 葵" in rows.nth(2).inner_text()
    assert "小島" not in page.locator("main").inner_text()
    assert "免許: 中学校教諭一種 ✓ +40" in rows.nth(0).inner_text()
    assert "最近連絡済み" not in page.locator("main").inner_text()
    _check(page, "matching-list", width, "マッチング")

    for rid in (best, second, third):
        page.locator(f"#pick-{rid}").check()
    assert page.locator("#selected-count").inner_text() == "3 人を選択中"
    with page.expect_navigation():
        page.get_by_role("button", name="候補に追加").click()
    assert "3 人を候補に追加しました" in page.locator(".flash").first.inner_text()
    assert page.locator("table.pipeline-table tbody tr").count() == 3

    with app.app_context():
        candidate_id = db.session.scalar(sa.select(MatchCandidate.id).where(MatchCandidate.registrant_id == best))
    page.locator(f"#stage-{candidate_id}").select_option(label="採用")
    page.locator(f"#note-{candidate_id}").fill("4月1日から勤務")
    with page.expect_navigation():
        page.locator(f"#stage-{candidate_id}").locator("xpath=..").get_by_role("button", name="変更").click()
    assert "選考段階を「採用」にしました" in page.locator(".flash").first.inner_text()
    assert "採用 1" in page.locator("svg.stage-bar title").text_content()
    # the pipeline's own correspondence never counts as "recently contacted" for this posting
    assert "最近連絡済み" not in page.locator("table.match-table").inner_text()
    _check(page, "matching-pipeline", width, "マッチング")

    with page.expect_navigation():
        page.get_by_role("button", name="この求人を充足にする").click()
    assert "求人を充足にしました" in page.locator(".flash").first.inner_text()
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        assert posting.status == "filled" and posting.closed_at is not None

    page.goto(f"{served}/admin/matching/registrants/{second}")
    # the only posting is filled now: nothing open is left for this registrant
    assert "条件に合う募集中の求人はありません" in page.locator("main").inner_text()
    _check(page, "matching-registrant", width, "合う求人")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_administrator_sees_a_refused_weight_and_postings_for_a_registrant(app, served, open_page, make_staff,
                                                                           make_registrant, width):
    world = build_world(app)
    rid = person(app, make_registrant, world, family_name="数井", codes=("jh_1", "math", "fulltime"))
    admin = make_staff("administrator")
    page = open_page(width)
    staff_login(page, served, admin.email, STRONG_PASSWORD)
    page.goto(f"{served}/admin/matching/weights")
    page.get_by_label("教科が一致(1つごと、2つまで)").fill("80")
    with page.expect_navigation():
        page.get_by_role("button", name="保存").click()
    assert "0 から 50 の整数を入力してください。" in page.locator(".field-errors").inner_text()
    _check(page, "matching-weights", width, "マッチングの重み")

    page.goto(f"{served}/admin/matching/registrants/{rid}")
    row = page.locator("table.match-table tbody tr").first
    assert "中学校 数学 常勤講師" in row.inner_text() and "教科: 数学 +10" in row.inner_text()
    _check(page, "matching-registrant-open", width, "合う求人")
