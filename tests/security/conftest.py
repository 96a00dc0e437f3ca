"""The attack suite's world: one app per test on SQLite (MariaDB only where a test asks for it), the rows
of test_permissions' `ids` plus an attacker and a victim for each realm, and a client logged in per role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache

from app.core.timeutil import utcnow
from app.extensions import db
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.integration.test_permissions import ids  # noqa: F401  (the rows every admin URL needs)

ROLES = ("anonymous", "registrant", "viewer", "editor", "administrator")
STAFF_ROLES = ("viewer", "editor", "administrator")

# Planted personal data of other people: no attacker's response may ever contain one of these.
VICTIM = {"family_name": "秘匿", "given_name": "被害子", "family_name_kana": "ヒトク", "given_name_kana": "ヒガイコ",
          "email": "victim-planted@example.com"}
VICTIM_MESSAGE_SUBJECT = "被害子さんだけへの連絡"
PRIVATE_SEARCH_NAME = "他の職員の非公開検索"


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test parametrises this indirectly with "mariadb" (the sweep costs minutes per backend)."""
    backend = getattr(request, "param", "sqlite")
    return str(request.getfixturevalue(f"migrated_{backend}"))


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # the sweep logs in and posts the login forms far more often than a person could; self-registration
    # and the demo mail catcher are on so that their pages are attacked too
    caught = tmp_path / "caught-mail"
    caught.mkdir()
    return {"login_rate_limit": "100000 per minute", "self_registration": "open", "mail_catch_dir": str(caught)}


class _SharedBytecode(BytecodeCache):
    """Compiled templates shared by the apps of this package: each test builds a fresh app, and compiling
    the 130-odd templates again would cost about two seconds per test."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _SharedBytecode()


@pytest.fixture
def world(app: Flask, ids: dict[str, int], make_registrant: Any, make_staff: Any) -> dict[str, Any]:  # noqa: F811
    """Accounts per role, a victim registrant with a message only for them, another staff member's private
    search; `ids` fills URL arguments, `victim_ids` the same arguments with rows of somebody else."""
    from app.articles.models import UploadedImage

    app.jinja_env.bytecode_cache = _COMPILED_TEMPLATES
    from app.inbox.models import Message, MessageRecipient
    from app.searches.models import SavedSearch

    attacker = make_registrant(email="attacker-registrant@example.com", family_name="攻撃", given_name="太郎",
                               family_name_kana="コウゲキ", given_name_kana="タロウ")
    victim = make_registrant(**VICTIM)
    staff = {role: make_staff(role) for role in STAFF_ROLES}
    with app.app_context():
        own = Message(subject="攻撃者への連絡", body="本文", audience="direct", sent_at=utcnow())
        theirs = Message(subject=VICTIM_MESSAGE_SUBJECT, body="本文", audience="direct", sent_at=utcnow())
        private = SavedSearch(name=PRIVATE_SEARCH_NAME, owner_id=ids["staff_id"], is_shared=False, criteria="{}",
                             columns="name", sort="")
        image = UploadedImage(sha256="0" * 64, content_type="image/png", byte_size=1, width=1, height=1,
                              filename="x.png")
        db.session.add_all([own, theirs, private, image])
        db.session.flush()
        db.session.add_all([MessageRecipient(message_id=own.id, registrant_id=attacker.id),
                            MessageRecipient(message_id=theirs.id, registrant_id=victim.id)])
        db.session.commit()
        url_ids = {**ids, "image_id": image.id}
        victim_ids = {**url_ids, "message_id": theirs.id, "inbox_message_id": theirs.id,
                      "saved_search_id": private.id, "registrant_id": victim.id}
        secrets_of_others = [VICTIM["email"], VICTIM["family_name"], VICTIM["given_name"], VICTIM_MESSAGE_SUBJECT,
                             PRIVATE_SEARCH_NAME]
        endpoint_ids = {"portal_inbox.show": {"message_id": own.id}}  # the inbox id namespace is not the outbox's
    return {"ids": url_ids, "victim_ids": victim_ids, "endpoint_ids": endpoint_ids,
            "secrets_of_others": secrets_of_others, "registrant": attacker, "staff": staff}


def logged_in_client(app: Flask, world: dict[str, Any], role: str) -> FlaskClient:
    client = app.test_client()
    if role == "registrant":
        response = login(client, world["registrant"].email, STRONG_PASSWORD, realm="portal")
        assert response.status_code == 302, "the registrant attacker could not log in"
    elif role != "anonymous":
        response = login(client, world["staff"][role].email, STRONG_PASSWORD)
        assert response.status_code == 302, f"the {role} attacker could not log in"
    return client


def token_for(client: FlaskClient, role: str) -> str:
    return csrf_token(client, {"anonymous": "/login", "registrant": "/me/password"}.get(role, "/admin/account/password"))
