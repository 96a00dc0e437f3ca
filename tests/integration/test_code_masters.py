"""S-A11 code masters: add, rename (old records keep the label of their time), reorder, retire; admins only."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.codes import services
from app.codes.models import Code, CodeLabel
from app.correspondence.models import Correspondence
from app.extensions import db
from app.portal.forms import code_choices
from app.registrants.records import CodeBook
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


@pytest.fixture
def regions(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = [Code(kind="region", code=code, label=label, sort_order=n * 10)
                for n, (code, label) in enumerate([("goto", "五島市(離島)"), ("iki", "壱岐市(離島)"),
                                                   ("tsushima", "対馬市(離島)")], start=1)]
        db.session.add_all(rows)
        db.session.commit()
        return {row.code: row.id for row in rows}


def _admin(app: Flask, make_staff) -> object:
    client = app.test_client()
    login(client, make_staff("administrator").email, STRONG_PASSWORD)
    return client


def _labels_in_order(app: Flask, kind: str) -> list[str]:
    with app.app_context():
        return [code.label for code in services.codes_of_kind(db.session, kind)]


def test_admin_adds_a_code_and_it_is_offered_in_forms(app, make_staff, regions):
    client = _admin(app, make_staff)
    path = "/admin/codes/new?kind=region"
    response = client.post(path, data={"csrf_token": csrf_token(client, path), "kind": "region", "code": "ojika",
                                       "label": "小値賀町(離島)", "label_en": "Ojika", "valid_from": "",
                                       "valid_to": ""})
    assert response.status_code == 302
    page = client.get("/admin/codes?kind=region").get_data(as_text=True)
    assert "小値賀町(離島)" in page and "有効" in page
    assert _labels_in_order(app, "region")[-1] == "小値賀町(離島)"
    with app.test_request_context():
        assert ("ojika", "小値賀町(離島)") in code_choices(db.session, services.CodeKind.REGION)
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "code.create")).one()
        assert '"ojika"' in event.detail


def test_a_duplicate_code_or_a_bad_period_is_refused_with_a_message(app, make_staff, regions):
    client = _admin(app, make_staff)
    path = "/admin/codes/new"
    base = {"kind": "region", "label": "重複", "label_en": ""}
    page = client.post(path, data={"csrf_token": csrf_token(client, path), **base, "code": "goto"}).get_data(
        as_text=True)
    assert "このコード値はすでに使われています。" in page
    page = client.post(path, data={"csrf_token": csrf_token(client, path), **base, "code": "x1",
                                   "valid_from": "2026-05-01", "valid_to": "2026-04-01"}).get_data(as_text=True)
    assert "有効期間の終了日は開始日以降にしてください。" in page
    page = client.post(path, data={"csrf_token": csrf_token(client, path), **base, "code": "bad code;--"}).get_data(
        as_text=True)
    assert "半角英数字・ハイフン・アンダースコアで入力してください。" in page
    assert len(_labels_in_order(app, "region")) == 3


def test_rename_keeps_the_old_label_for_earlier_dates(app, make_staff, regions):
    client = _admin(app, make_staff)
    path = f"/admin/codes/{regions['goto']}/edit"
    today = services.tokyo_today()
    response = client.post(path, data={"csrf_token": csrf_token(client, path), "label": "五島市(離島・新名称)",
                                       "label_en": "", "renamed_on": today.isoformat(), "valid_from": "",
                                       "valid_to": ""})
    assert response.status_code == 302
    with app.app_context():
        code = db.session.get(Code, regions["goto"])
        history = db.session.scalars(sa.select(CodeLabel)).all()
        assert [(h.label, h.valid_to) for h in history] == [("五島市(離島)", today - timedelta(days=1))]
        assert services.label_on(db.session, code, today - timedelta(days=1)) == "五島市(離島)"
        assert services.label_on(db.session, code, date(2020, 1, 1)) == "五島市(離島)"
        assert services.label_on(db.session, code, today) == "五島市(離島・新名称)"
        assert code.label == "五島市(離島・新名称)"
    page = client.get(path).get_data(as_text=True)
    assert "名称の履歴" in page and "五島市(離島)" in page


def test_rename_date_must_not_be_in_the_future_or_before_the_previous_rename(app, make_staff, regions):
    with app.app_context():
        code = db.session.get(Code, regions["iki"])
        admin_user = make_staff("administrator")
        services.update_code(db.session, admin_user, code, label="壱岐市A", label_en=None,
                             renamed_on=date(2025, 4, 1), valid_from=None, valid_to=None)
        with pytest.raises(services.CodeError):
            services.update_code(db.session, admin_user, code, label="壱岐市B", label_en=None,
                                 renamed_on=date(2025, 4, 1), valid_from=None, valid_to=None)
        with pytest.raises(services.CodeError):
            services.update_code(db.session, admin_user, code, label="壱岐市B", label_en=None,
                                 renamed_on=services.tokyo_today() + timedelta(days=1), valid_from=None,
                                 valid_to=None)
        db.session.rollback()
        services.update_code(db.session, admin_user, code, label="壱岐市B", label_en=None,
                             renamed_on=date(2025, 10, 1), valid_from=None, valid_to=None)
        assert services.label_on(db.session, code, date(2025, 3, 31)) == "壱岐市(離島)"
        assert services.label_on(db.session, code, date(2025, 4, 1)) == "壱岐市A"
        assert services.label_on(db.session, code, date(2025, 9, 30)) == "壱岐市A"
        assert services.label_on(db.session, code, date(2025, 10, 1)) == "壱岐市B"


def test_correspondence_shows_the_channel_label_of_its_day(app, make_staff, make_registrant):
    registrant = make_registrant()
    with app.app_context():
        channel = Code(kind="correspondence_channel", code="visit", label="訪問")
        db.session.add(channel)
        db.session.flush()
        db.session.add(Correspondence(registrant_id=registrant.id, occurred_at=datetime(2024, 5, 1, 1, 0),
                                      channel_id=channel.id, staff_name="職員", subject="昔の対応", body="本文"))
        db.session.commit()
        services.update_code(db.session, make_staff("administrator"), channel, label="家庭訪問", label_en=None,
                             renamed_on=date(2025, 4, 1), valid_from=None, valid_to=None)
    client = _admin(app, make_staff)
    page = client.get("/admin/correspondence/").get_data(as_text=True)
    assert "<td>訪問</td>" in page and "<td>家庭訪問</td>" not in page  # the filter offers today's name


def test_retired_code_is_not_offered_but_stays_on_existing_records(app, make_staff, make_registrant, regions):
    registrant = make_registrant(region_id=regions["tsushima"])
    client = _admin(app, make_staff)
    path = "/admin/codes?kind=region"
    response = client.post(f"/admin/codes/{regions['tsushima']}/retire",
                           data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert "終了" in client.get(path).get_data(as_text=True)
    with app.app_context():
        offered = [c.code for c in services.selectable(db.session, "region")]
        assert offered == ["goto", "iki"]
        kept = [c.code for c in services.selectable(db.session, "region", keep_ids=[regions["tsushima"]])]
        assert kept == ["goto", "iki", "tsushima"]
        assert CodeBook(db.session).find("region", "tsushima") is None  # new imports cannot use it
        assert CodeBook(db.session, keep_ids=[regions["tsushima"]]).find("region", "tsushima") is not None
    with app.test_request_context():
        assert "tsushima" not in [value for value, _ in code_choices(db.session, services.CodeKind.REGION)]
        assert "tsushima" in [value for value, _ in code_choices(db.session, services.CodeKind.REGION,
                                                                 ["tsushima"])]
    page = client.get(f"/admin/registrants/{registrant.id}").get_data(as_text=True)
    assert "対馬市(離島)" in page


def test_validity_period_decides_the_status(app, regions):
    today = date(2026, 6, 1)
    with app.app_context():
        code = db.session.get(Code, regions["goto"])
        code.valid_from = date(2026, 7, 1)
        assert services.status_of(code, today) is services.CodeStatus.UPCOMING
        assert [c.code for c in services.selectable(db.session, "region", today)] == ["iki", "tsushima"]
        code.valid_from, code.valid_to = None, date(2026, 6, 1)
        assert services.status_of(code, today) is services.CodeStatus.ACTIVE  # valid through its last day
        assert services.status_of(code, today + timedelta(days=1)) is services.CodeStatus.ENDED
        code.valid_to, code.is_active = None, False
        assert services.status_of(code, today) is services.CodeStatus.ENDED
        db.session.rollback()


def test_reorder_moves_a_code_up_and_down(app, make_staff, regions):
    client = _admin(app, make_staff)
    token = csrf_token(client, "/admin/codes?kind=region")
    client.post(f"/admin/codes/{regions['tsushima']}/move", data={"csrf_token": token, "direction": "up"})
    assert _labels_in_order(app, "region") == ["五島市(離島)", "対馬市(離島)", "壱岐市(離島)"]
    client.post(f"/admin/codes/{regions['goto']}/move", data={"csrf_token": token, "direction": "down"})
    assert _labels_in_order(app, "region") == ["対馬市(離島)", "五島市(離島)", "壱岐市(離島)"]
    response = client.post(f"/admin/codes/{regions['tsushima']}/move", data={"csrf_token": token, "direction": "up"})
    assert response.status_code == 302  # already first: nothing moves, no error
    assert _labels_in_order(app, "region") == ["対馬市(離島)", "五島市(離島)", "壱岐市(離島)"]
    assert client.post(f"/admin/codes/{regions['goto']}/move",
                       data={"csrf_token": token, "direction": "sideways"}).status_code == 400


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_admins_get_403_on_code_master_pages_and_posts(app, make_staff, regions, role):
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/")
    assert client.get("/admin/codes").status_code == 403
    for path, data in ((f"/admin/codes/{regions['goto']}/retire", {}),
                       (f"/admin/codes/{regions['goto']}/move", {"direction": "down"}),
                       (f"/admin/codes/{regions['goto']}/edit", {"label": "乗っ取り"}),
                       ("/admin/codes/new", {"kind": "region", "code": "evil", "label": "悪"})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert _labels_in_order(app, "region") == ["五島市(離島)", "壱岐市(離島)", "対馬市(離島)"]
    with app.app_context():
        assert db.session.get(Code, regions["goto"]).valid_to is None


def test_demo_regions_include_remote_island_municipalities():
    from app.demo.data import CODE_MASTERS

    labels = [label for _code, label, _en in CODE_MASTERS["region"]]
    for town in ("五島市(離島)", "新上五島町(離島)", "対馬市(離島)", "壱岐市(離島)", "小値賀町(離島)"):
        assert town in labels
    assert {label for _c, label, _en in CODE_MASTERS["tag"]} == {"説明会参加", "面談済み", "要連絡"}
