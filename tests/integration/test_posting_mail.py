"""Mail about a job posting, opened from a match list: posting merge fields, only registrants who still fit,
delivery to a real SMTP listener, and every recipient becomes a 「連絡済」 candidate with a correspondence entry."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.correspondence.models import Correspondence
from app.extensions import db
from app.mail.models import MailCampaign, OutboxMessage
from app.matching.models import MatchCandidate
from app.outputs.models import OutputRecord
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.posting_data import give_codes, make_codes, make_posting
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

COMPOSE = "/admin/mail/compose/"
PUBLIC = "https://tsunagu.example.jp"
SUBJECT = "求人のご案内: {{ 求人名 }}"
BODY = ("{{ 氏名 }} 様\n{{ 学校名 }}({{ 校種 }}・{{ 勤務地 }})の{{ 職種 }}を募集しています。\n"
        "期間: {{ 勤務期間 }} / {{ 勤務日時 }} / {{ 募集人数 }}\n問い合わせ: {{ 問い合わせ先 }}\n{{ 求人URL }}")


@pytest.fixture
def settings_overrides(smtp_server):  # noqa: F811
    return {"smtp_port": smtp_server[1], "public_base_url": PUBLIC, "mail_from": "tsunagu@pref.example.jp"}


@pytest.fixture
def editor(app, client, make_staff):
    user = make_staff("editor", email="editor@example.com")
    login(client, user.email, STRONG_PASSWORD)
    return user


@pytest.fixture
def world(app, make_registrant):
    """A maths posting; three registrants who fit it, and three in a stale selection who must not get mail."""
    codes = make_codes(app)
    posting_id = make_posting(app, codes)

    def person(key: str, licences: tuple[str, ...] = ("jhs_math1",), **fields) -> int:
        registrant = make_registrant(email=f"{key}@example.com", region_id=codes["nagasaki"], **fields)
        give_codes(app, registrant.id, codes, *licences)
        return registrant.id

    ids = {"aoi": person("aoi", given_name="葵"), "ken": person("ken", given_name="健"),
           "mio": person("mio", given_name="澪"),
           "withdrawn": person("withdrawn", status="withdrawn"), "expired": person("expired", status="expired"),
           "no_licence": person("no_licence", licences=())}
    return {"codes": codes, "posting_id": posting_id, "ids": ids}


def audience(world, *keys: str) -> str:
    return json.dumps({"registrant_ids": sorted(world["ids"][k] for k in keys), "posting_id": world["posting_id"]})


def post(client, world, action: str, keys: tuple[str, ...], subject: str = SUBJECT, body: str = BODY):
    token = csrf_token(client, COMPOSE)
    return client.post(COMPOSE, data={"csrf_token": token, "audience": audience(world, *keys), "action": action,
                                      "subject": subject, "body": body})


ALL = ("aoi", "ken", "mio", "withdrawn", "expired", "no_licence")


def test_a_match_list_selection_opens_compose_with_the_posting_and_its_defaults(app, client, editor, world):
    token = csrf_token(client, COMPOSE)
    page = client.post(COMPOSE, data={"csrf_token": token, "posting_id": str(world["posting_id"]),
                                      "registrant_id": [str(world["ids"][k]) for k in ALL]})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "案内する求人" in text and "長崎市立つなぐ中学校" in text
    assert "3 人に送信、3 人は除外(同意なし・配信停止・不達・求人の条件に合わない)" in text
    assert "求人の条件に合わなくなった(免許・勤務できる時期・地域・データ利用の同意など): 1 人" in text
    assert "有効でない登録(確認待ち・期限切れ・退会など): 2 人" in text
    assert "求人のご案内: {{ 求人名 }}" in text  # the default subject
    assert "{{ 求人URL }}" in text  # the posting fields are listed
    by_get = client.get(f"{COMPOSE}?posting_id={world['posting_id']}&registrant_id={world['ids']['aoi']}")
    assert "1 人に送信、0 人は除外" in by_get.get_data(as_text=True)


def test_preview_fills_the_posting_fields_and_an_unknown_field_is_a_clear_error(app, client, editor, world):
    text = post(client, world, "preview", ("aoi",)).get_data(as_text=True)
    assert "求人のご案内: 中学校 数学 常勤講師" in text
    assert "長崎市立つなぐ中学校(中学校・長崎市)の常勤講師を募集しています。" in text
    assert "月〜金 8:15〜16:45 / 1人" in text and f"{PUBLIC}/postings/{world['posting_id']}" in text
    refused = post(client, world, "send", ("aoi",), body="{{ 給与 }} です").get_data(as_text=True)
    assert "使えない差し込み項目「給与」" in refused and "求人名" in refused
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchCandidate)) == 0


def test_send_delivers_to_those_who_still_fit_and_makes_them_contacted_candidates(app, client, editor, world,
                                                                                  smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    ids = world["ids"]
    response = post(client, world, "send", ALL)
    assert response.status_code == 302
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert sorted(m["To"] for m in inbox.messages) == ["aoi@example.com", "ken@example.com", "mio@example.com"]
    [aoi] = inbox.to("aoi@example.com")
    assert aoi["Subject"] == "求人のご案内: 中学校 数学 常勤講師"
    body = aoi.get_content()
    assert "山田 葵 様" in body and "問い合わせ: つなぐ中学校 教頭 000-0000-0000" in body
    assert f"{PUBLIC}/postings/{world['posting_id']}" in body and f"{PUBLIC}/mail/unsubscribe/" in body

    with app.app_context():
        candidates = dict(db.session.execute(sa.select(MatchCandidate.registrant_id, MatchCandidate.stage)).all())
        assert candidates == {ids["aoi"]: "contacted", ids["ken"]: "contacted", ids["mio"]: "contacted"}
        entries = db.session.scalars(sa.select(Correspondence).order_by(Correspondence.registrant_id)).all()
        assert sorted(e.registrant_id for e in entries) == sorted(candidates)
        assert all("中学校 数学 常勤講師" in e.subject and "連絡済" in e.subject for e in entries)
        record = db.session.scalars(sa.select(OutputRecord)).one()
        filters = json.loads(record.filter_description)
        assert filters["posting_id"] == world["posting_id"] and record.row_count == 3
        campaign = db.session.scalars(sa.select(MailCampaign)).one()
        assert (campaign.recipient_count, campaign.skipped_count) == (3, 3)
        assert json.loads(campaign.audience)["posting_id"] == world["posting_id"]


def test_a_mail_never_moves_a_candidate_backwards(app, client, editor, world):
    ids = world["ids"]
    with app.app_context():
        db.session.add(MatchCandidate(posting_id=world["posting_id"], registrant_id=ids["aoi"], stage="hired",
                                      score=50, note="校長面接済み"))
        db.session.add(MatchCandidate(posting_id=world["posting_id"], registrant_id=ids["ken"], stage="proposed",
                                      score=40, note="数学の経験が長い"))
        db.session.commit()
    assert post(client, world, "send", ("aoi", "ken")).status_code == 302
    with app.app_context():
        rows = {c.registrant_id: c for c in db.session.scalars(sa.select(MatchCandidate))}
        assert rows[ids["aoi"]].stage == "hired" and rows[ids["ken"]].stage == "contacted"
        assert rows[ids["ken"]].note == "数学の経験が長い"  # the staff memo is kept


def test_a_closed_posting_or_a_bad_posting_id_is_refused_with_a_message(app, client, editor, world):
    with app.app_context():
        from app.postings.models import JobPosting

        db.session.get(JobPosting, world["posting_id"]).status = "closed"
        db.session.commit()
    text = client.get(f"{COMPOSE}?posting_id={world['posting_id']}&registrant_id={world['ids']['aoi']}").get_data(
        as_text=True)
    assert "この求人は募集中ではないため、案内メールを送れません。" in text
    assert post(client, world, "send", ("aoi",)).status_code == 200
    assert "求人が見つかりません" in client.get(f"{COMPOSE}?posting_id=999999&registrant_id=1").get_data(as_text=True)
    assert "宛先の指定が正しくありません" in client.get(f"{COMPOSE}?posting_id=abc").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
