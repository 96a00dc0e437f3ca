"""New-posting notices (`flask mail posting-notices`): who is told, at most once per posting, crash and rerun."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core.timeutil import utcnow
from app.extensions import db
from app.mail import posting_notices
from app.mail.models import MailCampaign, MailSuppression, OutboxMessage
from app.outputs.models import OutputRecord
from app.postings.models import JobPosting, PostingNotice
from tests.conftest import count_rows
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.posting_data import give_codes, make_codes, make_posting
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

PUBLIC = "https://tsunagu.example.jp"


@pytest.fixture
def settings_overrides(smtp_server):  # noqa: F811
    return {"smtp_port": smtp_server[1], "public_base_url": PUBLIC, "mail_from": "tsunagu@pref.example.jp"}


@pytest.fixture
def codes(app):
    return make_codes(app)


@pytest.fixture
def people(app, codes, make_registrant):
    """Two registrants who must be told; six who must not (for six different reasons)."""
    def person(key: str, licences: tuple[str, ...] = ("jhs_math1",), **fields):
        values = {"posting_notice_opt_in": True, "region_id": codes["nagasaki"], **fields}
        registrant = make_registrant(email=f"{key}@example.com", **values)
        give_codes(app, registrant.id, codes, *licences)
        return registrant.id

    ids = {"fan": person("fan"),
           "anywhere": person("anywhere", region_id=None),
           "not_opted": person("not_opted", posting_notice_opt_in=False),
           "no_consent": person("no_consent", mail_consent=False),
           "no_licence": person("no_licence", licences=()),
           "withdrawn": person("withdrawn", status="withdrawn"),
           "expired": person("expired", status="expired"),
           "suppressed": person("suppressed"),
           "elsewhere": person("elsewhere", licences=("jhs_math1", "sasebo"), region_id=codes["sasebo"])}
    with app.app_context():
        db.session.add(MailSuppression(address="suppressed@example.com", reason="unsubscribe", detail=""))
        db.session.commit()
    return ids


def run(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["mail", "posting-notices", *args])
    assert result.exit_code == 0, result.output
    return result.output


def notices(app) -> list[tuple[int, int]]:
    with app.app_context():
        return sorted((p, r) for p, r in db.session.execute(sa.select(PostingNotice.posting_id, PostingNotice.registrant_id)))


def queued(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def test_only_opted_in_consenting_fitting_registrants_are_told_and_delivered(app, codes, people,
                                                                             smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    posting_id = make_posting(app, codes)
    output = run(app)
    assert "1 postings, 2 mails queued" in output
    mails = queued(app)
    assert sorted(m.to_address for m in mails) == ["anywhere@example.com", "fan@example.com"]
    assert {m.category for m in mails} == {"posting_notice"}
    assert notices(app) == sorted((posting_id, people[k]) for k in ("fan", "anywhere"))
    body = mails[0].body_text
    assert mails[0].subject == "【つなぐ】新着求人のお知らせ: 中学校 数学 常勤講師"
    assert "山田 花子 様" in body and "長崎市立つなぐ中学校(中学校・長崎市)" in body and "募集人数: 1人" in body
    assert f"{PUBLIC}/postings/{posting_id}" in body and f"{PUBLIC}/me/preferences" in body
    assert f"{PUBLIC}/mail/unsubscribe/" in body  # the footer every campaign mail carries
    with app.app_context():
        posting = db.session.get(JobPosting, posting_id)
        assert posting.notified_at is not None
        campaign = db.session.scalars(sa.select(MailCampaign)).one()
        assert campaign.recipient_count == 2 and json.loads(campaign.audience) == {"posting_notices": [posting_id]}
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert (record.kind, record.title, record.row_count) == ("mail", "新着求人のお知らせ", 2)
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mail.posting_notices")).one()
        detail = json.loads(event.detail)
        assert detail["queued"] == 2 and detail["notified"] == 1
        assert "example.com" not in event.detail and "example.com" not in record.filter_description

    worker = app.test_cli_runner().invoke(args=["mail", "worker", "--once"])
    assert worker.exit_code == 0, worker.output
    delivered = inbox.to("fan@example.com")
    assert len(delivered) == 1 and len(inbox.messages) == 2
    assert delivered[0]["List-Unsubscribe"].startswith(f"<{PUBLIC}/mail/unsubscribe/")
    assert delivered[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "中学校 数学 常勤講師" in delivered[0]["Subject"]


def test_at_most_one_mail_per_posting_across_runs(app, codes, people):
    first = make_posting(app, codes)
    run(app)
    assert len(queued(app)) == 2
    assert "0 postings, 0 mails queued" in run(app)  # nothing due any more
    with app.app_context():  # the posting is somehow due again (notified_at cleared): still nobody twice
        db.session.execute(sa.update(JobPosting).values(notified_at=None))
        db.session.commit()
    assert "1 postings, 0 mails queued" in run(app)
    second = make_posting(app, codes, title="中学校 数学 非常勤講師", region="sasebo")
    run(app)
    mails = queued(app)
    assert len(mails) == 5  # the new posting also reaches the registrant who wants Sasebo
    assert sorted((p, r) for p, r in notices(app) if p == second) == sorted(
        (second, people[k]) for k in ("fan", "anywhere", "elsewhere"))
    assert len({(m.registrant_id, m.campaign_id) for m in mails}) == 5
    assert len(notices(app)) == 5 and all(p in (first, second) for p, _r in notices(app))


def test_postings_due_together_make_one_mail_per_registrant(app, codes, people):
    first = make_posting(app, codes)
    second = make_posting(app, codes, title="中学校 数学 非常勤講師", region="sasebo")
    assert "2 postings, 3 mails queued (5 posting notices, 2 postings done" in run(app)
    mails = {m.to_address: m for m in queued(app)}
    assert sorted(mails) == ["anywhere@example.com", "elsewhere@example.com", "fan@example.com"]
    fan = mails["fan@example.com"]
    assert fan.subject == "【つなぐ】新着求人のお知らせ(2件)"
    assert "中学校 数学 常勤講師" in fan.body_text and "中学校 数学 非常勤講師" in fan.body_text
    assert f"/postings/{first}" in fan.body_text and f"/postings/{second}" in fan.body_text
    assert "中学校 数学 非常勤講師" in mails["elsewhere@example.com"].subject  # only the Sasebo one fits
    assert sorted(r for p, r in notices(app) if p == first) == sorted(people[k] for k in ("fan", "anywhere"))


def test_postings_not_due_are_left_alone(app, codes, people):
    now = utcnow()
    make_posting(app, codes, status="draft")
    make_posting(app, codes, status="closed")
    make_posting(app, codes, publish_from=now + timedelta(days=1))
    make_posting(app, codes, publish_until=now - timedelta(minutes=1))
    make_posting(app, codes, show_in_portal=False)
    make_posting(app, codes, notified_at=now - timedelta(days=1))
    assert "0 postings, 0 mails queued" in run(app)
    assert queued(app) == [] and notices(app) == []
    assert count_rows(app, OutputRecord) == 0  # an hourly run with nothing to do leaves no history entry


def test_dry_run_counts_and_queues_nothing(app, codes, people):
    posting_id = make_posting(app, codes)
    assert "1 postings, 2 posting notices would be made" in run(app, "--dry-run")
    assert queued(app) == [] and notices(app) == [] and count_rows(app, MailCampaign) == 0
    with app.app_context():
        assert db.session.get(JobPosting, posting_id).notified_at is None


def _dies_on_call(monkeypatch, name: str, call: int) -> None:
    original = getattr(posting_notices, name)
    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(posting_notices, name, dies)


def test_a_run_killed_while_mailing_is_completed_by_the_next_without_duplicates(app, codes, people, monkeypatch):
    posting_id = make_posting(app, codes)
    monkeypatch.setattr(posting_notices, "REGISTRANT_CHUNK", 1)
    _dies_on_call(monkeypatch, "_mail_chunk", 2)  # fan's chunk is committed, then the process dies
    with app.app_context(), pytest.raises(RuntimeError):
        posting_notices.run_notices(db.session, app.extensions["tsunagu.settings"])
    assert len(notices(app)) == 2 and [m.to_address for m in queued(app)] == ["fan@example.com"]
    with app.app_context():
        assert db.session.get(JobPosting, posting_id).notified_at is None
    monkeypatch.undo()

    assert "1 postings, 1 mails queued (0 posting notices, 1 postings done" in run(app)
    mails = queued(app)
    assert sorted(m.registrant_id for m in mails) == sorted(people[k] for k in ("fan", "anywhere"))
    assert len(notices(app)) == 2
    with app.app_context():
        campaigns = db.session.scalars(sa.select(MailCampaign).order_by(MailCampaign.id)).all()
        assert [c.recipient_count for c in campaigns] == [1, 1]  # the killed run's, then the rerun's
        assert db.session.get(JobPosting, posting_id).notified_at is not None
    assert "0 postings, 0 mails queued" in run(app)


def test_a_run_killed_while_adding_notices_is_completed_in_one_mail_each(app, codes, people, monkeypatch):
    first = make_posting(app, codes)
    second = make_posting(app, codes, title="中学校 数学 非常勤講師")
    monkeypatch.setattr(posting_notices, "PAIR_BUDGET", 1)  # one registrant per statement
    _dies_on_call(monkeypatch, "_add_notices", 2)  # the first registrant's notices are in, no mail yet
    with app.app_context(), pytest.raises(RuntimeError):
        posting_notices.run_notices(db.session, app.extensions["tsunagu.settings"])
    assert notices(app) == [(first, people["fan"]), (second, people["fan"])] and queued(app) == []
    monkeypatch.undo()

    assert "2 postings, 2 mails queued (2 posting notices, 2 postings done" in run(app)
    mails = queued(app)
    assert [m.subject for m in mails] == ["【つなぐ】新着求人のお知らせ(2件)"] * 2  # both postings in one mail
    assert len(notices(app)) == 4 and "0 mails queued" in run(app)


def test_the_batch_filter_picks_exactly_who_fits_on_a_seeded_population(app):
    """The batch matches all due postings against a snapshot of the reachable registrants at once; on a
    seeded population (desired regions, availability, postings with none, one or two required licences,
    suppressed addresses) that gives exactly `fits` ∩ reachable, posting by posting."""
    from datetime import date

    from app.matching.services import drop_fit_pool, fits, make_fit_pool, many_posting_facts, pool_fits, region_code_ids
    from app.postings.models import posting_code
    from app.registrants.models import Registrant
    from bench.matching_seed import seed_matching

    today = date(2027, 3, 1)
    with app.app_context():
        info = seed_matching(db.session, registrants=300, postings=15, today=today, quiet=True)
        first, second = info["posting_ids"][0], info["posting_ids"][1]
        held = set(db.session.scalars(sa.select(posting_code.c.code_id).where(posting_code.c.posting_id == first)))
        db.session.execute(posting_code.insert(), [  # a posting requiring either of two licences
            {"posting_id": first, "code_id": code_id, "role": "required_licence"}
            for code_id in info["codes"]["licence"][-2:] if code_id not in held])
        db.session.execute(posting_code.delete().where(posting_code.c.posting_id == second,
                                                       posting_code.c.role == "required_licence"))
        for email in db.session.scalars(sa.select(Registrant.email).order_by(Registrant.id).limit(40)):
            db.session.add(MailSuppression(address=email, reason="unsubscribe", detail=""))
        db.session.commit()
        postings = [db.session.get(JobPosting, pid) for pid in info["posting_ids"]]
        expected = {(posting.id, rid) for posting in postings
                    for rid in db.session.scalars(fits(db.session, posting, today).where(posting_notices.reachable()))}
        facts = many_posting_facts(db.session, postings)
        region_ids = region_code_ids(db.session)
        db.session.commit()
        with db.engine.connect() as connection:
            pool = make_fit_pool(connection, facts.values(), region_ids, today, posting_notices.reachable())
            found = {(p, r) for p, r in connection.execute(pool_fits(pool))}
            drop_fit_pool(connection, pool)
    assert len({p for p, _r in expected}) > 10, "the seed should make most postings fit someone"
    assert found == expected
