"""Privacy: the copies of source records that sync and import set aside do not outlive the retention period."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import sqlalchemy as sa

from app.extensions import db
from app.lifecycle.services import run_lifecycle
from app.sync.models import DuplicateCandidate, QuarantinedRecord
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse fixture)


def _settings(app):
    return dataclasses.replace(app.extensions["tsunagu.settings"], retention_days=365)


def test_settled_and_stale_set_aside_records_are_deleted_after_retention(app, make_registrant):
    person = make_registrant()
    old, recent = datetime(2025, 1, 10), datetime(2026, 10, 1)
    with app.app_context():
        db.session.add_all([
            QuarantinedRecord(source="e_application", record_id="Q-old", payload="{}", reasons="[]",
                              first_seen_at=old, last_seen_at=old, resolved_at=old),
            QuarantinedRecord(source="e_application", record_id="Q-stale", payload="{}", reasons="[]",
                              first_seen_at=old, last_seen_at=old),
            QuarantinedRecord(source="e_application", record_id="Q-live", payload="{}", reasons="[]",
                              first_seen_at=old, last_seen_at=recent),
            DuplicateCandidate(source="e_application", record_id="D-old", registrant_id=person.id,
                               reason="same_email", payload="{}", status="dismissed", resolved_at=old),
            DuplicateCandidate(source="e_application", record_id="D-open", registrant_id=person.id,
                               reason="same_email", payload="{}", status="open", created_at=old),
        ])
        db.session.commit()
        report = run_lifecycle(db.session, _settings(app), date(2026, 11, 21))
        left_q = set(db.session.scalars(sa.select(QuarantinedRecord.record_id)))
        left_d = set(db.session.scalars(sa.select(DuplicateCandidate.record_id)))
    assert report.source_copies_purged == 3
    assert left_q == {"Q-live"}
    assert left_d == {"D-open"}  # staff still have to decide on it


def test_candidates_of_an_anonymised_registrant_go_at_once(app, make_registrant):
    person = make_registrant(status="anonymised")
    with app.app_context():
        db.session.add(DuplicateCandidate(source="csv", record_id="D-1", registrant_id=person.id,
                                          reason="same_name_birth_date", payload='{"family_name": "山田"}'))
        db.session.commit()
        run_lifecycle(db.session, _settings(app), date(2026, 11, 21))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuplicateCandidate)) == 0
