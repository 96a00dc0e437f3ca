"""Composing mail (S-A3): audience → outbox → worker → a real SMTP listener, with consent, suppression,
the sandboxed merge fields, header injection, roles, scheduling, cancelling and templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core.timeutil import TOKYO, utcnow
from app.extensions import db
from app.mail.compose import recipients_sha256
from app.mail.models import MailCampaign, MailSuppression, MailTemplate, OutboxMessage
from app.outputs.models import OutputRecord
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

COMPOSE = "/admin/mail/compose/"
PUBLIC = "https://tsunagu.example.jp"


@pytest.fixture
def settings_overrides(smtp_server):  # noqa: F811
    return {"smtp_port": smtp_server[1], "public_base_url": PUBLIC, "mail_from": "tsunagu@pref.example.jp"}


@pytest.fixture
def editor(app, client, make_staff):
    user = make_staff("editor", email="editor@example.com")
    login(client, user.email, STRONG_PASSWORD)
    return user


def audience(*ids: int) -> str:
    return json.dumps({"registrant_ids": list(ids)})


def post_compose(client, action: str, ids: tuple[int, ...], subject: str, body: str, **extra):
    token = csrf_token(client, COMPOSE)
    return client.post(COMPOSE, data={"csrf_token": token, "audience": audience(*ids), "action": action,
                                      "subject": subject, "body": body, **extra})


def run_worker(app) -> str:
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


@pytest.fixture
def people(app, make_registrant):
    """Five registrants: two may receive mail, three may not (no consent, suppressed, withdrawn)."""
    hanako = make_registrant(email="hanako@example.com", family_name="山田", given_name="花子")
    taro = make_registrant(email="Taro@Example.com", family_name="佐藤", given_name="太郎",
                           family_name_kana="サトウ", given_name_kana="タロウ")
    no_consent = make_registrant(email="nc@example.com", mail_consent=False)
    bounced = make_registrant(email="bounced@example.com")
    withdrawn = make_registrant(email="gone@example.com", status="withdrawn")
    with app.app_context():
        db.session.add(MailSuppression(address="bounced@example.com", reason="hard_bounce", detail="5.1.1"))
        db.session.commit()
    return {"hanako": hanako, "taro": taro, "no_consent": no_consent, "bounced": bounced, "withdrawn": withdrawn}


def test_a_selection_is_queued_for_consenting_recipients_and_delivered(app, client, editor, people,
                                                                       smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    ids = tuple(sorted(p.id for p in people.values()))
    token = csrf_token(client, COMPOSE)
    page = client.post(COMPOSE, data={"csrf_token": token, "registrant_id": [str(i) for i in ids]})  # from search
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2 人に送信、3 人は除外(同意なし・配信停止・不達)" in text

    response = post_compose(client, "send", ids, "【つなぐ】{{ 姓 }}様へのご案内",
                            "{{ 氏名 }} 様\n登録期限: {{ 登録期限 }}\nマイページ: {{ マイページURL }}")
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.scalars(sa.select(MailCampaign)).one()
        assert (campaign.recipient_count, campaign.skipped_count, campaign.status) == (2, 3, "queued")
        assert response.headers["Location"].endswith(f"/admin/mail/campaigns/{campaign.id}")
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.row_count) == ("mail", 2)
        assert record.sha256 == recipients_sha256([people["hanako"].id, people["taro"].id])
        assert "hanako" not in record.filter_description and "山田" not in record.filter_description
        queued = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mail.campaign_queue")).one()
        assert json.loads(queued.detail) == {"recipients": 2, "skipped": 3, "scheduled": False}
    rows = outbox(app)
    assert {r.registrant_id for r in rows} == {people["hanako"].id, people["taro"].id}
    assert len({r.message_id for r in rows}) == 2 and all(r.message_id.endswith("@pref.example.jp>") for r in rows)

    run_worker(app)
    assert len(inbox.messages) == 2
    [hanako] = inbox.to("hanako@example.com")
    assert hanako["Subject"] == "【つなぐ】山田様へのご案内"
    body = hanako.get_content()
    assert "山田 花子 様" in body and "登録期限: 2027年3月31日" in body and f"{PUBLIC}/me" in body
    assert hanako["List-Unsubscribe"].startswith(f"<{PUBLIC}/mail/unsubscribe/")
    assert "hanako" not in hanako["List-Unsubscribe"]  # the address never appears in the URL
    assert hanako["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert hanako["Auto-Submitted"] is None
    assert {m["Message-ID"] for m in inbox.messages} == {r.message_id for r in rows}
    assert inbox.to("Taro@Example.com")[0]["Subject"] == "【つなぐ】佐藤様へのご案内"
    assert not inbox.to("nc@example.com") and not inbox.to("bounced@example.com") and not inbox.to("gone@example.com")

    history = client.get(f"/admin/mail/campaigns/{campaign.id}").get_data(as_text=True)
    assert "送信済 2・失敗 0・送信待ち 0・不達 0" in history
    assert "hanako@example.com" in history
    listing = client.get("/admin/mail/campaigns").get_data(as_text=True)
    assert "【つなぐ】{{ 姓 }}様へのご案内" in listing and "テスト editor" in listing


@pytest.mark.parametrize(("body", "message"), [
    ("{{ 不明 }} 様", "使えない差し込み項目「不明」"),
    ("{{ ''.__class__.__mro__ }}", "安全のため使えない書き方"),
    ("{{ 氏名.__class__.__base__.__subclasses__() }}", "安全のため使えない書き方"),
    ("{{ 氏名|attr('__class__') }}", "安全のため使えない書き方"),
    ("{{ 'x' * 100000000 }}", "安全のため使えない書き方"),
    ("{{ range(10) }}", "使えない差し込み項目「range」"),
    ("{{ 氏名 ", "書き方に誤りがあります(1行目)"),
])
def test_bad_templates_are_refused_at_preview_and_send_and_nothing_is_queued(app, client, editor, people,
                                                                             body, message):
    ids = (people["hanako"].id,)
    for action in ("preview", "test", "send"):
        response = post_compose(client, action, ids, "件名", body)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, action
        assert message in text, (action, text[:3000])
        assert "メールは送信待ちに入っていません" in text
    assert count_rows(app, OutboxMessage) == 0
    assert count_rows(app, MailCampaign) == 0


def test_line_breaks_in_subject_or_names_never_become_headers(app, client, editor, make_registrant,
                                                              smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    target = make_registrant(email="target@example.com", family_name="山田\r\nBcc: victim@example.com",
                             given_name="花子\nX-Injected: yes")
    response = post_compose(client, "send", (target.id,), "お知らせ\r\nBcc: victim2@example.com {{ 氏名 }}",
                            "本文 {{ 氏名 }}")
    assert response.status_code == 302
    run_worker(app)
    [mail] = inbox.messages
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    subject = " ".join(mail["Subject"].split())
    assert subject == "お知らせ Bcc: victim2@example.com 山田 Bcc: victim@example.com 花子 X-Injected: yes"
    assert mail["To"] == "target@example.com"


def test_a_viewer_cannot_compose_send_or_change_templates(app, client, make_staff, people):
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/mail/campaigns")
    assert client.get(f"{COMPOSE}?registrant_id={people['hanako'].id}").status_code == 403
    data = {"csrf_token": token, "audience": audience(people["hanako"].id), "action": "send", "subject": "s",
            "body": "b"}
    assert client.post(COMPOSE, data=data).status_code == 403
    assert client.post(f"{COMPOSE}templates/new", data={"csrf_token": token, "name": "n", "subject": "s",
                                                         "body": "b"}).status_code == 403
    assert client.get("/admin/mail/compose/templates").status_code == 200  # reading is fine
    assert count_rows(app, OutboxMessage) == 0 and count_rows(app, MailTemplate) == 0


def _tokyo_input(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def test_a_scheduled_send_waits_for_its_time_and_can_be_cancelled(app, client, editor, people,
                                                                   smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    ids = (people["hanako"].id, people["taro"].id)
    past = post_compose(client, "send", ids, "件名", "本文", scheduled_at=_tokyo_input(utcnow() - timedelta(hours=1)))
    assert "予約日時は現在より後の日時を指定してください" in past.get_data(as_text=True)
    later = utcnow() + timedelta(hours=2)
    assert post_compose(client, "send", ids, "予約のお知らせ", "本文",
                        scheduled_at=_tokyo_input(later)).status_code == 302
    run_worker(app)
    assert inbox.messages == []
    with app.app_context():
        campaign = db.session.scalars(sa.select(MailCampaign)).one()
        assert campaign.status == "scheduled"
        assert abs((campaign.scheduled_at - later).total_seconds()) < 60
        db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == sa.select(sa.func.min(
            OutboxMessage.id)).scalar_subquery()).values(not_before=utcnow() - timedelta(seconds=1)))
        db.session.commit()  # time passes for one of the two rows
        campaign_id = campaign.id
    run_worker(app)
    assert len(inbox.messages) == 1

    page = client.get(f"/admin/mail/campaigns/{campaign_id}").get_data(as_text=True)
    assert "未送信分の送信を取り消す" in page
    token = csrf_token(client, f"/admin/mail/campaigns/{campaign_id}")
    response = client.post(f"/admin/mail/campaigns/{campaign_id}/cancel", data={"csrf_token": token},
                           follow_redirects=True)
    assert "未送信の 1 件は送信されません" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(MailCampaign, campaign_id).status == "cancelled"
        db.session.execute(sa.update(OutboxMessage).values(not_before=utcnow() - timedelta(hours=3)))
        db.session.commit()
    run_worker(app)
    assert len(inbox.messages) == 1
    assert [r.status for r in outbox(app)] == ["sent"]


def test_preview_per_recipient_and_a_test_send_to_oneself(app, client, editor, people,
                                                          smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    ids = (people["hanako"].id, people["taro"].id)
    page = post_compose(client, "preview", ids, "{{ 姓 }}様", "{{ 氏名カナ }} 様",
                        preview_registrant=str(people["taro"].id)).get_data(as_text=True)
    assert "サトウ タロウ 様" in page and "Taro@Example.com" in page
    assert "配信を停止するには" in page  # the footer is part of what is previewed
    outside = post_compose(client, "preview", ids, "件名", "本文", preview_registrant=str(people["no_consent"].id))
    assert "プレビューする登録者が宛先に含まれていません" in outside.get_data(as_text=True)

    response = post_compose(client, "test", ids, "{{ 姓 }}様", "{{ 氏名 }} 様",
                            preview_registrant=str(people["hanako"].id))
    assert "テスト送信を受け付けました" in response.get_data(as_text=True)
    assert count_rows(app, MailCampaign) == 0 and count_rows(app, OutputRecord) == 0
    run_worker(app)
    [mail] = inbox.messages
    assert mail["To"] == "editor@example.com"
    assert mail["Subject"] == "[テスト送信] 山田様"
    assert "山田 花子 様" in mail.get_content()


def test_templates_are_maintained_and_picked_while_composing(app, client, editor, people):
    token = csrf_token(client, f"{COMPOSE}templates/new")
    bad = client.post(f"{COMPOSE}templates/new", data={"csrf_token": token, "name": "年度更新",
                                                       "subject": "件名", "body": "{{ 住所 }}"})
    assert "使えない差し込み項目「住所」" in bad.get_data(as_text=True)
    good = client.post(f"{COMPOSE}templates/new", data={"csrf_token": token, "name": "年度更新",
                                                        "subject": "【つなぐ】年度更新のお願い",
                                                        "body": "{{ 氏名 }} 様\n期限は {{ 登録期限 }} です。"})
    assert good.status_code == 302
    duplicate = client.post(f"{COMPOSE}templates/new", data={"csrf_token": token, "name": "年度更新",
                                                             "subject": "s", "body": "b"})
    assert "同じ名前のひな形があります" in duplicate.get_data(as_text=True)
    with app.app_context():
        template_id = db.session.scalars(sa.select(MailTemplate.id)).one()
    listing = client.get(f"{COMPOSE}templates").get_data(as_text=True)
    assert "【つなぐ】年度更新のお願い" in listing

    page = post_compose(client, "load_template", (people["hanako"].id,), "", "", template=str(template_id))
    text = page.get_data(as_text=True)
    assert "ひな形「年度更新」を読み込みました" in text and "期限は {{ 登録期限 }} です。" in text

    edit = client.post(f"{COMPOSE}templates/{template_id}/edit", data={
        "csrf_token": token, "name": "年度更新", "subject": "改", "body": "{{ 名 }} さん"})
    assert edit.status_code == 302
    assert client.post(f"{COMPOSE}templates/{template_id}/delete", data={"csrf_token": token}).status_code == 302
    assert count_rows(app, MailTemplate) == 0
    with app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("mail.template%"))))
    assert actions == {"mail.template_create", "mail.template_update", "mail.template_delete"}


def test_saved_search_and_criteria_audiences_are_resolved_in_sql(app, client, editor, make_staff, people):
    from app.searches.models import SavedSearch

    other = make_staff("editor")
    with app.app_context():
        mine = SavedSearch(name="有効な人", owner_id=editor.id, criteria=json.dumps({"statuses": ["active"]}),
                           columns="name", sort="-registered_at")
        private = SavedSearch(name="他人の検索", owner_id=other.id, criteria="{}", columns="name", sort="id")
        db.session.add_all([mine, private])
        db.session.commit()
        mine_id, private_id = mine.id, private.id
    page = client.get(f"{COMPOSE}?saved_search_id={mine_id}").get_data(as_text=True)
    assert "保存した検索「有効な人」" in page
    assert "2 人に送信、2 人は除外" in page  # four active; one has no consent, one is suppressed
    assert "保存した検索が見つからないか" in client.get(f"{COMPOSE}?saved_search_id={private_id}").get_data(as_text=True)
    page = client.get(f"{COMPOSE}?statuses=withdrawn").get_data(as_text=True)
    assert "0 人に送信、1 人は除外" in page
    assert "年齢" in client.get(f"{COMPOSE}?age_min=abc").get_data(as_text=True)  # tampered criteria: a message

    token = csrf_token(client, COMPOSE)
    response = client.post(COMPOSE, data={"csrf_token": token, "audience": json.dumps({"saved_search_id": mine_id}),
                                          "action": "send", "subject": "保存した検索へ", "body": "{{ 氏名 }} 様"})
    assert response.status_code == 302
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert json.loads(record.filter_description)["saved_search_id"] == mine_id
    assert len(outbox(app)) == 2


def test_a_tampered_audience_is_refused_with_a_message(app, client, editor, people):
    token = csrf_token(client, COMPOSE)
    for tampered in ("not json", json.dumps({"registrant_ids": ["1; DROP TABLE registrant"]}),
                     json.dumps({"criteria": {"age_min": "x"}}), json.dumps([1, 2])):
        response = client.post(COMPOSE, data={"csrf_token": token, "audience": tampered, "action": "send",
                                              "subject": "s", "body": "b"})
        assert response.status_code == 200
        assert "宛先" in response.get_data(as_text=True) or "年齢" in response.get_data(as_text=True)
    assert count_rows(app, OutboxMessage) == 0
