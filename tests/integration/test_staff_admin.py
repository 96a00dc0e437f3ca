"""S-A10/S-A15 staff users: search, edit name and role, disable, force a password change; administrators only,
nobody demotes or disables themself, and the last enabled administrator stays."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, url_for

from app import audit
from app.audit.models import AuditEvent
from app.auth.models import LoginSession
from app.extensions import db
from app.staff import services
from app.staff.models import StaffUser
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

NEW_PASSWORD = "Hakodate2027Goryokaku"


def _path(response: Any) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def _client(app: Flask, user: Any, password: str = STRONG_PASSWORD) -> Any:
    client = app.test_client()
    response = login(client, user.email, password)
    assert _path(response) == "/admin/", response.get_data(as_text=True)[:300]
    return client


def _row(app: Flask, user_id: int) -> StaffUser:
    with app.app_context():
        row = db.session.get(StaffUser, user_id)
        db.session.expunge(row)
        return row


def _edit(client: Any, user_id: int, **values: str) -> Any:
    path = f"/admin/staff/{user_id}/edit"
    return client.post(path, data={"csrf_token": csrf_token(client, path), **values})


def _post(client: Any, user_id: int, action: str) -> Any:
    return client.post(f"/admin/staff/{user_id}/{action}",
                       data={"csrf_token": csrf_token(client, f"/admin/staff/{user_id}/edit")})


def test_search_by_text_role_and_state(app, make_staff):
    admin = make_staff("administrator", email="boss@example.com")
    make_staff("editor", email="hanako.editor@example.com")
    off = make_staff("viewer", email="taro.viewer@example.com")
    with app.app_context():
        services.set_enabled(db.session, audit.SYSTEM, db.session.get(StaffUser, off.id), False)
    client = _client(app, admin)

    def emails(query: str) -> set[str]:
        page = client.get("/admin/staff" + query).get_data(as_text=True)
        return {e for e in ("boss@example.com", "hanako.editor@example.com", "taro.viewer@example.com") if e in page}

    assert emails("") == {"boss@example.com", "hanako.editor@example.com", "taro.viewer@example.com"}
    assert emails("?q=hanako") == {"hanako.editor@example.com"}
    assert emails("?role=viewer") == {"taro.viewer@example.com"}
    assert emails("?state=disabled") == {"taro.viewer@example.com"}
    assert emails("?state=enabled&role=editor") == {"hanako.editor@example.com"}
    assert emails("?q=%25") == set()  # a LIKE wildcard is a literal character
    page = client.get("/admin/staff?role=root&state=maybe")
    assert page.status_code == 200 and "検索条件を確認してください。" in page.get_data(as_text=True)


def test_admin_edits_name_and_role_and_it_is_audited(app, make_staff):
    admin, editor = make_staff("administrator"), make_staff("editor")
    client = _client(app, admin)
    response = _edit(client, editor.id, display_name="新しい 名前", role="viewer")
    assert _path(response) == "/admin/staff"
    row = _row(app, editor.id)
    assert (row.display_name, row.role) == ("新しい 名前", "viewer")
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staff.update")).one()
        assert event.target == f"staff:{editor.id}" and '"role_to": "viewer"' in event.detail
        assert "新しい 名前" not in event.detail  # names are personal data, not audit detail
    # the editor, now a viewer, cannot edit any more
    demoted = _client(app, editor)
    token = csrf_token(demoted, "/admin/")
    assert demoted.post("/admin/news/new", data={"csrf_token": token}).status_code == 403


def test_nobody_demotes_or_disables_themself(app, make_staff):
    admin = make_staff("administrator")
    make_staff("administrator")  # not the last administrator: the self rule alone refuses
    client = _client(app, admin)
    page = _edit(client, admin.id, display_name="私", role="viewer").get_data(as_text=True)
    assert "自分自身の権限は下げられません。" in page
    response = _post(client, admin.id, "disable")
    assert _path(response) == "/admin/staff"
    assert "自分自身のアカウントは無効にできません。" in client.get("/admin/staff").get_data(as_text=True)
    row = _row(app, admin.id)
    assert row.role == "administrator" and row.is_enabled


def test_the_last_enabled_administrator_stays(app, make_staff):
    admin = make_staff("administrator")
    other = make_staff("administrator")
    client = _client(app, admin)
    assert _path(_post(client, other.id, "disable")) == "/admin/staff"
    assert not _row(app, other.id).is_enabled
    with app.app_context():  # only `admin` is left: no actor (here the command line) may remove them
        last = db.session.get(StaffUser, admin.id)
        with pytest.raises(services.StaffError, match="管理者が一人もいなくなる"):
            services.update_staff(db.session, audit.SYSTEM, last, display_name="x", role="editor")
        with pytest.raises(services.StaffError, match="管理者が一人もいなくなる"):
            services.set_enabled(db.session, audit.SYSTEM, last, False)
        db.session.rollback()
    assert _row(app, admin.id).role == "administrator" and _row(app, admin.id).is_enabled
    # once a second administrator is enabled again, demoting the other one is allowed
    assert _path(_post(client, other.id, "enable")) == "/admin/staff"
    _edit(client, other.id, display_name="元管理者", role="editor")
    assert _row(app, other.id).role == "editor"


def test_disabling_ends_the_users_sessions(app, make_staff):
    admin, editor = make_staff("administrator"), make_staff("editor")
    victim = _client(app, editor)
    client = _client(app, admin)
    _post(client, editor.id, "disable")
    assert _path(victim.get("/admin/")) == "/admin/login"
    assert _path(_post(client, editor.id, "enable")) == "/admin/staff"
    assert _row(app, editor.id).is_enabled


def test_forced_password_change_ends_sessions_and_gates_every_admin_page(app, make_staff):
    admin, editor = make_staff("administrator"), make_staff("editor")
    victim = _client(app, editor)
    client = _client(app, admin)
    assert _path(_post(client, editor.id, "force-password-change")) == "/admin/staff"
    assert _row(app, editor.id).must_change_password
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession).where(
            LoginSession.account_kind == "staff", LoginSession.account_id == editor.id)) == 0
        event = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "staff.force_password_change")).one()
        assert event.target == f"staff:{editor.id}"
    assert _path(victim.get("/admin/")) == "/admin/login"  # logged out everywhere

    forced = _client(app, editor)  # the old password still logs in, but only to change it
    token = csrf_token(forced, "/admin/account/password")
    checked = 0
    with app.test_request_context():
        rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and "GET" in (r.methods or ())]
        urls = [(r.endpoint, url_for(r.endpoint, **{name: 1 for name in r.arguments})) for r in rules]
    for endpoint, url in urls:
        if endpoint in {"admin.login", "admin.login_code", "admin.change_password", "admin.totp_setup",
                        "admin.logout", "static"}:
            continue
        response = forced.get(url)
        assert _path(response) == "/admin/account/password", f"GET {url} -> {response.status_code}"
        checked += 1
    response = forced.post("/admin/news/videos/new", data={"csrf_token": token, "title": "t",
                                                           "url": "https://youtu.be/AbC_12-xYz9"})
    assert _path(response) == "/admin/account/password"
    assert checked >= 15
    page = forced.get("/admin/account/password").get_data(as_text=True)
    assert "管理者がパスワードの変更を求めています。" in page
    same = forced.post("/admin/account/password", data={"csrf_token": token, "current_password": STRONG_PASSWORD,
                                                         "new_password": STRONG_PASSWORD, "confirm": STRONG_PASSWORD})
    assert "現在とは別のパスワードを設定してください。" in same.get_data(as_text=True)
    changed = forced.post("/admin/account/password", data={"csrf_token": token, "current_password": STRONG_PASSWORD,
                                                            "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert _path(changed) == "/admin/login"
    assert not _row(app, editor.id).must_change_password
    fresh = _client(app, editor, NEW_PASSWORD)
    assert fresh.get("/admin/registrants").status_code == 200


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_admins_get_403_on_staff_pages_and_posts(app, make_staff, role):
    target = make_staff("viewer")
    client = _client(app, make_staff(role))
    token = csrf_token(client, "/admin/")
    assert client.get("/admin/staff").status_code == 403
    assert client.get(f"/admin/staff/{target.id}/edit").status_code == 403
    for action in ("edit", "disable", "force-password-change", "totp-reset"):
        response = client.post(f"/admin/staff/{target.id}/{action}",
                               data={"csrf_token": token, "display_name": "乗っ取り", "role": "administrator"})
        assert response.status_code == 403, action
    row = _row(app, target.id)
    assert (row.role, row.display_name, row.is_enabled, row.must_change_password) == (
        "viewer", target.display_name, True, False)


def test_edit_form_rejects_an_unknown_role(app, make_staff):
    admin, editor = make_staff("administrator"), make_staff("editor")
    client = _client(app, admin)
    response = _edit(client, editor.id, display_name="x", role="root")
    assert response.status_code == 200 and _row(app, editor.id).role == "editor"
