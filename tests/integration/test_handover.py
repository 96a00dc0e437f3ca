"""N2 hand-over: all registrant data exports as one documented package and imports back without loss.

The source is the `app` fixture (SQLite or MariaDB) filled with demo data plus consents, status
history, referral codes and awkward values; the successor is a second installation on its own,
freshly migrated database of the same kind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.correspondence.models import Correspondence, CorrespondenceRevision
from app.demo.services import load_demo
from app.extensions import db
from app.handover import schema, services
from app.handover.services import HandoverError, export_package, export_zip, import_package
from app.registrants.models import ConsentRecord, ReferralCode, Registrant, StatusChange
from tests.conftest import SECRET, STRONG_PASSWORD, _migrate, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCHEMA = ROOT / "docs" / "handover-schema.json"
# values a spreadsheet would run as formulas, and other edge cases, put into free-text fields
AWKWARD = {
    "career_note": "=HYPERLINK(\"http://evil.example\",\"click\")\r\n2行目の経歴\n3行目",
    "interests": "+81 読み聞かせ, \"引用\" と 𠮷野家🌸",
    "availability_note": "@SUM(A1)",
    "former_department": "-教育委員会",
    "address": "'長崎市尾上町3-1",
}


# --- databases ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def successor_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("successor-sqlite")
    url = f"sqlite:///{base / 'successor.sqlite3'}"
    _migrate(url, base)
    return url


@pytest.fixture(scope="session")
def successor_mariadb(mariadb_server: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = mariadb_server.create_database("tsunagu_successor")
    _migrate(url, tmp_path_factory.mktemp("successor-mariadb"))
    return url


@pytest.fixture
def successor(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """A second, empty installation on its own database (same kind as the source)."""
    kind = "sqlite" if database_url.startswith("sqlite") else "mariadb"
    url = request.getfixturevalue(f"successor_{kind}")
    other = create_app({"secret_key": SECRET, "database_url": url, "auth_log": str(tmp_path / "successor-auth.log")})
    with other.app_context(), db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def source(app: Flask) -> Flask:
    """Demo data (40 registrants) plus consents, status history, a referral code and awkward values."""
    with app.app_context():
        load_demo(db.session, registrant_count=40)
        referral = ReferralCode(code="flyer2026", label="令和8年度パンフレット", medium="pamphlet")
        db.session.add(referral)
        db.session.flush()
        registrants = db.session.scalars(sa.select(Registrant).order_by(Registrant.id)).all()
        for n, registrant in enumerate(registrants):
            db.session.add(ConsentRecord(registrant_id=registrant.id, kind="privacy_notice", granted=True,
                                         notice_version="2026-04", source="demo"))
            db.session.add(ConsentRecord(registrant_id=registrant.id, kind="mail", granted=n % 3 != 0,
                                         notice_version="2026-04", source="self"))
            db.session.add(StatusChange(registrant_id=registrant.id, from_status=None, to_status="active",
                                        reason="created_by_demo"))
            if registrant.status == "expired":
                db.session.add(StatusChange(registrant_id=registrant.id, from_status="active", to_status="expired",
                                            reason="fiscal_year_end"))
            if n % 4 == 0:
                registrant.referral_id = referral.id
                registrant.renewed_at = utcnow().replace(microsecond=0)
                registrant.email_verified_at = utcnow()
                registrant.mail_consent = False
        first = registrants[1]
        for name, value in AWKWARD.items():
            setattr(first, name, value)
        first.left_year, first.available_from, first.postal_code = 2019, date(2027, 4, 1), "850-8570"
        first.privacy_notice_version = "2026-04"
        first.source_hash, first.source_updated_at = "f" * 64, datetime(2026, 5, 1, 9, 30)
        registrants[2].birth_date = None
        registrants[3].status, registrants[3].withdrawal_requested_at = "withdrawn", utcnow()
        channels = {c.code: c.id for c in db.session.scalars(
            sa.select(Code).where(Code.kind == "correspondence_channel"))}
        for n, registrant in enumerate(registrants[:3]):  # correspondence, one entry edited twice
            db.session.add(Correspondence(
                registrant_id=registrant.id, occurred_at=datetime(2026, 6, 1 + n, 1, 30), channel_id=channels["phone"],
                staff_name="窓口 担当", subject=f"問い合わせ{n}", body=AWKWARD["career_note"] if n == 1 else "本文",
                outcome="=折り返し済" if n == 0 else None, follow_up_on=date(2026, 7, 1) if n == 2 else None))
        db.session.flush()
        entry = db.session.scalars(sa.select(Correspondence).order_by(Correspondence.id)).first()
        for version in (1, 2):
            db.session.add(CorrespondenceRevision(
                correspondence_id=entry.id, occurred_at=datetime(2026, 5, 31, 9, 0), channel_id=channels["counter"],
                staff_name="前任 担当", subject=f"旧件名{version}", body=f"旧本文{version}\r\n2行目", outcome=None,
                follow_up_on=date(2026, 6, 15), edited_by_name="編集 担当", edited_at=datetime(2026, 6, 2, version)))
        db.session.commit()
    return app


NOT_COMPARED = set(services.NOT_HANDED_OVER) | {"region_id", "referral_id"}


def snapshot(app: Flask) -> dict[int, dict[str, Any]]:
    """Every handed-over fact of every registrant, with codes by (kind, code), not by database id."""
    with app.app_context():
        columns = [c.name for c in Registrant.__table__.columns if c.name not in NOT_COMPARED]
        referrals = {r.id: (r.code, r.label, r.medium, r.is_active) for r in db.session.scalars(sa.select(ReferralCode))}
        consents: dict[int, list[tuple[Any, ...]]] = {}
        for c in db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)):
            consents.setdefault(c.registrant_id, []).append(
                (c.id, c.kind, c.granted, c.notice_version, c.source, c.recorded_at))
        changes: dict[int, list[tuple[Any, ...]]] = {}
        for s in db.session.scalars(sa.select(StatusChange).order_by(StatusChange.id)):
            changes.setdefault(s.registrant_id, []).append((s.id, s.from_status, s.to_status, s.reason, s.changed_at))
        revisions: dict[int, list[tuple[Any, ...]]] = {}
        for v in db.session.scalars(sa.select(CorrespondenceRevision).order_by(CorrespondenceRevision.id)):
            revisions.setdefault(v.correspondence_id, []).append(
                (v.id, v.occurred_at, v.channel.code, v.staff_name, v.subject, v.body, v.outcome, v.follow_up_on,
                 v.edited_by_name, v.edited_at))
        correspondence: dict[int, list[tuple[Any, ...]]] = {}
        for e in db.session.scalars(sa.select(Correspondence).order_by(Correspondence.id)):
            correspondence.setdefault(e.registrant_id, []).append(
                (e.id, e.occurred_at, e.channel.code, e.channel.label, e.staff_name, e.subject, e.body, e.outcome,
                 e.follow_up_on, e.created_at, e.updated_at, revisions.get(e.id, [])))
        out = {}
        for r in db.session.scalars(sa.select(Registrant).order_by(Registrant.id)):
            out[r.id] = {name: getattr(r, name) for name in columns} | {
                "region": (r.region.kind, r.region.code, r.region.label) if r.region else None,
                "referral": referrals.get(r.referral_id),
                "codes": sorted((c.kind, c.code, c.label, c.label_en) for c in r.codes),
                "consents": consents.get(r.id, []), "history": changes.get(r.id, []),
                "correspondence": correspondence.get(r.id, []),
            }
        return out


# --- round trip ---------------------------------------------------------------------------------------------------

def test_n2_cli_export_then_import_into_an_empty_install_is_lossless(source, successor, tmp_path):
    """N2: every field of every registrant, their codes, consents and status history survive the round trip."""
    package = tmp_path / "package"
    result = source.test_cli_runner().invoke(args=["handover", "export", str(package)])
    assert result.exit_code == 0, result.output
    assert "registrants 40" in result.stdout and "read registrants: 40/40" in result.stderr
    result = successor.test_cli_runner().invoke(args=["handover", "import", str(package)])
    assert result.exit_code == 0, result.output
    assert "hand-over package imported: registrants 40" in result.stdout
    before, after = snapshot(source), snapshot(successor)
    assert len(before) == 40 and sum(len(r["codes"]) for r in before.values()) > 40
    assert sum(len(r["consents"]) for r in before.values()) == 80
    # three added here, three from the demo inquiries (two inquiries and one staff reply)
    assert sum(len(r["correspondence"]) for r in before.values()) == 6
    assert sum(len(e[-1]) for r in before.values() for e in r["correspondence"]) == 2
    for registrant_id, expected in before.items():
        assert after[registrant_id] == expected, registrant_id
    assert after == before
    with successor.app_context():
        awkward = db.session.get(Registrant, sorted(before)[1])
        assert {name: getattr(awkward, name) for name in AWKWARD} == AWKWARD
        assert awkward.password_hash is None  # credentials are not handed over
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "handover.import"))
        assert json.loads(event.detail)["counts"]["registrants"] == 40 and event.actor_kind == "system"
    with source.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "handover.export"))
        detail = json.loads(event.detail)
        assert detail["counts"]["registrants"] == 40
        assert detail["manifest_sha256"] == hashlib.sha256((package / "manifest.json").read_bytes()).hexdigest()


def test_n2_zip_package_imports_too(source, successor, tmp_path):
    with source.app_context():
        content, manifest = export_zip(db.session, actor=services.audit.SYSTEM)
    archive = tmp_path / "package.zip"
    archive.write_bytes(content)
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted(services.PACKAGE_FILES)
    with successor.app_context():
        report = import_package(db.session, archive)
    assert report.counts == manifest["counts"]
    assert snapshot(successor) == snapshot(source)


# --- refusals -----------------------------------------------------------------------------------------------------

def test_n2_tampered_file_is_refused_before_anything_is_written(source, successor, tmp_path):
    package = tmp_path / "package"
    with source.app_context():
        export_package(db.session, package)
    data = (package / "registrants.csv").read_bytes()
    (package / "registrants.csv").write_bytes(data.replace(b"registrant002@example.com", b"attacker0002@example.com"))
    with successor.app_context():
        with pytest.raises(HandoverError, match=re.escape("registrants.csv のSHA-256が manifest.json と一致しません")):
            import_package(db.session, package)
        assert db.session.scalar(sa.select(sa.func.count(Registrant.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(Code.id))) == 0
    result = successor.test_cli_runner().invoke(args=["handover", "import", str(package)])
    assert result.exit_code == 1 and "SHA-256" in result.stderr


def test_n2_import_into_an_install_with_registrants_is_refused(source, tmp_path):
    package = tmp_path / "package"
    with source.app_context():
        export_package(db.session, package)
        with pytest.raises(HandoverError, match="すでに登録者が 40 人います"):
            import_package(db.session, package)
        assert db.session.scalar(sa.select(sa.func.count(Registrant.id))) == 40


def test_n2_export_refuses_a_folder_that_is_not_empty(source, tmp_path):
    (tmp_path / "old.txt").write_text("x")
    result = source.test_cli_runner().invoke(args=["handover", "export", str(tmp_path)])
    assert result.exit_code == 1 and "空ではありません" in result.stderr


def test_n2_rows_breaking_the_schema_are_refused_with_the_line(source, successor, tmp_path):
    """A package whose hashes match but whose rows are wrong (edited and re-hashed) is still refused."""
    package = tmp_path / "package"
    with source.app_context():
        export_package(db.session, package)
    path = package / "status_changes.csv"
    path.write_bytes(path.read_bytes().replace(b",active,", b",dormant,", 1))
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["status_changes.csv"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (package / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with successor.app_context(), pytest.raises(HandoverError, match=r"status_changes.csv line 2: to_status"):
        import_package(db.session, package)


# --- the files ------------------------------------------------------------------------------------------------------

def _typed_by_documented_schema(row_schema: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    """A CSV row typed only by what docs/handover-schema.json declares (independent of the exporter's code)."""
    row: dict[str, Any] = {}
    for name, text in raw.items():
        spec = row_schema["properties"].get(name, {"type": "string"})
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        if text == "":
            row[name] = None if "null" in types else ""
        elif "integer" in types:
            row[name] = int(text) if text.lstrip("-").isdigit() else text
        elif "boolean" in types:
            row[name] = {"true": True, "false": False}.get(text, text)
        else:
            row[name] = text[1:] if text.startswith("'") else text
    return row


def test_n2_csv_rows_conform_to_the_documented_json_schema(source, tmp_path):
    package = tmp_path / "package"
    with source.app_context():
        manifest = export_package(db.session, package)
    documented = json.loads(DOCS_SCHEMA.read_text(encoding="utf-8"))
    assert documented == schema.json_schema(), "docs/handover-schema.json is stale: python -m app.handover.schema"
    assert (package / "handover-schema.json").read_text(encoding="utf-8") == DOCS_SCHEMA.read_text(encoding="utf-8")
    checked = 0
    for name, row_schema in documented["$defs"].items():
        raw_bytes = (package / row_schema["x-csv-file"]).read_bytes()
        assert raw_bytes.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens it correctly
        rows = list(csv.DictReader(io.StringIO(raw_bytes.decode("utf-8-sig"), newline="")))
        assert len(rows) == manifest["counts"][name]
        for raw in rows:
            assert schema.check_row(row_schema, _typed_by_documented_schema(row_schema, raw)) == [], (name, raw)
            checked += 1
    assert checked > 300
    for entry in documented["$defs"].values():
        for field_name, spec in entry["properties"].items():
            assert spec["title"] and spec["description"], field_name  # every field documented in Japanese


def test_n2_csv_formula_neutralisation_round_trips(source, tmp_path):
    values = ["=1+1", "+81", "-x", "@SUM(A1)", "\tTAB", "\rCR", "'quoted", "''twice", "plain", "a=b", ""]
    for value in values:
        escaped = services.neutralise(value)
        assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r")), value
        assert services.restore(escaped) == value
    package = tmp_path / "package"
    with source.app_context():
        export_package(db.session, package)
    text = (package / "registrants.csv").read_bytes().decode("utf-8-sig")  # keep the \r\n inside cells
    rows = {r["career_note"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    awkward = rows["'" + AWKWARD["career_note"]]
    assert awkward["availability_note"] == "'@SUM(A1)" and awkward["interests"] == "'+81 読み聞かせ, \"引用\" と 𠮷野家🌸"
    assert awkward["former_department"] == "'-教育委員会" and awkward["address"] == "''長崎市尾上町3-1"


def test_n2_workbook_opens_with_a_sheet_per_entity_and_two_header_rows(source, tmp_path):
    from openpyxl import load_workbook

    package = tmp_path / "package"
    with source.app_context():
        manifest = export_package(db.session, package)
    workbook = load_workbook(package / "registrants.xlsx")
    assert workbook.sheetnames == ["説明", "登録者", "登録者コード", "同意履歴", "状態履歴", "登録用QRコード", "対応履歴",
                                   "対応履歴の変更履歴"]
    sheet = workbook["登録者"]
    assert sheet.freeze_panes == "B3"
    assert [c.value for c in sheet[1]][:3] == ["登録者ID", "氏", "名"]
    assert [c.value for c in sheet[2]] == schema.REGISTRANTS.names
    assert sheet.max_row == 2 + manifest["counts"]["registrants"]
    column = schema.REGISTRANTS.names.index("career_note") + 1
    cells = [sheet.cell(row=r, column=column) for r in range(3, sheet.max_row + 1)]
    formula_like = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")]
    assert len(formula_like) == 1 and formula_like[0].data_type == "s"  # text, never a formula
    assert sheet.column_dimensions["B"].width >= 8
    birth = sheet.cell(row=3, column=schema.REGISTRANTS.names.index("birth_date") + 1)
    assert isinstance(birth.value, datetime) and birth.number_format == "yyyy-mm-dd"
    assert workbook["対応履歴"].max_row == 2 + manifest["counts"]["correspondence"]
    assert workbook["対応履歴の変更履歴"].max_row == 2 + manifest["counts"]["correspondence_revisions"]
    assert manifest["files"]["registrants.xlsx"]["sha256"] == hashlib.sha256(
        (package / "registrants.xlsx").read_bytes()).hexdigest()


# --- admin page -------------------------------------------------------------------------------------------------------

def test_n2_admin_downloads_the_zip_and_the_audit_has_hashes_not_personal_data(source, make_staff):
    client = source.test_client()
    admin = make_staff("administrator")
    login(client, admin.email, STRONG_PASSWORD)
    page = client.get("/admin/handover/").get_data(as_text=True)
    assert "対象の登録者: 40 人" in page and "docs/handover.md" in page
    response = client.post("/admin/handover/export", data={"csrf_token": csrf_token(client, "/admin/handover/")})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment; filename=tsunagu-handover-" in response.headers["Content-Disposition"]
    content = response.get_data()
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"]["registrants"] == 40
    with source.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "handover.export"))
        emails = db.session.scalars(sa.select(Registrant.email)).all()
    detail = json.loads(event.detail)
    assert event.actor_id == admin.id and detail["zip_sha256"] == hashlib.sha256(content).hexdigest()
    assert not any(email in event.detail for email in emails)
    schema_response = client.get("/admin/handover/schema.json")
    assert json.loads(schema_response.get_data()) == schema.json_schema()


def test_n2_format_document_names_every_field():
    text = (ROOT / "docs" / "handover.md").read_text(encoding="utf-8")
    for entity in schema.ENTITIES:
        assert f"`{entity.file}`" in text, entity.file
        for name in entity.names:
            assert f"`{name}`" in text, f"{entity.file}: {name} is not documented in docs/handover.md"


def test_n2_a_newer_minor_version_may_add_columns(source, tmp_path):
    """Columns added by a later 1.x package are skipped; in a package of this version they are refused."""
    package = tmp_path / "package"
    with source.app_context():
        export_package(db.session, package)
    path = package / "referral_codes.csv"
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    lines[0] += ",printed_copies"
    lines[1] += ",500"
    path.write_bytes("\r\n".join(lines).encode("utf-8-sig"))
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["referral_codes.csv"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (package / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(HandoverError, match=re.escape("referral_codes.csv: header must be")):
        services.read_package(package)
    major, minor = schema.FORMAT_VERSION.split(".")
    manifest["format_version"] = f"{major}.{int(minor) + 1}"
    (package / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert services.read_package(package).rows["referral_codes"][0]["code"] == "flyer2026"


def test_n2_a_1_1_package_without_the_posting_notice_column_still_imports(source, successor, tmp_path):
    """Format 1.2 added registrants.csv `posting_notice_opt_in`; a 1.1 package lacks it and imports as false."""
    package = tmp_path / "package"
    with source.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Registrant.posting_notice_opt_in.is_(True)))
        export_package(db.session, package)
    path = package / "registrants.csv"
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    column = rows[0].index("posting_notice_opt_in")
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([row[:column] + row[column + 1:] for row in rows])
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["registrants.csv"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest["files"]["registrants.csv"]["bytes"] = path.stat().st_size
    manifest["format_version"] = "1.1"
    (package / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with successor.app_context():
        import_package(db.session, package)
        opted_in = db.session.scalars(sa.select(Registrant.posting_notice_opt_in)).all()
    assert opted_in and not any(opted_in)
