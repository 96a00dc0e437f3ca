"""Explainable matching (S-A13): the hard filters, the score and its parts, the order, the weights,
and the same ranking seen from a registrant's side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import audit
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.correspondence.models import Correspondence
from app.extensions import db
from app.matching import scoring
from app.matching.models import MatchWeight
from app.matching.services import eligible_ids, fits
from app.postings.models import JobPosting, posting_code
from app.registrants.models import registrant_code
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

TODAY = date(2027, 3, 1)
CODES = [
    ("region", "nagasaki", "長崎市"), ("region", "sasebo", "佐世保市"), ("region", "goto", "五島市"),
    ("licence", "jh_1", "中学校教諭一種"), ("licence", "elem_1", "小学校教諭一種"), ("licence", "librarian", "司書教諭"),
    ("subject", "math", "数学"), ("subject", "science", "理科"), ("subject", "english", "英語"),
    ("job_type", "fulltime", "常勤講師"), ("job_type", "parttime", "非常勤講師"),
    ("school_type", "junior_high", "中学校"), ("school_type", "elementary", "小学校"),
    ("correspondence_channel", "phone", "電話"), ("correspondence_channel", "other", "その他"),
]


@dataclass
class World:
    c: dict[str, int]  # code value -> id
    posting_id: int


def add_posting(c: dict[str, int], *, title: str = "中学校 数学 常勤講師", region: str = "nagasaki",
                job_type: str = "fulltime", school_type: str = "junior_high", status: str = "open",
                start: date = date(2027, 4, 1), end: date | None = date(2028, 3, 31),
                required: tuple[str, ...] = ("jh_1",), preferred: tuple[str, ...] = ("librarian",),
                subjects: tuple[str, ...] = ("math", "science", "english")) -> int:
    posting = JobPosting(title=title, school_name="長崎市立テスト中学校", school_type_id=c[school_type],
                         region_id=c[region], job_type_id=c[job_type], period_start=start, period_end=end,
                         status=status)
    db.session.add(posting)
    db.session.flush()
    rows = [{"posting_id": posting.id, "code_id": c[code], "role": role}
            for role, codes in (("required_licence", required), ("preferred_licence", preferred),
                                ("subject", subjects)) for code in codes]
    if rows:
        db.session.execute(posting_code.insert(), rows)
    db.session.commit()
    return posting.id


def build_world(app: Flask) -> World:
    with app.app_context():
        for order, (kind, code, label) in enumerate(CODES):
            db.session.add(Code(kind=kind, code=code, label=label, sort_order=order))
        db.session.flush()
        c = {code.code: code.id for code in db.session.scalars(sa.select(Code))}
        return World(c, add_posting(c))


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def person(app: Flask, make_registrant: Any, world: World, codes: tuple[str, ...] = ("jh_1",),
           region: str | None = "nagasaki", **fields: Any) -> int:
    registrant = make_registrant(password=None, region_id=world.c[region] if region else None, **fields)
    with app.app_context():
        if codes:
            db.session.execute(registrant_code.insert(),
                               [{"registrant_id": registrant.id, "code_id": world.c[code]} for code in codes])
            db.session.commit()
    return int(registrant.id)


def fitting(app: Flask, posting_id: int, today: date = TODAY) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(fits(db.session, db.session.get(JobPosting, posting_id), today)))


# --- hard filters -------------------------------------------------------------------------------

def test_each_hard_filter_excludes_exactly_the_person_who_fails_it(app, make_registrant, world):
    p = lambda **kw: person(app, make_registrant, world, **kw)  # noqa: E731
    ok = p()
    expired = p(status="expired")
    withdrawn = p(status="withdrawn")
    pending = p(status="pending")
    no_consent = p(data_use_consent=False)
    no_licence = p(codes=("elem_1", "librarian", "math"))
    # posting starts 2027-04-01; cut-off is 30 days later
    free_in_time = p(available_from=date(2027, 5, 1))
    free_too_late = p(available_from=date(2027, 5, 2))
    # region: lives elsewhere with desired regions that leave out the school's town
    wants_elsewhere = p(region="sasebo", codes=("jh_1", "goto"))
    wants_here = p(region="sasebo", codes=("jh_1", "nagasaki"))
    anywhere = p(region="sasebo")
    lives_here_wants_other = p(region="nagasaki", codes=("jh_1", "goto"))
    no_residence = p(region=None)

    assert fitting(app, world.posting_id) == {ok, free_in_time, wants_here, anywhere, lives_here_wants_other,
                                              no_residence}
    assert {expired, withdrawn, pending, no_consent, no_licence, free_too_late, wants_elsewhere}.isdisjoint(
        fitting(app, world.posting_id))


def test_a_posting_without_required_licences_takes_anyone_and_its_end_caps_the_start(app, make_registrant, world):
    with app.app_context():
        short = add_posting(world.c, required=(), start=date(2027, 4, 1), end=date(2027, 4, 20))
    unlicensed = person(app, make_registrant, world, codes=("math",))
    starts_on_last_day = person(app, make_registrant, world, available_from=date(2027, 4, 20))
    starts_after_end = person(app, make_registrant, world, available_from=date(2027, 4, 21))
    assert fitting(app, short) == {unlicensed, starts_on_last_day}
    assert starts_after_end not in fitting(app, short)


def test_a_posting_already_running_counts_the_grace_from_today(app, make_registrant, world):
    with app.app_context():
        running = add_posting(world.c, start=date(2026, 10, 1), end=None)
    soon = person(app, make_registrant, world, available_from=TODAY + timedelta(days=30))
    later = person(app, make_registrant, world, available_from=TODAY + timedelta(days=31))
    assert fitting(app, running) == {soon}
    assert later not in fitting(app, running)


def test_eligible_ids_drops_stale_forged_and_unknown_ids(app, make_registrant, world):
    ok = person(app, make_registrant, world)
    gone = person(app, make_registrant, world, status="withdrawn")
    expired = person(app, make_registrant, world, status="expired")
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        assert eligible_ids(db.session, posting, [ok, gone, expired, 999999, ok], TODAY) == {ok}
        assert eligible_ids(db.session, posting, []) == set()


# --- score, parts and order ---------------------------------------------------------------------

def contact(app: Flask, registrant_id: int, world: World, days_ago: int) -> None:
    with app.app_context():
        db.session.add(Correspondence(registrant_id=registrant_id, occurred_at=utcnow() - timedelta(days=days_ago),
                                      channel_id=world.c["phone"], staff_name="テスト", subject="電話", body="連絡"))
        db.session.commit()


def ranking(app: Flask, posting_id: int, **kw: Any) -> scoring.Ranking:
    with app.app_context():
        result = scoring.rank_registrants(db.session, db.session.get(JobPosting, posting_id), today=TODAY, **kw)
        for item in result.items:
            item.registrant = item.registrant.id  # keep only the id outside the session
        return result


def test_score_parts_are_shown_and_ordered_deterministically(app, make_registrant, world):
    best = person(app, make_registrant, world, region="nagasaki",
                  codes=("jh_1", "librarian", "nagasaki", "fulltime", "junior_high", "math", "science", "english"))
    tie_a = person(app, make_registrant, world, region="sasebo", codes=("jh_1", "fulltime"))
    tie_b = person(app, make_registrant, world, region="sasebo", codes=("jh_1", "fulltime"))
    contacted = person(app, make_registrant, world, region="nagasaki", codes=("jh_1", "math"))
    contact(app, contacted, world, days_ago=3)
    contact(app, tie_b, world, days_ago=45)  # older than match_recent_contact_days (30): no effect

    result = ranking(app, world.posting_id)
    order = [item.registrant for item in result.items]
    assert order == [best, tie_a, tie_b, contacted]  # 130, 60, 60 (tie: lower id first), 55
    scores = {item.registrant: item.score for item in result.items}
    # 40 licence + 10 preferred + 20 same town + 10 desired region + 20 job type + 10 school type + 2×10 subjects
    assert scores[best] == 130
    assert scores[contacted] == 40 + 20 + 10 - 15
    assert scores[tie_a] == scores[tie_b] == 60
    texts = {item.registrant: [(p.text, p.points) for p in item.parts] for item in result.items}
    assert texts[best] == [("免許: 中学校教諭一種 ✓", 40), ("歓迎免許: 司書教諭", 10), ("地域: 同じ市町村", 20),
                           ("地域: 希望勤務地域", 10), ("希望職種が一致", 20), ("希望校種が一致", 10),
                           ("教科: 数学", 10), ("教科: 理科", 10)]
    assert ("最近連絡済み", -15) in texts[contacted]
    assert result.total == 4


def test_explained_parts_add_up_to_the_sql_score_under_any_weights(app, make_registrant, world):
    for codes, region in [(("jh_1", "librarian", "math", "english", "fulltime"), "nagasaki"),
                          (("jh_1", "elem_1", "parttime", "elementary", "goto", "nagasaki"), "goto"),
                          (("jh_1", "science", "junior_high"), None), (("jh_1",), "sasebo")]:
        rid = person(app, make_registrant, world, codes=codes, region=region)
        if region == "goto":
            contact(app, rid, world, days_ago=1)
    for weights in (scoring.defaults(), {key: w.maximum for key, w in scoring.WEIGHTS.items()},
                    {key: w.minimum for key, w in scoring.WEIGHTS.items()}, {**scoring.defaults(), "subject": 0}):
        result = ranking(app, world.posting_id, weights=weights)
        assert result.items
        for item in result.items:
            assert item.explained_total == item.score, (weights, item)


def test_pagination_keeps_the_same_order(app, make_registrant, world):
    ids = [person(app, make_registrant, world, codes=("jh_1", "math") if n % 2 else ("jh_1",)) for n in range(7)]
    full = [item.registrant for item in ranking(app, world.posting_id, per_page=50).items]
    paged = [item.registrant for page in (1, 2, 3) for item in ranking(app, world.posting_id, page=page,
                                                                       per_page=3).items]
    assert full == paged and sorted(full) == sorted(ids)
    assert full == sorted(ids, key=lambda rid: (-(90 if ids.index(rid) % 2 else 80), rid))


def test_weights_change_the_order(app, make_registrant, world):
    same_town = person(app, make_registrant, world, region="nagasaki", codes=("jh_1",))
    subjects = person(app, make_registrant, world, region="sasebo", codes=("jh_1", "math", "science"))
    assert [i.registrant for i in ranking(app, world.posting_id).items] == [same_town, subjects]  # 60 vs 60 → id
    with app.app_context():
        scoring.save_weights(db.session, audit.SYSTEM, {"subject": 30})
        db.session.commit()
    assert [i.registrant for i in ranking(app, world.posting_id).items] == [subjects, same_town]


# --- weights screen -----------------------------------------------------------------------------

def weights_form(client: Any, **changes: int) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/admin/matching/weights")}
    data.update({key: w.default for key, w in scoring.WEIGHTS.items()})
    data.update(changes)
    return data


def test_an_administrator_changes_weights_and_every_change_is_audited(app, client, make_staff, world):
    admin = make_staff("administrator")
    login(client, admin.email, STRONG_PASSWORD)
    response = client.post("/admin/matching/weights", data=weights_form(client, subject=25, recent_contact=-30))
    assert response.status_code == 302
    with app.app_context():
        assert scoring.current_weights(db.session)["subject"] == 25
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "matching.weights")).one()
        assert '"subject": [10, 25]' in event.detail and '"recent_contact": [-15, -30]' in event.detail
    page = client.get("/admin/matching/weights").get_data(as_text=True)
    assert 'value="25"' in page

    client.post("/admin/matching/weights/reset", data={"csrf_token": csrf_token(client, "/admin/matching/weights")})
    with app.app_context():
        assert scoring.current_weights(db.session) == scoring.defaults()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchWeight)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "matching.weights")) == 2


@pytest.mark.parametrize("field,value", [("subject", 51), ("recent_contact", 5), ("job_type", -1),
                                         ("school_type", "abc"), ("required_licence", "")])
def test_out_of_range_weights_are_refused_with_a_field_message(app, client, make_staff, world, field, value):
    admin = make_staff("administrator")
    login(client, admin.email, STRONG_PASSWORD)
    response = client.post("/admin/matching/weights", data=weights_form(client, **{field: value}))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "field-errors" in page and ("の整数を入力してください" in page or "整数で入力してください" in page)
    with app.app_context():
        assert scoring.current_weights(db.session) == scoring.defaults()
        assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "matching.weights")).all()


def test_an_editor_cannot_change_weights(app, client, make_staff, world):
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    assert client.get("/admin/matching/weights").status_code == 403


# --- the other direction ------------------------------------------------------------------------

def rank_for(app: Flask, registrant_id: int) -> list[tuple[int, int, int]]:
    from app.registrants.models import Registrant

    with app.app_context():
        result = scoring.rank_postings(db.session, db.session.get(Registrant, registrant_id), today=TODAY)
        return [(item.posting.id, item.score, item.explained_total) for item in result.items]


def test_postings_for_a_registrant_are_ranked_and_explained_the_same_way(app, make_registrant, world):
    with app.app_context():
        other_town = add_posting(world.c, title="佐世保 理科", region="sasebo", subjects=("science",), preferred=())
        elementary = add_posting(world.c, title="小学校", required=("elem_1",))
        closed = add_posting(world.c, title="終了", status="closed")
        late = add_posting(world.c, title="先の話", start=date(2027, 9, 1))
        anyone = add_posting(world.c, title="支援員", required=(), preferred=(), subjects=(), job_type="parttime")
    rid = person(app, make_registrant, world, region="nagasaki",
                 codes=("jh_1", "math", "science", "fulltime", "junior_high"), available_from=date(2027, 4, 10))
    ranked = rank_for(app, rid)
    ids = [pid for pid, _score, _explained in ranked]
    # same score (110) for the main posting and the one starting in September: the lower id first
    assert ids == [world.posting_id, late, other_town, anyone]
    assert [score for _pid, score, _ in ranked] == [110, 110, 80, 30]
    assert elementary not in ids and closed not in ids
    for _pid, score, explained in ranked:
        assert score == explained
    # both directions agree on every score
    with app.app_context():
        for pid, score, _ in ranked:
            assert scoring.scores_for(db.session, db.session.get(JobPosting, pid), [rid])[rid] == score


def test_an_inactive_registrant_fits_no_posting(app, make_registrant, world):
    rid = person(app, make_registrant, world, status="expired")
    assert rank_for(app, rid) == []
    rid = person(app, make_registrant, world, data_use_consent=False)
    assert rank_for(app, rid) == []


def test_both_directions_agree_on_a_seeded_population(app):
    """The registrant-side filters are the posting-side filters solved the other way round: on a seeded
    population, registrant r is in fits(p) exactly when p is among r's postings, with the same score."""
    from app.registrants.models import Registrant
    from bench.matching_seed import seed_matching

    with app.app_context():
        info = seed_matching(db.session, registrants=150, postings=12, today=TODAY, quiet=True)
        postings = [db.session.get(JobPosting, pid) for pid in info["posting_ids"]]
        pairs_from_postings: dict[tuple[int, int], int] = {}
        for posting in postings:
            for item in scoring.rank_registrants(db.session, posting, per_page=1000, today=TODAY).items:
                assert item.explained_total == item.score
                pairs_from_postings[(posting.id, item.registrant.id)] = item.score
        pairs_from_people: dict[tuple[int, int], int] = {}
        for rid in info["registrant_ids"]:
            for item in scoring.rank_postings(db.session, db.session.get(Registrant, rid), per_page=1000,
                                              today=TODAY).items:
                assert item.explained_total == item.score
                pairs_from_people[(item.posting.id, rid)] = item.score
        assert pairs_from_postings, "the seed should produce some matches"
        assert pairs_from_postings == pairs_from_people


def test_the_match_list_shows_ranked_explained_rows_and_is_audited(app, client, make_staff, make_registrant, world):
    rid = person(app, make_registrant, world, codes=("jh_1", "math", "fulltime"), family_name="数井")
    gone = person(app, make_registrant, world, status="withdrawn", family_name="退会")
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    page = client.get(f"/admin/matching/postings/{world.posting_id}").get_data(as_text=True)
    assert "数井" in page and "退会" not in page
    assert "免許: 中学校教諭一種 ✓" in page and "教科: 数学" in page and "希望職種が一致" in page
    assert "候補に追加" not in page  # a viewer sees, never changes
    other = client.get(f"/admin/matching/registrants/{rid}").get_data(as_text=True)
    assert "中学校 数学 常勤講師" in other
    with app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
        assert {"matching.list", "matching.registrant"} <= actions
        details = " ".join(db.session.scalars(sa.select(AuditEvent.detail)))
        assert "数井" not in details
    assert gone
