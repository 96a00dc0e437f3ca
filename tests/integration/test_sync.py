"""S1 e-application sync against the bundled stub: create, re-run, update, withdraw, quarantine, duplicates,
the lock, the CLI and the admin pages. Faults (5xx, timeouts, bad JSON, SIGKILL) are in test_sync_faults.py."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core.timeutil import utcnow
from app.extensions import db
from app.mail.models import OutboxMessage
from app.registrants.models import Registrant, StatusChange
from app.sync import connector, services
from app.sync.models import DuplicateCandidate, QuarantinedRecord, SyncRun, SyncState
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.e_application import (  # noqa: F401  (fixtures)
    code_masters,
    control,
    count,
    fast_backoff,
    scalar,
    stub,
    stub_records,
    sync,
    sync_settings,
)
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

pytestmark = pytest.mark.usefixtures("code_masters", "fast_backoff")


@pytest.fixture
def settings_overrides(sync_settings):  # noqa: F811
    return sync_settings


def registrant_by(app, record_id):
    with app.app_context():
        registrant = db.session.scalar(sa.select(Registrant).where(Registrant.external_id == record_id))
        assert registrant is not None, record_id
        db.session.expunge(registrant)
        return registrant


def invitations(app):
    with app.app_context():
        return sorted(db.session.scalars(sa.select(OutboxMessage.to_address)
                                         .where(OutboxMessage.category == "invitation")))


def cursor(app):
    return scalar(app, sa.select(SyncState.cursor).where(SyncState.source == "e_application"))


# --- the normal course --------------------------------------------------------------------------------

def test_first_run_creates_every_registrant_and_queues_one_invitation_each(app, stub):  # noqa: F811
    """S1: the first run fetches everything page by page, creates registrants with their codes, invites each."""
    pages = []
    run = sync(app, progress=lambda report: pages.append(dict(report.counts)))
    assert run["status"] == "succeeded", run["error"]
    assert (run["fetched"], run["created"], run["quarantined"], run["duplicates"], run["failed"]) == (30, 30, 0, 0, 0)
    assert [p["fetched"] for p in pages] == [10, 10, 10]
    records = stub.state.records
    assert count(app, Registrant, Registrant.source == "e_application") == 30
    assert invitations(app) == sorted(r["answers"]["メールアドレス"] for r in records.values())
    assert cursor(app) == run["cursor_after"] == max(r["updated_at"] for r in records.values())

    first = records["EA-2026-000001"]["answers"]
    registrant = registrant_by(app, "EA-2026-000001")
    with app.app_context():
        registrant = db.session.get(Registrant, registrant.id)
        assert (registrant.family_name, registrant.given_name) == (first["氏"], first["名"])
        assert registrant.region.label == first["お住まいの地域"]
        assert sorted(c.label for c in registrant.codes_of("licence")) == sorted(first["保有する免許・資格"])
        assert sorted(c.label for c in registrant.codes_of("job_type")) == sorted(first["希望する職種"])
        assert registrant.mail_consent is first["お知らせメールの受信"]
        assert registrant.source_updated_at is not None and registrant.status == "active"
        [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sync.run")).all()
        detail = json.loads(event.detail)
        assert (event.actor_kind, detail["created"], detail["status"]) == ("system", 30, "succeeded")
        assert "ea-" not in event.detail  # counts only, no personal data


def test_a_rerun_without_changes_creates_and_updates_nothing(app, stub):  # noqa: F811
    """S1 idempotent: the second run sees only the records at the cursor (>=), all unchanged."""
    sync(app)
    with app.app_context():
        stamps = dict(db.session.execute(sa.select(Registrant.id, Registrant.updated_at)).all())
    again = sync(app)
    assert again["status"] == "succeeded"
    assert (again["created"], again["updated"], again["quarantined"], again["duplicates"]) == (0, 0, 0, 0)
    assert again["fetched"] == again["unchanged"] == 3  # three records share the newest timestamp
    assert len(invitations(app)) == 30 and count(app, Registrant) == 30
    with app.app_context():
        assert dict(db.session.execute(sa.select(Registrant.id, Registrant.updated_at)).all()) == stamps


def test_touched_records_update_withdrawn_ones_withdraw_and_missing_ones_stay(app, stub):  # noqa: F811
    """S1: changes at the source update; status withdrawn withdraws; a record gone from the API deletes nothing."""
    sync(app)
    touched = control(stub, touch=["EA-2026-000001", "EA-2026-000004", "EA-2026-000010", "EA-2026-000015"])["touched"]
    [withdrawn] = control(stub, withdraw=["EA-2026-000005"])["withdrawn"]
    control(stub, remove=["EA-2026-000006"])
    run = sync(app)
    assert run["status"] == "succeeded"
    assert run["updated"] == len(set(touched) | {withdrawn}) and run["created"] == 0
    for record_id in touched:
        assert registrant_by(app, record_id).phone == stub.state.records[record_id]["answers"]["電話番号"]
    assert registrant_by(app, withdrawn).status == "withdrawn"
    assert count(app, StatusChange, StatusChange.reason == "withdrawn_at_source") == 1
    assert count(app, Registrant) == 30 and registrant_by(app, "EA-2026-000006").status == "active"
    assert len(invitations(app)) == 30  # an update is not an invitation


def test_invalid_records_are_quarantined_with_reasons_and_resolved_once_fixed(app, stub):  # noqa: F811
    """S1: an invalid record is set aside with a readable reason for staff; fixed at the source, it lands."""
    new_bad = control(stub, bad_records=["EA-2026-000001", "EA-2026-000002"])["bad"]
    first = sync(app)
    assert (first["created"], first["quarantined"]) == (28, 2)
    sync(app)  # the quarantined records are not retried until they change
    known_bad = control(stub, bad_records=["EA-2026-000010", "EA-2026-000011"])["bad"]
    second = sync(app)
    assert second["updated"] == 0 and second["quarantined"] == 3  # and the newest of the first two, at the cursor
    with app.app_context():
        rows = {q.record_id: json.loads(q.reasons) for q in services.quarantined(db.session)}
    assert set(rows) == set(new_bad + known_bad)
    reasons = [reason for found in rows.values() for reason in found]
    assert "メールアドレスの形式が正しくありません" in reasons
    assert "地域「火星」はコードマスタにありません" in reasons
    assert any("カタカナ" in r for r in reasons) and any("1975-13-45" in r for r in reasons)
    assert registrant_by(app, "EA-2026-000010").family_name_kana != "Sato"  # the bad update was not applied

    control(stub, fix="all")
    fixed = sync(app)
    assert fixed["status"] == "succeeded" and fixed["created"] == 2 and fixed["quarantined"] == 0
    with app.app_context():
        assert services.quarantined(db.session) == []
        assert all(q.resolved_at for q in services.quarantined(db.session, include_resolved=True))
    assert count(app, Registrant) == 30 and len(invitations(app)) == 30


def test_a_record_that_raises_is_counted_failed_quarantined_and_the_page_still_lands(app, stub, monkeypatch,  # noqa: F811
                                                                                      caplog):
    """S1: an unexpected error in one record does not lose the others; the record waits with a reason.
    The log names the error and where it happened, never its message (a database error quotes the row)."""
    real_apply = services.apply_record

    def flaky(ctx, record):
        if record.record_id == "EA-2026-000015":
            raise RuntimeError("boom hanako@example.com")
        return real_apply(ctx, record)

    monkeypatch.setattr(services, "apply_record", flaky)
    run = sync(app)
    assert run["status"] == "succeeded"
    assert (run["created"], run["failed"]) == (29, 1)
    assert len(invitations(app)) == 29  # the rolled-back attempt left no mail behind
    with app.app_context():
        reasons = db.session.scalar(sa.select(QuarantinedRecord.reasons).where(
            QuarantinedRecord.record_id == "EA-2026-000015"))
    assert "RuntimeError" in reasons and "boom" not in reasons
    assert "RuntimeError at" in caplog.text and "EA-2026-000015" in caplog.text
    assert "hanako@example.com" not in caplog.text and "boom" not in caplog.text

    monkeypatch.setattr(services, "apply_record", real_apply)
    control(stub, touch=["EA-2026-000015"])
    after = sync(app)
    assert after["created"] == 1 and count(app, Registrant) == 30
    with app.app_context():
        assert services.quarantined(db.session) == []


def test_duplicates_are_held_and_staff_merge_or_dismiss_them(app, client, stub, make_staff):  # noqa: F811
    """S1: a second record for the same person (same e-mail, or same name and birth date) waits for staff."""
    sync(app)
    clash = control(stub, duplicate={"of": "EA-2026-000004", "by": "email"})["duplicate"]
    by_email = control(stub, duplicate={"of": "EA-2026-000002", "by": "email"})["duplicate"]
    by_name = control(stub, duplicate={"of": "EA-2026-000003", "by": "name_birth"})["duplicate"]
    run = sync(app)
    assert (run["duplicates"], run["created"]) == (3, 0)
    assert count(app, Registrant) == 30 and len(invitations(app)) == 30

    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    page = client.get("/admin/sync/duplicates").get_data(as_text=True)
    assert by_email in page and by_name in page and "メールアドレスが同じ" in page and "氏名と生年月日が同じ" in page

    def candidate(record_id):
        return scalar(app, sa.select(DuplicateCandidate.id).where(DuplicateCandidate.record_id == record_id))

    original = registrant_by(app, "EA-2026-000002")
    token = csrf_token(client, "/admin/sync/duplicates")
    response = client.post("/admin/sync/duplicates/merge", data={"csrf_token": token,
                                                                "candidate_id": candidate(by_email)})
    assert response.status_code == 302
    merged = registrant_by(app, by_email)
    assert merged.id == original.id
    assert merged.phone == stub.state.records[by_email]["answers"]["電話番号"] != original.phone

    client.post("/admin/sync/duplicates/dismiss", data={"csrf_token": token, "candidate_id": candidate(by_name)})
    separate = registrant_by(app, by_name)
    assert separate.id != registrant_by(app, "EA-2026-000003").id
    assert separate.email in invitations(app)

    client.post("/admin/sync/duplicates/dismiss", data={"csrf_token": token, "candidate_id": candidate(clash)})
    assert count(app, Registrant, Registrant.external_id == clash) == 0  # one e-mail, one login: not created
    with app.app_context():
        statuses = dict(db.session.execute(sa.select(DuplicateCandidate.record_id, DuplicateCandidate.status)).all())
        actions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.action.startswith("sync.duplicate."))).all()
    assert statuses == {by_email: "merged", by_name: "dismissed", clash: "dismissed"}
    assert sorted(actions) == ["sync.duplicate.dismiss", "sync.duplicate.dismiss", "sync.duplicate.list",
                               "sync.duplicate.list", "sync.duplicate.merge"]
    repeat = client.post("/admin/sync/duplicates/merge", data={"csrf_token": token,
                                                               "candidate_id": candidate(by_email)})
    assert "すでに対応済み" in client.get(repeat.headers["Location"]).get_data(as_text=True)

    again = sync(app)
    assert (again["created"], again["duplicates"], again["updated"]) == (0, 0, 0)
    assert count(app, Registrant) == 31


# --- the lock ---------------------------------------------------------------------------------------------

def test_a_second_run_is_refused_while_one_runs_and_leaves_no_run_behind(app, stub):  # noqa: F811
    """S1 single run: the lease lock refuses a concurrent run (another process or node) with a clear message."""
    paused, resume, outcome = threading.Event(), threading.Event(), {}
    expires_seen = []

    def hold_after_first_page(report):
        if report.number == 1:
            state = db.session.get(SyncState, "e_application", populate_existing=True)
            expires_seen.append(state.lock_expires_at)
            paused.set()
            resume.wait(20)

    def first_run():
        outcome.update(sync(app, progress=hold_after_first_page))

    worker = threading.Thread(target=first_run)
    worker.start()
    try:
        assert paused.wait(20)
        with app.app_context(), pytest.raises(services.SyncAlreadyRunning, match="別の同期が実行中です"):
            services.run_sync(db.session, app.extensions["tsunagu.settings"], "manual")
        result = app.test_cli_runner().invoke(args=["sync", "run"])
        assert result.exit_code == 2 and "別の同期が実行中です" in result.stderr
    finally:
        resume.set()
        worker.join(30)
    assert outcome["status"] == "succeeded" and outcome["created"] == 30
    assert count(app, SyncRun) == 1  # the refused attempts left nothing behind
    assert expires_seen[0] > utcnow() + timedelta(minutes=4)  # the heartbeat extended the 5-minute lease
    assert scalar(app, sa.select(SyncState.lock_owner)) is None  # released at the end


def test_a_lock_of_another_node_is_respected_until_its_lease_expires(app, stub):  # noqa: F811
    with app.app_context():
        now = utcnow()
        services.acquire_lock(db.session, "web2.example.lg.jp:4242:cafe", now, timedelta(minutes=5))
        with pytest.raises(services.SyncAlreadyRunning, match=r"web2\.example\.lg\.jp"):
            services.run_sync(db.session, app.extensions["tsunagu.settings"], "manual")
        db.session.execute(sa.update(SyncState).values(lock_expires_at=now - timedelta(seconds=1)))
        db.session.commit()
    assert sync(app)["status"] == "succeeded"
    assert count(app, SyncRun) == 1


def test_a_run_whose_lease_was_taken_over_stops_without_writing_more(app, stub):  # noqa: F811
    def steal_after_first_page(report):
        if report.number == 1:
            db.session.execute(sa.update(SyncState).values(lock_owner="web2:1:beef"))
            db.session.commit()

    run = sync(app, progress=steal_after_first_page)
    assert run["status"] == "failed" and "ロックの期限" in run["error"]
    assert count(app, Registrant) == 10 and cursor(app) == run["cursor_after"]
    assert scalar(app, sa.select(SyncState.lock_owner)) == "web2:1:beef"  # not ours to release


# --- configuration, CLI ----------------------------------------------------------------------------------

def test_a_custom_field_map_renames_form_items(app, stub, tmp_path):  # noqa: F811
    """S1 field mapping lives in a TOML file; a deployment whose form differs points sync_field_map at its own."""
    text = connector.DEFAULT_FIELD_MAP.read_text(encoding="utf-8")
    custom = tmp_path / "map.toml"
    custom.write_text(text.replace('interests = "関心のある分野"', 'career_note = "関心のある分野"')
                      .replace('career_note = "職歴・経歴"\n', ""), encoding="utf-8")
    field_map = connector.load_field_map(str(custom))
    sync(app, field_map=field_map)
    record = next(r for r in stub.state.records.values() if "関心のある分野" in r["answers"])
    registrant = registrant_by(app, record["id"])
    assert registrant.career_note == record["answers"]["関心のある分野"] and registrant.interests is None


@pytest.mark.parametrize(("content", "message"), [
    ('[fields]\nfamily_name = "氏"\n', "required"),
    ('[fields]\nshoe_size = "靴"\n', "not a Tsunagu field"),
    ('[fields]\nfamily_name = { from = "氏", type = "money" }\n', "type must be one of"),
    ("[fields\n", "not a readable TOML"),
])
def test_a_bad_field_map_stops_the_run_before_anything_is_written(app, tmp_path, content, message):
    path = tmp_path / "map.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(connector.FieldMapError, match=message):
        connector.load_field_map(str(path))
    app.extensions["tsunagu.settings"] = _replace(app, sync_field_map=str(path))
    result = app.test_cli_runner().invoke(args=["sync", "run"])
    assert result.exit_code == 1 and message in result.stderr
    assert count(app, SyncRun) == 0 and scalar(app, sa.select(SyncState.lock_owner)) is None


def test_sync_is_not_run_without_an_api_url(app):
    app.extensions["tsunagu.settings"] = _replace(app, sync_api_url="")
    result = app.test_cli_runner().invoke(args=["sync", "run"])
    assert result.exit_code == 1 and "sync_api_url" in result.stderr
    assert count(app, SyncRun) == 0


def _replace(app, **changes):
    import dataclasses

    return dataclasses.replace(app.extensions["tsunagu.settings"], **changes)


def test_cli_run_reports_each_page_and_a_summary_and_status_shows_the_state(app, stub):  # noqa: F811
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sync", "run", "--trigger", "timer"])
    assert result.exit_code == 0, result.output
    assert re.findall(r"^page \d+: fetched 10", result.stderr, re.M) == ["page 1: fetched 10", "page 2: fetched 10",
                                                                         "page 3: fetched 10"]
    assert "succeeded: fetched 30, created 30" in result.stdout
    assert stub.state.token not in result.output
    status = runner.invoke(args=["sync", "status"])
    assert status.exit_code == 0
    assert cursor(app) in status.stdout and "lock:              free" in status.stdout
    assert re.search(r"run +\d+ .* timer +succeeded .*created=30", status.stdout)


# --- admin pages ---------------------------------------------------------------------------------------------

def test_admin_pages_render_for_a_viewer_and_run_now_is_refused_to_them(app, client, stub, make_staff):  # noqa: F811
    """S1 history and quarantine for staff (S-A15: viewer reads, editor runs)."""
    control(stub, bad_records=["EA-2026-000007"])
    sync(app)
    control(stub, touch=5)
    sync(app)
    viewer = make_staff("viewer")
    login(client, viewer.email, STRONG_PASSWORD)
    page = client.get("/admin/sync/").get_data(as_text=True)
    chart = page[page.index('<svg class="bar-chart"'):page.index("</svg>")]
    assert chart.count('class="bar"') == 2 + 1 and chart.count('fill="#b45309"') == 2 + 1  # per run, plus legend
    assert "今すぐ同期" not in page and "/admin/sync/run" not in page
    assert " style=" not in page and "<style" not in page
    assert '<span aria-current="page">電子申請連携</span>' in page
    quarantine = client.get("/admin/sync/quarantine").get_data(as_text=True)
    assert "EA-2026-000007" in quarantine and "メールアドレスの形式が正しくありません" in quarantine
    assert client.get("/admin/sync/duplicates").status_code == 200
    token = csrf_token(client, "/admin/sync/")
    assert client.post("/admin/sync/run", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/sync/duplicates/merge", data={"csrf_token": token, "candidate_id": 1}).status_code == 403
    assert count(app, SyncRun) == 2


def test_an_editor_runs_the_sync_from_the_admin_page_and_sees_a_lock_clearly(app, client, stub, make_staff):  # noqa: F811
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/sync/")
    response = client.post("/admin/sync/run", data={"csrf_token": token}, follow_redirects=True)
    assert "同期が完了しました(取得 30 件、新規 30 件" in response.get_data(as_text=True)
    with app.app_context():
        run = db.session.scalar(sa.select(SyncRun))
        assert run.trigger == "staff"
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sync.run"))
        assert json.loads(event.detail)["requested_by"] == editor.id
        services.acquire_lock(db.session, "web2:77:abcd", utcnow(), timedelta(minutes=5))
    response = client.post("/admin/sync/run", data={"csrf_token": token}, follow_redirects=True)
    assert "別の同期が実行中です" in response.get_data(as_text=True)
    assert count(app, SyncRun) == 1


def test_the_field_map_in_the_repository_maps_every_item_of_the_contract():
    """docs/e-application-api.yaml's example record and the bundled field map agree."""
    contract = (Path(__file__).resolve().parents[2] / "docs" / "e-application-api.yaml").read_text(encoding="utf-8")
    field_map = connector.load_field_map()
    items = {item for item, _kind in field_map.fields.values()}
    example = contract[contract.index("answers:\n                      "):contract.index("next_page_token: eyJ")]
    named = set(re.findall(r"^\s+([^\s:][^:]*):", example, re.M)) - {"answers"}
    assert named and named <= items


def test_the_field_map_turns_answers_into_json_native_fields():
    field_map = connector.load_field_map()
    record = field_map.to_incoming({
        "id": 123, "updated_at": "2026-04-01T09:00:00+09:00", "status": "withdrawn",
        "answers": {"氏": "佐藤", "名": "花子", "保有する免許・資格": "小学校教諭一種、司書教諭", "指導可能な教科": ["国語", None],
                    "希望する職種": [], "お知らせメールの受信": "いいえ", "登録情報の利用への同意": 1, "退職年度": 2023,
                    "生年月日": "昭和50年4月12日", "関心のある分野": None, "知らない項目": "無視"}})
    assert record.record_id == "123" and record.withdrawn
    assert record.source_updated_at.isoformat() == "2026-04-01T00:00:00"
    assert record.fields == {"family_name": "佐藤", "given_name": "花子", "licences": "小学校教諭一種、司書教諭",
                             "subjects": ["国語"], "job_types": [], "mail_consent": "いいえ", "data_use_consent": True,
                             "left_year": "2023", "birth_date": "昭和50年4月12日"}
    for bad, message in [({"updated_at": "2026-04-01T00:00:00Z", "answers": {}}, "レコードID"),
                         ({"id": "A", "updated_at": "yesterday", "answers": {}}, "更新日時"),
                         ({"id": "A", "updated_at": "2026-04-01T00:00:00Z", "answers": []}, "回答"),
                         ({"id": "A", "updated_at": "2026-04-01T00:00:00Z", "answers": {"氏": {"x": 1}}}, "「氏」")]:
        with pytest.raises(connector.RecordFormatError, match=message):
            field_map.to_incoming(bad)


def test_a_record_of_the_wrong_shape_is_quarantined_and_the_rest_land(app, stub):  # noqa: F811
    stub.state.records["EA-2026-000003"]["answers"] = ["not", "an", "object"]
    run = sync(app)
    assert run["status"] == "succeeded" and (run["created"], run["quarantined"]) == (29, 1)
    with app.app_context():
        [row] = services.quarantined(db.session)
    assert row.record_id == "EA-2026-000003" and "JSONのオブジェクトではありません" in row.reasons


def test_e_mail_clashes_are_found_whatever_the_letter_case(app, stub):  # noqa: F811
    """The duplicate and clash checks compare e-mails case-insensitively (indexed on MariaDB, NOCASE on SQLite)."""
    sync(app)
    twin = control(stub, duplicate={"of": "EA-2026-000002", "by": "email"})["duplicate"]
    stub.state.records[twin]["answers"]["メールアドレス"] = "EA-000002@Example.com"
    stub.state.records["EA-2026-000009"]["answers"]["メールアドレス"] = "Ea-000003@example.COM"
    control(stub, touch=["EA-2026-000009"])
    run = sync(app)
    assert (run["duplicates"], run["quarantined"], run["created"], run["updated"]) == (1, 1, 0, 0)
    assert scalar(app, sa.select(DuplicateCandidate.reason)) == "same_email"
    with app.app_context():
        [row] = services.quarantined(db.session)
    assert row.record_id == "EA-2026-000009" and "別の登録者が使用しています" in row.reasons
