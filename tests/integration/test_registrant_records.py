"""The shared validate-and-apply path for incoming registrant records (S1 sync and CSV import both use it)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.codes.models import Code
from app.extensions import db
from app.registrants.models import ConsentRecord, Registrant, StatusChange
from app.registrants.records import ApplyContext, CodeBook, IncomingRecord, Outcome, apply_record
from app.sync.models import DuplicateCandidate, QuarantinedRecord
from tests.conftest import STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse fixture)

GOOD = {
    "family_name": "山田", "given_name": "花子", "family_name_kana": "ﾔﾏﾀﾞ", "given_name_kana": "ハナコ",
    "birth_date": "昭和60年4月2日", "email": "Hanako.Yamada@Example.com", "phone": "000-0000-0001",
    "region": "佐世保", "licences": "jh_1;hs_1", "job_types": ["常勤講師"], "mail_consent": "はい",
    "privacy_notice_version": "2026-04",
}


@pytest.fixture
def codes(app):
    with app.app_context():
        db.session.add_all([
            Code(kind="region", code="sasebo", label="佐世保"),
            Code(kind="licence", code="jh_1", label="中学校教諭一種"),
            Code(kind="licence", code="hs_1", label="高等学校教諭一種"),
            Code(kind="job_type", code="fulltime_lecturer", label="常勤講師"),
        ])
        db.session.commit()


def _apply(app, record, created=None):
    with app.app_context():
        ctx = ApplyContext(db.session, "e_application", CodeBook(db.session), date(2026, 11, 21),
                           on_created=(created.append if created is not None else None))
        outcome = apply_record(ctx, record)
        db.session.commit()
        return outcome


def test_a_valid_record_creates_a_normalised_registrant_with_history(app, codes):
    created = []
    assert _apply(app, IncomingRecord("A-1", dict(GOOD)), created) is Outcome.CREATED
    assert len(created) == 1
    with app.app_context():
        person = db.session.scalar(sa.select(Registrant))
        assert person.family_name_kana == "ヤマダ"  # half-width katakana folded by NFKC
        assert person.birth_date == date(1985, 4, 2)
        assert person.email == "Hanako.Yamada@example.com"
        assert person.valid_until == date(2027, 3, 31)
        assert person.region.code == "sasebo"
        assert sorted(c.code for c in person.codes) == ["fulltime_lecturer", "hs_1", "jh_1"]
        assert person.source == "e_application"
        kinds = sorted(c.kind for c in db.session.scalars(sa.select(ConsentRecord)))
        assert kinds == ["data_use", "mail", "privacy_notice"]
        [change] = db.session.scalars(sa.select(StatusChange)).all()
        assert (change.from_status, change.to_status) == (None, "active")


def test_the_same_record_again_is_unchanged_and_a_changed_one_updates(app, codes):
    _apply(app, IncomingRecord("A-1", dict(GOOD)))
    assert _apply(app, IncomingRecord("A-1", dict(GOOD))) is Outcome.UNCHANGED
    assert _apply(app, IncomingRecord("A-1", {**GOOD, "phone": "000-0000-0002"})) is Outcome.UPDATED
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == 1
        assert db.session.scalar(sa.select(Registrant.phone)) == "000-0000-0002"


def test_an_invalid_record_is_quarantined_with_readable_reasons_then_resolved(app, codes):
    bad = {**GOOD, "email": "not-an-address", "birth_date": "令和元年4月1日", "region": "火星"}
    assert _apply(app, IncomingRecord("A-9", bad)) is Outcome.QUARANTINED
    with app.app_context():
        row = db.session.scalar(sa.select(QuarantinedRecord))
        assert "メールアドレスの形式が正しくありません" in row.reasons
        assert "令和の始まりより前" in row.reasons
        assert "火星" in row.reasons
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == 0
    assert _apply(app, IncomingRecord("A-9", dict(GOOD))) is Outcome.CREATED
    with app.app_context():
        assert db.session.scalar(sa.select(QuarantinedRecord.resolved_at)) is not None


@pytest.mark.parametrize("change", [{"email": "other@example.com"}, {"family_name_kana": "ヤマダ"}])
def test_a_likely_duplicate_under_another_id_is_held_for_staff(app, codes, change):
    _apply(app, IncomingRecord("A-1", dict(GOOD)))
    again = {**GOOD, **change} if "email" in change else {**GOOD, "phone": "000-0000-0003"}
    assert _apply(app, IncomingRecord("B-7", again)) is Outcome.DUPLICATE
    with app.app_context():
        candidate = db.session.scalar(sa.select(DuplicateCandidate))
        assert candidate.reason in {"same_name_birth_date", "same_email"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == 1


def test_a_withdrawn_flag_withdraws_and_a_missing_record_deletes_nothing(app, codes):
    _apply(app, IncomingRecord("A-1", dict(GOOD)))
    assert _apply(app, IncomingRecord("A-1", dict(GOOD), withdrawn=True)) is Outcome.UPDATED
    with app.app_context():
        assert db.session.scalar(sa.select(Registrant.status)) == "withdrawn"


@pytest.mark.parametrize("query", ["ﾔﾏﾀﾞ", "ヤマダ", "やまだ", "山田 花子", "ﾊﾅｺ"])
def test_staff_search_finds_the_same_person_however_the_kana_is_typed(app, client, codes, make_staff, query):
    _apply(app, IncomingRecord("A-1", dict(GOOD)))
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get("/admin/registrants", query_string={"q": query}).get_data(as_text=True)
    assert "山田 花子" in page


def test_registrant_detail_shows_consent_and_status_history(app, client, codes, make_staff):
    _apply(app, IncomingRecord("A-1", dict(GOOD)))
    with app.app_context():
        person_id = db.session.scalar(sa.select(Registrant.id))
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get(f"/admin/registrants/{person_id}").get_data(as_text=True)
    assert "created_by_e_application" in page
    assert "個人情報の取扱い" in page and "2026-04" in page
    assert "電子申請" in page
