"""Who may open what: the admin deny-by-default and the roles (PRODUCT §5 roles; S-A15 access control).

These tests walk `app.url_map`, so a new admin view is covered the moment it is added: it must
declare a permission, it must send strangers to the login page, and it must refuse a role that
lacks its permission without changing anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from werkzeug.routing import Rule

from app.audit.models import AuditEvent
from app.auth.models import LoginSession
from app.auth.web import PUBLIC, required_permission
from app.core.timeutil import utcnow
from app.extensions import db
from app.registrants.models import Registrant
from app.staff.models import ROLE_PERMISSIONS, Permission, Role, StaffUser
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

PUBLIC_ADMIN_ENDPOINTS = {"admin.login", "admin.login_code", "admin.logout"}


def admin_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")), key=lambda r: r.rule)


def permission_of(app: Flask, endpoint: str) -> Any:
    with app.app_context():
        return required_permission(endpoint)


def undeclared_admin_endpoints(app: Flask) -> list[str]:
    return [r.endpoint for r in admin_rules(app) if permission_of(app, r.endpoint) is None]


def url_of(app: Flask, rule: Rule, ids: dict[str, int]) -> str:
    missing = set(rule.arguments) - set(ids)
    assert not missing, f"{rule.rule}: no test id for {sorted(missing)}; extend the ids in this test"
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) & {"GET", "POST"})


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the login sessions (which a request may touch)."""
    with app.app_context():
        db.session.expire_all()
        state: dict[str, list[tuple[Any, ...]]] = {}
        for table in db.metadata.sorted_tables:
            if table.name == LoginSession.__tablename__:
                continue
            rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            state[table.name] = [tuple(row) for row in rows]
        return state


def lock(app: Flask, model: Any, account_id: int) -> None:
    with app.app_context():
        db.session.execute(sa.update(model).where(model.id == account_id)
                           .values(locked_until=utcnow() + timedelta(minutes=30), failed_login_count=5))
        db.session.commit()


def is_locked(app: Flask, model: Any, account_id: int) -> bool:
    with app.app_context():
        return bool(db.session.get(model, account_id).is_locked())


def redirects_to_admin_login(response: Any) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/admin/login"


def send(client: Any, method: str, url: str, token: str) -> Any:
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token, **POST_DATA})


@pytest.fixture
def ids(app, make_registrant, make_staff) -> dict[str, int]:
    """Existing rows for every id argument in an admin URL; both are locked, so an unlock would show."""
    registrant = make_registrant()
    target = make_staff("administrator")
    lock(app, Registrant, registrant.id)
    lock(app, StaffUser, target.id)
    with app.app_context():  # a CSV upload awaiting commit: a commit that slipped through would add a registrant
        from app.audit import SYSTEM
        from app.imports.services import create_batch

        csv_file = "申請番号,氏,名,氏(カナ),名(カナ),メールアドレス\r\nP1,森,葵,モリ,アオイ,p1@example.com\r\n"
        batch_id = create_batch(db.session, SYSTEM, filename="p.csv", raw=csv_file.encode())[0].id
    with app.app_context():  # a QR code and a queued mail (registration intake, mail view)
        from app.mail.services import enqueue
        from app.registrants.models import ReferralCode

        referral = ReferralCode(code="perm-test", label="QR", medium="web")
        db.session.add(referral)
        message = enqueue(db.session, to="someone@example.com", subject="s", body="b", category="test")
        db.session.commit()
        from app.codes.models import Code
        from app.correspondence.models import Correspondence

        channel = Code(kind="correspondence_channel", code="phone", label="電話")
        db.session.add(channel)
        db.session.flush()
        entry = Correspondence(registrant_id=registrant.id, occurred_at=utcnow(), channel_id=channel.id,
                               staff_name="職員", subject="件名", body="本文")
        db.session.add(entry)
        db.session.commit()
        from app.news.models import NewsItem, VideoLink

        news = NewsItem(title="お知らせ", body="本文", publish_from=utcnow())
        video = VideoLink(title="動画", video_id="abcdefghijk")
        db.session.add_all([news, video])
        db.session.commit()
        more_ids = {"referral_id": referral.id, "message_id": message.id, "correspondence_id": entry.id,
                    "code_id": channel.id, "news_id": news.id, "video_id": video.id}
        from app.searches.models import SavedSearch

        saved = SavedSearch(name="共有検索", owner_id=target.id, is_shared=True, criteria="{}", columns="name", sort="")
        db.session.add(saved)
        db.session.commit()
        more_ids["saved_search_id"] = saved.id
        from app.mail.models import MailCampaign, MailSuppression, MailTemplate

        campaign = MailCampaign(subject_template="s", body_template="b", audience="{}", status="scheduled",
                                scheduled_at=utcnow() + timedelta(days=1), created_by_name="職員")
        mail_template = MailTemplate(name="ひな形", subject="s", body="b")
        suppression = MailSuppression(address="bounced@example.com", reason="hard_bounce")
        db.session.add_all([campaign, mail_template, suppression])
        db.session.flush()
        enqueue(db.session, to="queued@example.com", subject="s", body="b", category="campaign").campaign_id = (
            campaign.id)  # a pending row a slipped-through cancel would delete
        db.session.commit()
        more_ids |= {"campaign_id": campaign.id, "template_id": mail_template.id, "suppression_id": suppression.id}
        from app.documents.models import FormTemplate  # an uploaded form template a slipped-through activate would flip

        form_template = FormTemplate(form_kind="application", filename="t.xlsx", content=b"x", sha256="0" * 64,
                                     is_active=False)
        db.session.add(form_template)
        db.session.commit()
        more_ids["form_template_id"] = form_template.id
        from app.postings.models import JobPosting  # an open posting a slipped-through status change would close

        posting = JobPosting(title="求人", school_name="架空市立第一中学校", school_type_id=channel.id,
                             region_id=channel.id, job_type_id=channel.id, period_start=utcnow().date(),
                             status="open")
        db.session.add(posting)
        db.session.commit()
        more_ids["posting_id"] = posting.id
        from app.surveys.models import Survey, SurveyQuestion  # a draft a slipped-through publish would publish

        survey = Survey(title="アンケート", questions=[SurveyQuestion(kind="text", prompt="設問", position=1)])
        db.session.add(survey)
        db.session.commit()
        more_ids |= {"survey_id": survey.id, "question_id": survey.questions[0].id}
    with app.app_context():  # a published event with an RSVP (cancel, attendance) and an open inquiry (reply, close)
        from app.correspondence.models import Correspondence as Entry
        from app.events.models import Event, EventRsvp
        from app.inquiries.models import Inquiry

        event = Event(title="交流会", description="説明", starts_at=utcnow() - timedelta(hours=1), place="会場",
                      published_at=utcnow() - timedelta(days=1))
        db.session.add(event)
        db.session.flush()
        db.session.add(EventRsvp(event_id=event.id, registrant_id=registrant.id, status="going"))
        asked = Entry(registrant_id=registrant.id, occurred_at=utcnow(), channel_id=more_ids["code_id"],
                      staff_name="(登録者からの問い合わせ)", subject="質問", body="本文")
        db.session.add(asked)
        db.session.flush()
        inquiry = Inquiry(registrant_id=registrant.id, correspondence_id=asked.id, status="open")
        db.session.add(inquiry)
        db.session.commit()
        more_ids |= {"event_id": event.id, "inquiry_id": inquiry.id}
    with app.app_context():  # a draft article a slipped-through publish would show, a sent message
        from app.articles.models import Article
        from app.inbox.models import Message

        article = Article(title="記事", body_markdown="本文", body_html="<p>本文</p>")
        inbox_message = Message(subject="件名", body="本文", audience="all_active", sent_at=utcnow())
        db.session.add_all([article, inbox_message])
        db.session.commit()
        more_ids |= {"article_id": article.id, "inbox_message_id": inbox_message.id}
    return {"registrant_id": registrant.id, "staff_id": target.id, "batch_id": batch_id, **more_ids}


# Form data a successful POST would act on, so a missing check would show up as a change.
POST_DATA = {"email": "intruder@example.com", "display_name": "侵入者", "role": "administrator",
             "password": "Hakodate2027Goryokaku", "current_password": STRONG_PASSWORD,
             "new_password": "Hakodate2027Goryokaku", "confirm": "Hakodate2027Goryokaku"}


def test_only_login_and_logout_are_public(app):
    """S-A15: the admin area's only public endpoints are login (with its two-factor code step) and logout."""
    public = {r.endpoint for r in admin_rules(app) if permission_of(app, r.endpoint) == PUBLIC}
    assert public == PUBLIC_ADMIN_ENDPOINTS


def test_every_admin_view_declares_a_permission(app):
    """S-A15 deny by default: a new admin view without @requires/@public fails here."""
    assert admin_rules(app), "no admin routes found"
    assert undeclared_admin_endpoints(app) == []


def test_an_undeclared_admin_view_is_caught_and_refused(app, client, make_staff):
    """The check above really finds such a view, and the blueprint refuses it even to an administrator."""
    app.add_url_rule("/admin/undeclared", endpoint="admin.undeclared", view_func=lambda: "secret")
    assert undeclared_admin_endpoints(app) == ["admin.undeclared"]
    user = make_staff("administrator")
    login(client, user.email, STRONG_PASSWORD)
    response = client.get("/admin/undeclared")
    assert response.status_code == 403
    assert "secret" not in response.get_data(as_text=True)


def test_anonymous_requests_to_admin_endpoints_go_to_login(app, client, ids):
    """S-A15: every non-public admin endpoint sends a stranger to /admin/login, GET or POST, and changes nothing."""
    token = csrf_token(client, "/admin/login")
    before = snapshot(app)
    checked = 0
    for rule in admin_rules(app):
        if rule.endpoint in PUBLIC_ADMIN_ENDPOINTS:
            continue
        url = url_of(app, rule, ids)
        for method in methods_of(rule):
            response = send(client, method, url, token)
            assert redirects_to_admin_login(response), f"{method} {url} -> {response.status_code}"
            if method == "POST":  # without a token the CSRF check answers first
                assert client.post(url, data=POST_DATA).status_code == 400, url
            checked += 1
    assert checked >= 10
    assert snapshot(app) == before


def test_after_login_the_originally_requested_admin_page_opens(client, make_staff):
    """The page a stranger asked for is remembered (in the session, as a local path) and opened after login."""
    user = make_staff("viewer")
    response = client.get("/admin/security/locks")
    assert redirects_to_admin_login(response)
    assert "next=" not in response.headers["Location"]  # not in the URL, where it could be forged
    response = login(client, user.email, STRONG_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/security/locks"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_roles_without_the_permission_get_403_and_nothing_changes(app, client, make_staff, ids, role):
    """PRODUCT §5 roles: viewer lacks EDIT and ADMIN, editor lacks ADMIN; with a valid CSRF token it is 403."""
    user = make_staff(role.value)
    login(client, user.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/")
    granted = ROLE_PERMISSIONS[role]
    before = snapshot(app)
    refused = []
    for rule in admin_rules(app):
        needed = permission_of(app, rule.endpoint)
        if needed == PUBLIC or needed in granted:
            continue
        url = url_of(app, rule, ids)
        for method in methods_of(rule):
            response = send(client, method, url, token)
            assert response.status_code == 403, f"{role} {method} {url} -> {response.status_code}"
            refused.append(f"{method} {rule.endpoint}")
    post_refusals = [r for r in refused if r.startswith("POST")]
    assert post_refusals, f"no POST endpoint is out of reach for {role}"
    if role is Role.VIEWER:
        assert "POST admin.unlock_registrant" in refused
    assert "POST staff_admin.new" in refused and "POST admin.unlock_staff" in refused
    assert snapshot(app) == before
    assert is_locked(app, Registrant, ids["registrant_id"]) and is_locked(app, StaffUser, ids["staff_id"])


def test_viewer_cannot_unlock_a_registrant_but_editor_can(app, make_staff, make_registrant):
    """PRODUCT §5: unlocking a registrant is an editor action; it is refused to a viewer and audited for an editor."""
    registrant = make_registrant()
    lock(app, Registrant, registrant.id)
    url = f"/admin/security/locks/registrant/{registrant.id}/unlock"
    assert permission_of(app, "admin.unlock_registrant") is Permission.EDIT

    viewer, editor = make_staff("viewer"), make_staff("editor")
    viewer_client, editor_client = app.test_client(), app.test_client()
    login(viewer_client, viewer.email, STRONG_PASSWORD)
    response = viewer_client.post(url, data={"csrf_token": csrf_token(viewer_client, "/admin/security/locks")})
    assert response.status_code == 403
    assert is_locked(app, Registrant, registrant.id)

    login(editor_client, editor.email, STRONG_PASSWORD)
    page = editor_client.get("/admin/security/locks").get_data(as_text=True)
    assert url in page  # the editor is offered the button
    response = editor_client.post(url, data={"csrf_token": csrf_token(editor_client, "/admin/security/locks")})
    assert response.status_code == 302
    assert not is_locked(app, Registrant, registrant.id)
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.unlock")).one()
        assert (event.actor_kind, event.actor_id) == ("staff", editor.id)
        assert event.target == f"registrant:{registrant.id}"


# portal pages whose id names something every registrant may see (an open job posting), not anyone's record
SHARED_PORTAL_ENDPOINTS = {"portal_postings.detail", "portal_surveys.answer", "portal_events.detail",
                           # published articles and their images; an inbox message opens only for its recipients
                           "portal_articles.show", "portal_articles.image", "portal_inbox.show"}


def test_portal_urls_carry_no_record_ids(app):
    """PRODUCT §5: registrant pages load only the logged-in registrant's own data, so no URL names a record."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") or rule.endpoint == "static" or rule.endpoint in SHARED_PORTAL_ENDPOINTS:
            continue
        assert "<int:" not in rule.rule, rule.rule
        assert not any(name.endswith("id") for name in rule.arguments), rule.rule


def test_a_registrant_cannot_open_or_post_to_admin_pages(app, client, make_registrant, ids):
    """A registrant login is not a staff login: every admin page sends them to the staff login."""
    me = make_registrant(email="hanako@example.com")
    assert login(client, me.email, STRONG_PASSWORD, realm="portal").status_code == 302
    token = csrf_token(client, "/me/password")
    before = snapshot(app)
    for rule in admin_rules(app):
        if rule.endpoint in PUBLIC_ADMIN_ENDPOINTS:
            continue
        url = url_of(app, rule, ids)
        for method in methods_of(rule):
            response = send(client, method, url, token)
            assert redirects_to_admin_login(response), f"{method} {url} -> {response.status_code}"
    assert snapshot(app) == before
    assert client.get("/me").status_code == 200  # still logged in on the portal
