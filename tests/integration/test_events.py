"""N14 exchange events: editing and publishing, RSVP with capacity and waitlist, cancellation, reminders,
attendee export and attendance — on SQLite and MariaDB."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from app.audit.models import AuditEvent
from app.core.timeutil import TOKYO, utcnow
from app.events import services
from app.events.models import Event, EventRsvp
from app.extensions import db
from app.mail.models import MailSuppression, OutboxMessage
from app.outputs.models import OutputRecord
from app.registrants.models import Registrant
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def make_event(app: Flask, *, starts_in: timedelta = timedelta(days=10), published: bool = True,
               **fields: Any) -> int:
    with app.app_context():
        now = utcnow()
        values = {"title": "交流会", "description": "説明", "starts_at": now + starts_in,
                  "ends_at": now + starts_in + timedelta(hours=2), "place": "架空市民会館",
                  "published_at": now - timedelta(days=1) if published else None, **fields}
        event = Event(**values)
        db.session.add(event)
        db.session.commit()
        return event.id


def portal_client(app: Flask, registrant: Any) -> Any:
    client = app.test_client()
    assert login(client, registrant.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def staff_client(app: Flask, user: Any) -> Any:
    client = app.test_client()
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302
    return client


def rsvp(client: Any, event_id: int, action: str = "rsvp") -> str:
    path = f"/events/{event_id}"
    response = client.post(path, data={"csrf_token": csrf_token(client, path), action: "1"}, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def statuses(app: Flask, event_id: int) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(EventRsvp.registrant_id, EventRsvp.status)
                                       .where(EventRsvp.event_id == event_id)).all())


def event_mails(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.category == services.MAIL_CATEGORY)
                                  .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def tokyo(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Tokyo wall-clock time as the naive UTC value stored."""
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC).replace(tzinfo=None)


# --- staff: create, publish, list ---------------------------------------------------------------------------

def event_form(**values: Any) -> dict[str, Any]:
    return {"title": "教職員OB交流会", "description": "近況を語り合う会です。", "starts_at": "2031-07-10T14:00",
            "ends_at": "2031-07-10T16:00", "place": "架空県庁 講堂", "online_url": "", "capacity": "30",
            "rsvp_closes_at": "2031-07-08T17:00", **values}


def test_an_editor_creates_and_publishes_an_event_that_registrants_then_see(app, make_staff, make_registrant):
    editor, registrant = make_staff("editor"), make_registrant()
    staff = staff_client(app, editor)
    response = staff.post("/admin/events/new", data={"csrf_token": csrf_token(staff, "/admin/events/new"),
                                                     **event_form(capacity="３０")})
    assert response.status_code == 302
    with app.app_context():
        event = db.session.scalar(sa.select(Event))
        assert event.starts_at == datetime(2031, 7, 10, 5, 0)  # typed in Tokyo time, stored in UTC
        assert event.rsvp_closes_at == datetime(2031, 7, 8, 8, 0) and event.capacity == 30
        assert event.published_at is None and event.created_by_id == editor.id
        event_id = event.id
    me = portal_client(app, registrant)
    assert "教職員OB交流会" not in me.get("/events/").get_data(as_text=True)
    assert me.get(f"/events/{event_id}").status_code == 404  # a draft is not there for registrants
    page = f"/admin/events/{event_id}"
    assert staff.post(f"{page}/publish", data={"csrf_token": csrf_token(staff, page)}).status_code == 302
    listing = me.get("/events/").get_data(as_text=True)
    assert "教職員OB交流会" in listing and "残り 30 席" in listing
    detail = me.get(f"/events/{event_id}").get_data(as_text=True)
    assert "2031年7月10日(木) 14:00〜16:00" in detail and "参加を申し込む" in detail
    admin_list = staff.get("/admin/events").get_data(as_text=True)
    assert "教職員OB交流会" in admin_list and "公開中" in admin_list


@pytest.mark.parametrize(("values", "message"), [
    ({"online_url": "http://meet.example.com/x", "place": ""}, "https:// で始まるURLを入力してください。"),
    ({"online_url": "javascript:alert(1)", "place": ""}, "https:// で始まるURLを入力してください。"),
    ({"ends_at": "2031-07-10T13:00"}, "終了日時は開始日時より後にしてください。"),
    ({"capacity": "abc"}, "定員は1以上の整数"),
    ({"capacity": "0"}, "定員は1以上の整数"),
    ({"place": "", "online_url": ""}, "会場かオンライン参加のURLのどちらかを入力してください。"),
    ({"rsvp_closes_at": "2031-07-11T09:00"}, "申込の締切は開始日時より前にしてください。"),
    ({"title": "x" * 201}, "入力内容を確認してください。"),
    ({"description": "説明\x00"}, "使用できない制御文字が含まれています。"),
])
def test_bad_event_input_gets_a_clear_message_and_saves_nothing(app, make_staff, values, message):
    staff = staff_client(app, make_staff("editor"))
    response = staff.post("/admin/events/new", data={"csrf_token": csrf_token(staff, "/admin/events/new"),
                                                     **event_form(**values)})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_an_online_event_shows_its_link_only_to_those_going(app, make_registrant):
    event_id = make_event(app, place=None, online_url="https://meet.example.com/abc", capacity=1)
    first, second = make_registrant(), make_registrant()
    one, two = portal_client(app, first), portal_client(app, second)
    assert "https://meet.example.com/abc" not in one.get(f"/events/{event_id}").get_data(as_text=True)
    assert "https://meet.example.com/abc" in rsvp(one, event_id)
    assert "https://meet.example.com/abc" not in rsvp(two, event_id)  # waitlisted


# --- RSVP: capacity, waitlist, promotion, double submit, deadlines -------------------------------------------

def test_capacity_waitlist_and_promotion_of_the_first_waitlisted(app, make_registrant):
    event_id = make_event(app, capacity=2)
    people = [make_registrant(email=f"p{n}@example.com") for n in range(4)]
    clients = [portal_client(app, person) for person in people]
    assert "参加の申込を受け付けました。" in rsvp(clients[0], event_id)
    assert "参加の申込を受け付けました。" in rsvp(clients[1], event_id)
    page = rsvp(clients[2], event_id)
    assert "定員に達したため、キャンセル待ちに登録しました" in page and "1 番目" in page
    assert "2 番目" in rsvp(clients[3], event_id)
    assert statuses(app, event_id) == {people[0].id: "going", people[1].id: "going", people[2].id: "waitlist",
                                       people[3].id: "waitlist"}
    assert "申込を取り消しました。" in rsvp(clients[1], event_id, "cancel")
    assert statuses(app, event_id) == {people[0].id: "going", people[1].id: "cancelled", people[2].id: "going",
                                       people[3].id: "waitlist"}
    mails = event_mails(app)
    assert [(m.to_address, m.registrant_id) for m in mails] == [("p2@example.com", people[2].id)]
    assert "キャンセル待ちから参加が確定しました" in mails[0].subject and "交流会" in mails[0].body_text
    assert "1 番目" in clients[3].get(f"/events/{event_id}").get_data(as_text=True)
    # cancelling a waitlisted RSVP frees no seat: nobody moves up
    rsvp(clients[3], event_id, "cancel")
    assert len(event_mails(app)) == 1
    # applying again after cancelling goes to the back of the queue (the seat is taken again)
    assert "キャンセル待ち" in rsvp(clients[1], event_id)
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("event.%"))).all()
        assert actions.count("event.rsvp") == 5 and actions.count("event.rsvp_cancel") == 2


def test_a_promoted_registrant_without_mail_consent_moves_up_but_gets_no_mail(app, make_registrant):
    event_id = make_event(app, capacity=1)
    going, waiting = make_registrant(), make_registrant(mail_consent=False)
    suppressed = make_registrant(email="gone@example.com")
    with app.app_context():
        db.session.add(MailSuppression(address="gone@example.com", reason="hard_bounce"))
        db.session.commit()
    one = portal_client(app, going)
    rsvp(one, event_id)
    rsvp(portal_client(app, waiting), event_id)
    rsvp(portal_client(app, suppressed), event_id)
    rsvp(one, event_id, "cancel")
    assert statuses(app, event_id)[waiting.id] == "going"
    assert event_mails(app) == []


def test_a_double_rsvp_is_refused_and_counted_once(app, make_registrant):
    event_id = make_event(app, capacity=5)
    me = portal_client(app, make_registrant())
    rsvp(me, event_id)
    page = rsvp(me, event_id)
    assert "このイベントにはすでに申し込んでいます。" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EventRsvp)) == 1
    assert "残り 4 席" in me.get("/events/").get_data(as_text=True)


def test_two_last_seat_rsvps_cannot_both_get_in(app, make_registrant):
    """The second request waits for the first one's lock on the event row, then counts its seat as taken."""
    event_id = make_event(app, capacity=1)
    first, second = make_registrant(), make_registrant()
    locked, results, waited = threading.Event(), {}, {}

    def holder() -> None:
        with app.app_context():
            results["first"] = services.rsvp(db.session, event_id, db.session.get(Registrant, first.id), None)
            locked.set()
            time.sleep(0.6)
            db.session.commit()

    def latecomer() -> None:
        locked.wait(10)
        with app.app_context():
            me = db.session.get(Registrant, second.id)  # MariaDB: this read fixes the snapshot before the commit
            started = time.monotonic()
            results["second"] = services.rsvp(db.session, event_id, me, None)
            waited["seconds"] = time.monotonic() - started
            db.session.commit()

    threads = [threading.Thread(target=holder), threading.Thread(target=latecomer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"first": "going", "second": "waitlist"}
    assert waited["seconds"] > 0.3  # it really waited for the lock
    assert sorted(statuses(app, event_id).values()) == ["going", "waitlist"]


def test_the_unique_constraint_backs_the_one_rsvp_rule(app, make_registrant):
    event_id, registrant = make_event(app), make_registrant()
    with app.app_context():
        db.session.add(EventRsvp(event_id=event_id, registrant_id=registrant.id, status="going"))
        db.session.commit()
        db.session.add(EventRsvp(event_id=event_id, registrant_id=registrant.id, status="going"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize(("fields", "message"), [
    ({"rsvp_closes_at": utcnow() - timedelta(hours=1)}, "申込の締切を過ぎているため、申し込めません。"),
    ({"starts_in": -timedelta(minutes=5)}, "このイベントはすでに始まっているため、申し込めません。"),
    ({"cancelled_at": utcnow() - timedelta(hours=1)}, "このイベントは中止になりました。"),
])
def test_rsvp_after_the_deadline_the_start_or_on_a_cancelled_event_is_refused(app, make_registrant, fields,
                                                                                 message):
    event_id = make_event(app, **fields)
    me = portal_client(app, make_registrant())
    assert message in me.get(f"/events/{event_id}").get_data(as_text=True)
    assert message in rsvp(me, event_id)  # a form sent anyway (an old tab) gets the same answer
    assert statuses(app, event_id) == {}


def test_an_expired_registrant_cannot_rsvp(app, make_registrant):
    event_id = make_event(app)
    me = portal_client(app, make_registrant(status="expired"))
    assert "登録が有効な方だけが申し込めます" in rsvp(me, event_id)
    assert statuses(app, event_id) == {}


def test_raising_the_capacity_moves_waitlisted_registrants_up(app, make_staff, make_registrant):
    event_id = make_event(app, capacity=1)
    people = [make_registrant() for _ in range(3)]
    for person in people:
        rsvp(portal_client(app, person), event_id)
    staff = staff_client(app, make_staff("editor"))
    path = f"/admin/events/{event_id}/edit"
    with app.app_context():
        event = db.session.get(Event, event_id)
        start = event.starts_at.replace(tzinfo=UTC).astimezone(TOKYO)
    response = staff.post(path, data={"csrf_token": csrf_token(staff, path), **event_form(
        title="交流会", starts_at=f"{start:%Y-%m-%dT%H:%M}", ends_at="", rsvp_closes_at="", capacity="2")})
    assert response.status_code == 302
    assert statuses(app, event_id) == {people[0].id: "going", people[1].id: "going", people[2].id: "waitlist"}
    assert [m.registrant_id for m in event_mails(app)] == [people[1].id]


# --- staff: attendees, cancel, attendance, export ----------------------------------------------------------

def test_cancelling_an_event_mails_everyone_going_or_waitlisted(app, make_staff, make_registrant):
    event_id = make_event(app, capacity=1, title="雨天中止の会")
    going, waiting, dropped = make_registrant(), make_registrant(), make_registrant()
    for person in (going, waiting, dropped):
        rsvp(portal_client(app, person), event_id)
    rsvp(portal_client(app, dropped), event_id, "cancel")  # frees nothing: it was waitlisted
    staff = staff_client(app, make_staff("editor"))
    page = f"/admin/events/{event_id}"
    response = staff.post(f"{page}/cancel", data={"csrf_token": csrf_token(staff, page)}, follow_redirects=True)
    assert "申込者 2 名に中止のお知らせメール" in response.get_data(as_text=True)
    mails = event_mails(app)
    assert sorted(m.registrant_id for m in mails) == sorted([going.id, waiting.id])
    assert all("イベント中止のお知らせ: 雨天中止の会" in m.subject for m in mails)
    with app.app_context():
        record = db.session.scalar(sa.select(OutputRecord))
        assert (record.kind, record.row_count) == ("mail", 2)
    me = portal_client(app, make_registrant())
    assert "このイベントは中止になりました。" in rsvp(me, event_id)


def test_attendance_is_saved_in_one_post_after_the_event(app, make_staff, make_registrant):
    event_id = make_event(app, starts_in=timedelta(days=2), capacity=None)
    people = [make_registrant() for _ in range(3)]
    for person in people:
        rsvp(portal_client(app, person), event_id)
    staff = staff_client(app, make_staff("editor"))
    page = f"/admin/events/{event_id}"
    assert "出欠はイベントの開始後に記録できます。" in staff.get(page).get_data(as_text=True)
    with app.app_context():
        ids = {row.registrant_id: row.id for row in db.session.scalars(sa.select(EventRsvp))}
    early = staff.post(f"{page}/attendance", data={"csrf_token": csrf_token(staff, page),
                                                   f"attended-{ids[people[0].id]}": "yes"}, follow_redirects=True)
    assert "出欠はイベントの開始後に記録できます。" in early.get_data(as_text=True)
    with app.app_context():
        db.session.get(Event, event_id).starts_at = utcnow() - timedelta(hours=3)
        db.session.commit()
    form = {"csrf_token": csrf_token(staff, page), f"attended-{ids[people[0].id]}": "yes",
            f"attended-{ids[people[1].id]}": "no", f"attended-{ids[people[2].id]}": ""}
    response = staff.post(f"{page}/attendance", data=form, follow_redirects=True)
    assert "出欠を保存しました(2 件を更新)。" in response.get_data(as_text=True)
    with app.app_context():
        marks = dict(db.session.execute(sa.select(EventRsvp.registrant_id, EventRsvp.attended)).all())
        assert marks == {people[0].id: True, people[1].id: False, people[2].id: None}
    with app.app_context():
        assert services.counts(db.session, [event_id])[event_id].attended == 1
    # a row of another event, or a forged value, is refused and changes nothing
    other = make_event(app, starts_in=-timedelta(hours=1))
    stranger = make_registrant()
    with app.app_context():
        row = EventRsvp(event_id=other, registrant_id=stranger.id, status="going")
        db.session.add(row)
        db.session.commit()
        foreign = row.id
    for bad in ({f"attended-{foreign}": "yes"}, {f"attended-{ids[people[2].id]}": "maybe"},
                {"attended-1e3": "yes"}):
        response = staff.post(f"{page}/attendance", data={"csrf_token": csrf_token(staff, page), **bad},
                              follow_redirects=True)
        assert "画面を再読み込みしてください" in response.get_data(as_text=True)
    with app.app_context():
        assert dict(db.session.execute(sa.select(EventRsvp.registrant_id, EventRsvp.attended)
                                       .where(EventRsvp.event_id == event_id)).all())[people[2].id] is None


def test_the_attendee_export_opens_with_openpyxl_and_is_in_the_output_history(app, make_staff, make_registrant):
    event_id = make_event(app, capacity=1, starts_in=-timedelta(days=1))
    with app.app_context():
        going = Registrant(email="going@example.com", family_name="=山田", given_name="太郎",
                           family_name_kana="ヤマダ", given_name_kana="タロウ", valid_until=date(2027, 3, 31))
        waiting = Registrant(email="wait@example.com", family_name="佐藤", given_name="花子",
                             family_name_kana="サトウ", given_name_kana="ハナコ", valid_until=date(2027, 3, 31))
        db.session.add_all([going, waiting])
        db.session.flush()
        db.session.add_all([
            EventRsvp(event_id=event_id, registrant_id=going.id, status="going", attended=True,
                      responded_at=tokyo(2031, 6, 1, 9, 30)),
            EventRsvp(event_id=event_id, registrant_id=waiting.id, status="waitlist",
                      responded_at=tokyo(2031, 6, 2, 10, 0))])
        db.session.commit()
    editor = make_staff("editor")
    staff = staff_client(app, editor)
    page = f"/admin/events/{event_id}"
    response = staff.post(f"{page}/export", data={"csrf_token": csrf_token(staff, page)})
    assert response.status_code == 200
    assert response.mimetype == services.XLSX_MIMETYPE
    assert f"tsunagu-event-{event_id}-attendees-" in response.headers["Content-Disposition"]
    data = response.data
    response.close()  # closes the spooled temp file, as a browser reading to the end would
    sheet = load_workbook(io.BytesIO(data)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows == [["氏名", "カナ", "メール", "状態", "申込日時", "出欠"],
                    ["=山田 太郎", "ヤマダ タロウ", "going@example.com", "参加", datetime(2031, 6, 1, 9, 30), "出席"],
                    ["佐藤 花子", "サトウ ハナコ", "wait@example.com", "キャンセル待ち", datetime(2031, 6, 2, 10, 0),
                     None]]
    assert sheet["A2"].data_type == "s"  # "=山田" stays text, not a formula
    with app.app_context():
        record = db.session.scalar(sa.select(OutputRecord))
        assert (record.kind, record.row_count, record.staff_id) == ("xlsx", 2, editor.id)
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "output.xlsx"))
        assert "going@example.com" not in event.detail and "山田" not in event.detail


def test_a_viewer_sees_the_attendees_but_cannot_export_or_change(app, make_staff, make_registrant):
    event_id = make_event(app)
    rsvp(portal_client(app, make_registrant(family_name="森")), event_id)
    viewer = staff_client(app, make_staff("viewer"))
    page = viewer.get(f"/admin/events/{event_id}").get_data(as_text=True)
    assert "森 花子" in page and "Excelで出力" not in page and "イベントを中止する" not in page
    token = csrf_token(viewer, f"/admin/events/{event_id}")
    for action in ("export", "cancel", "publish", "attendance"):
        assert viewer.post(f"/admin/events/{event_id}/{action}", data={"csrf_token": token}).status_code == 403


# --- reminders ----------------------------------------------------------------------------------------------

def test_reminders_go_once_per_going_rsvp_for_tomorrows_events(app, make_registrant):
    settings = app.extensions["tsunagu.settings"]
    now = tokyo(2031, 7, 9, 8, 0)  # 08:00 Tokyo, before the default reminder hour (09:00)
    with app.app_context():
        people = {name: Registrant(email=f"{name}@example.com", family_name=name, given_name="様",
                                   family_name_kana="カ", given_name_kana="ナ", valid_until=date(2032, 3, 31),
                                   mail_consent=name != "noconsent")
                  for name in ("going", "late", "waiting", "noconsent", "cancelled", "other")}
        db.session.add_all(people.values())
        tomorrow = Event(title="明日の会", description="d", starts_at=tokyo(2031, 7, 10, 23, 30), place="会場",
                         published_at=now - timedelta(days=3))
        later = Event(title="明後日の会", description="d", starts_at=tokyo(2031, 7, 11, 0, 0), place="会場",
                      published_at=now - timedelta(days=3))
        called_off = Event(title="中止の会", description="d", starts_at=tokyo(2031, 7, 10, 10, 0), place="会場",
                           published_at=now - timedelta(days=3), cancelled_at=now - timedelta(days=1))
        db.session.add_all([tomorrow, later, called_off])
        db.session.flush()
        for name, event, status in [("going", tomorrow, "going"), ("waiting", tomorrow, "waitlist"),
                                    ("noconsent", tomorrow, "going"), ("cancelled", tomorrow, "cancelled"),
                                    ("other", later, "going"), ("other", called_off, "going")]:
            db.session.add(EventRsvp(event_id=event.id, registrant_id=people[name].id, status=status))
        db.session.commit()
        ids = {name: person.id for name, person in people.items()}
        event_id = tomorrow.id

        report = services.remind(db.session, settings, now=now)
        assert report.too_early and report.queued == 0
        report = services.remind(db.session, settings, now=now + timedelta(hours=1))
        assert (report.day, report.events, report.queued, report.not_mailable) == ("2031-07-10", 1, 1, 1)
        again = services.remind(db.session, settings, now=now + timedelta(hours=2))
        assert (again.events, again.queued) == (1, 0)
        db.session.add(EventRsvp(event_id=event_id, registrant_id=ids["late"], status="going"))
        db.session.commit()
        late = services.remind(db.session, settings, now=now + timedelta(hours=3), force=True)
        assert late.queued == 1  # a later RSVP is reminded by the next run, the others not again
        assert db.session.get(Event, event_id).reminder_sent_at == now + timedelta(hours=3)
        records = db.session.scalars(sa.select(OutputRecord).order_by(OutputRecord.id)).all()
        assert [(r.kind, r.row_count) for r in records] == [("mail", 1), ("mail", 1)]
    mails = event_mails(app)
    assert [m.registrant_id for m in mails] == [ids["going"], ids["late"]]
    assert "明日のイベントのご案内: 明日の会" in mails[0].subject
    assert "2031年7月10日(木) 23:30" in mails[0].body_text


def test_the_reminder_command_reports_its_counts(app, make_registrant):
    registrant = make_registrant()
    with app.app_context():
        tomorrow = datetime.now(TOKYO).date() + timedelta(days=1)
        starts = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 18, 0, tzinfo=TOKYO).astimezone(UTC)
        event = Event(title="明日の会", description="d", starts_at=starts.replace(tzinfo=None), place="会場",
                      published_at=utcnow())
        db.session.add(event)
        db.session.flush()
        db.session.add(EventRsvp(event_id=event.id, registrant_id=registrant.id, status="going"))
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["events", "remind", "--now"])
    assert result.exit_code == 0, result.output
    assert f"events starting {tomorrow.isoformat()}: 1" in result.output and "reminders queued: 1" in result.output
    result = runner.invoke(args=["events", "remind", "--now"])
    assert "reminders queued: 0" in result.output
    assert len(event_mails(app)) == 1


# --- for the portal top page and the reports -----------------------------------------------------------------

def test_upcoming_for_and_event_stats(app, make_registrant):
    me, other = make_registrant(), make_registrant()
    soon = make_event(app, title="近い会", starts_in=timedelta(days=1), capacity=3)
    later = make_event(app, title="遠い会", starts_in=timedelta(days=20))
    make_event(app, title="下書き", published=False)
    make_event(app, title="中止", cancelled_at=utcnow())
    past = make_event(app, title="済んだ会", starts_in=-timedelta(days=2), capacity=10)
    with app.app_context():
        db.session.add_all([EventRsvp(event_id=soon, registrant_id=me.id, status="going"),
                            EventRsvp(event_id=soon, registrant_id=other.id, status="waitlist"),
                            EventRsvp(event_id=past, registrant_id=me.id, status="going", attended=True),
                            EventRsvp(event_id=past, registrant_id=other.id, status="going", attended=False)])
        db.session.commit()
        registrant = db.session.get(Registrant, me.id)
        items = services.upcoming_for(db.session, registrant, limit=3)
        assert [(i.event.title, i.my_status, i.seats_left) for i in items] == [("近い会", "going", 2),
                                                                               ("遠い会", None, None)]
        stats = services.event_stats(db.session, utcnow() - timedelta(days=30), utcnow() + timedelta(days=30))
        assert [row[0:2] + row[3:] for row in stats] == [(past, "済んだ会", 10, 2, 0, 1), (soon, "近い会", 3, 1, 1, 0),
                                                          (later, "遠い会", None, 0, 0, 0)]


def test_the_demo_events_load_once(app):
    import random

    from app.demo.services import load_demo
    from app.events import demo

    with app.app_context():
        load_demo(db.session, registrant_count=80)
        demo.load(db.session, random.Random(1))
        db.session.commit()
        demo.load(db.session, random.Random(1))
        db.session.commit()
        events = {e.title: e for e in db.session.scalars(sa.select(Event))}
        assert len(events) == 3
        tally = services.counts(db.session, [e.id for e in events.values()])
        meetup, training, past = (events[title] for title in demo.TITLES)
        assert (meetup.capacity, tally[meetup.id].going) == (30, 20)
        assert (training.capacity, tally[training.id].going, tally[training.id].waitlist) == (5, 5, 2)
        assert training.online_url.startswith("https://") and past.starts_at < utcnow() < meetup.starts_at
        assert tally[past.id].attended + tally[past.id].absent == tally[past.id].going == 12
