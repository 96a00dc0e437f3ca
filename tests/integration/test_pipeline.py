"""Working a match (S-A13): candidates, stages, the correspondence and audit each step leaves, filling
a posting, and selections that went stale or were forged."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.correspondence.models import Correspondence
from app.extensions import db
from app.matching import pipeline
from app.matching.models import MatchCandidate
from app.postings.models import JobPosting
from app.registrants.models import Registrant
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.integration.test_matching import World, build_world, person
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def match_path(world: World) -> str:
    return f"/admin/matching/postings/{world.posting_id}"


def candidates(app: Flask, world: World) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(MatchCandidate.registrant_id, MatchCandidate.stage)
                                       .where(MatchCandidate.posting_id == world.posting_id)).all())


def subjects_of(app: Flask, registrant_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Correspondence.subject)
                                       .where(Correspondence.registrant_id == registrant_id)
                                       .order_by(Correspondence.id)))


def set_status(app: Flask, registrant_id: int, status: str) -> None:
    with app.app_context():
        db.session.get(Registrant, registrant_id).status = status
        db.session.commit()


def propose(client: Any, world: World, ids: list[Any]) -> str:
    token = csrf_token(client, match_path(world))
    response = client.post(f"{match_path(world)}/propose", data={"csrf_token": token, "registrant_id": ids},
                           follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def stage(client: Any, world: World, registrant_id: Any, value: str, note: str = "") -> str:
    token = csrf_token(client, match_path(world))
    response = client.post(f"{match_path(world)}/stage", follow_redirects=True,
                           data={"csrf_token": token, "registrant_id": registrant_id, "stage": value, "note": note})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_editor_adds_candidates_moves_one_to_hired_and_fills_the_posting(app, client, make_staff, make_registrant,
                                                                            world):
    first = person(app, make_registrant, world, codes=("jh_1", "math"), family_name="一番")
    second = person(app, make_registrant, world, family_name="二番")
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)

    page = propose(client, world, [first, second])
    assert "2 人を候補に追加しました" in page
    assert candidates(app, world) == {first: "proposed", second: "proposed"}
    assert subjects_of(app, first) == ["求人『中学校 数学 常勤講師』: 提案"]
    assert "この求人を充足にする" not in page

    page = stage(client, world, first, "interviewing", note="面接 4月3日")
    page = stage(client, world, first, "hired")
    assert "選考段階を「採用」にしました" in page
    assert candidates(app, world)[first] == "hired"
    assert subjects_of(app, first) == ["求人『中学校 数学 常勤講師』: 提案", "求人『中学校 数学 常勤講師』: 面接中",
                                       "求人『中学校 数学 常勤講師』: 採用"]
    with app.app_context():
        hired = db.session.scalars(sa.select(Correspondence).where(Correspondence.registrant_id == first)
                                   .order_by(Correspondence.id.desc())).first()
        assert hired.outcome == "採用" and "「面接中」から「採用」" in hired.body
        assert hired.channel.code == "other" and hired.staff_id == editor.id
        row = db.session.scalars(sa.select(MatchCandidate).where(MatchCandidate.registrant_id == first)).one()
        assert row.note == "面接 4月3日" and row.score == 40 + 20 + 10  # licence, same town, maths
    assert "この求人を充足にする" in page

    response = client.post(f"{match_path(world)}/fill", data={"csrf_token": csrf_token(client, match_path(world))},
                           follow_redirects=True)
    assert "求人を充足にしました" in response.get_data(as_text=True)
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        assert posting.status == "filled" and posting.closed_at is not None
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
        actions = [e.action for e in events]
        assert "matching.propose" in actions and actions.count("matching.stage") == 2
        assert any(e.action == "posting.status" and '"to": "filled"' in e.detail for e in events)
        assert not any("一番" in e.detail or "二番" in e.detail or "一番" in e.target for e in events)


def test_a_stale_or_forged_selection_never_adds_anyone_else(app, client, make_staff, make_registrant, world):
    ok = person(app, make_registrant, world)
    withdrew = person(app, make_registrant, world)
    expired = person(app, make_registrant, world)
    unlicensed = person(app, make_registrant, world, codes=("elem_1",))
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    listed = client.get(match_path(world)).get_data(as_text=True)
    assert f'value="{withdrew}"' in listed
    set_status(app, withdrew, "withdrawn")  # withdrew while the list was open
    set_status(app, expired, "expired")

    page = propose(client, world, [ok, withdrew, expired, unlicensed, 999999, "abc", "-3"])
    assert "1 人を候補に追加しました" in page
    assert "6 人は退会・期限切れ・同意の撤回などで条件に合わなくなったため、追加しませんでした" in page
    assert candidates(app, world) == {ok: "proposed"}
    assert subjects_of(app, withdrew) == [] and subjects_of(app, expired) == []

    page = propose(client, world, [ok])
    assert "1 人はすでに候補に入っています" in page
    assert subjects_of(app, ok) == ["求人『中学校 数学 常勤講師』: 提案"]
    assert "候補に追加する人を選んでください" in propose(client, world, [])


def test_stage_changes_for_non_candidates_or_people_who_withdrew_are_refused(app, client, make_staff, make_registrant,
                                                                            world):
    candidate = person(app, make_registrant, world)
    stranger = person(app, make_registrant, world)
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    propose(client, world, [candidate])

    assert "この人はこの求人の候補に入っていません" in stage(client, world, stranger, "hired")
    assert "選考段階の指定が正しくありません" in stage(client, world, candidate, "promoted")
    assert candidates(app, world) == {candidate: "proposed"}
    set_status(app, candidate, "withdrawn")
    assert "退会などにより候補にできません" in stage(client, world, candidate, "hired")
    assert candidates(app, world) == {candidate: "proposed"}
    assert "選考段階を変更できませんでした" in stage(client, world, "x", "hired")
    response = client.post(f"{match_path(world)}/fill", data={"csrf_token": csrf_token(client, match_path(world))},
                           follow_redirects=True)
    assert "採用した候補者がいる求人だけを充足にできます" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(JobPosting, world.posting_id).status == "open"


def staff(make_staff: Any) -> Any:
    from app.staff.models import StaffUser

    user_id = make_staff("editor").id
    db.session.commit()  # a fresh snapshot (MariaDB), so the staff row made in another session is visible
    return db.session.get(StaffUser, user_id)


def test_set_stage_service_refuses_to_create_a_candidate_who_does_not_fit(app, make_registrant, make_staff, world):
    unlicensed = person(app, make_registrant, world, codes=("math",))
    fine = person(app, make_registrant, world)
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        with pytest.raises(pipeline.PipelineError):
            pipeline.set_stage(db.session, staff(make_staff), posting, unlicensed, "proposed")
        db.session.rollback()
        row = pipeline.set_stage(db.session, staff(make_staff), posting, fine, "contacted", note="電話で案内")
        db.session.commit()
        assert row.stage == "contacted"
        assert pipeline.counts_by_stage(db.session, posting.id) == {"proposed": 0, "contacted": 1, "interviewing": 0,
                                                                    "hired": 0, "declined": 0}


def test_the_channel_other_is_created_when_the_master_lacks_it(app, make_registrant, make_staff, world):
    fine = person(app, make_registrant, world)
    with app.app_context():
        db.session.execute(sa.delete(Code).where(Code.code == "other"))
        db.session.commit()
        posting = db.session.get(JobPosting, world.posting_id)
        pipeline.set_stage(db.session, staff(make_staff), posting, fine, "proposed")
        db.session.commit()
        entry = db.session.scalars(sa.select(Correspondence)).one()
        assert entry.channel.code == "other" and entry.channel.label == "その他"


def test_the_pipeline_shows_counts_and_candidates_by_stage(app, client, make_staff, make_registrant, world):
    a = person(app, make_registrant, world, family_name="青木")
    b = person(app, make_registrant, world, family_name="馬場")
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    propose(client, world, [a, b])
    page = stage(client, world, b, "declined")
    assert "選考の状況" in page and "青木" in page and "馬場" in page
    assert 'class="stage-badge stage-declined">辞退' in page
    assert "提案 <strong>1</strong>" in page and "辞退 <strong>1</strong>" in page


@pytest.mark.parametrize("path,data", [
    ("/propose", {"registrant_id": "1"}), ("/stage", {"registrant_id": "1", "stage": "hired"}), ("/fill", {})])
def test_a_viewer_gets_403_on_every_pipeline_post(app, client, make_staff, make_registrant, world, path, data):
    rid = person(app, make_registrant, world)
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        pipeline.set_stage(db.session, staff(make_staff), posting, rid, "hired")
        db.session.commit()
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    token = csrf_token(client, match_path(world))
    response = client.post(f"{match_path(world)}{path}", data={"csrf_token": token, **data})
    assert response.status_code == 403
    for weights_path in ("/admin/matching/weights", "/admin/matching/weights/reset"):
        assert client.post(weights_path, data={"csrf_token": token, "subject": "20"}).status_code == 403
    assert candidates(app, world) == {rid: "hired"}
    with app.app_context():
        assert db.session.get(JobPosting, world.posting_id).status == "open"


def test_the_pipelines_own_entries_lower_the_score_only_for_other_postings(app, make_registrant, make_staff, world):
    from app.matching import scoring
    from tests.integration.test_matching import add_posting

    rid = person(app, make_registrant, world)
    with app.app_context():
        other = add_posting(world.c, title="別の求人")
        posting = db.session.get(JobPosting, world.posting_id)
        pipeline.set_stage(db.session, staff(make_staff), posting, rid, "proposed")
        db.session.commit()
        here = scoring.rank_registrants(db.session, posting).items[0]
        there = scoring.rank_registrants(db.session, db.session.get(JobPosting, other)).items[0]
        assert here.stage == "proposed" and here.score == here.explained_total == 60
        assert there.score == there.explained_total == 60 - 15
        assert [part.text for part in there.parts][-1] == "最近連絡済み"


def test_the_posting_detail_page_shows_the_pipeline_and_fills_from_there(app, client, make_staff, make_registrant,
                                                                         world):
    rid = person(app, make_registrant, world, family_name="詳細")
    with app.app_context():
        posting = db.session.get(JobPosting, world.posting_id)
        pipeline.set_stage(db.session, staff(make_staff), posting, rid, "hired")
        db.session.commit()
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    detail = f"/admin/postings/{world.posting_id}"
    page = client.get(detail).get_data(as_text=True)
    assert "選考の状況" in page and "詳細" in page and "採用 <strong>1</strong>" in page and "この求人を充足にする" in page
    response = client.post(f"{match_path(world)}/fill", data={"csrf_token": csrf_token(client, detail),
                                                              "next": "posting"})
    assert response.status_code == 302 and response.headers["Location"].startswith(detail)
    with app.app_context():
        assert db.session.get(JobPosting, world.posting_id).status == "filled"
