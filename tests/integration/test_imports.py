"""CSV import of registrant records (S1 CSV import, N1 bulk import; issue item 3).

Files are built here from Python strings and encoded as UTF-8, UTF-8 with BOM and CP932, so the
tests show exactly what a file holds. Every test runs on SQLite and on MariaDB (the `app` fixture).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import audit
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.extensions import db
from app.imports import services
from app.imports.models import ImportBatch
from app.mail.models import OutboxMessage
from app.registrants.models import Registrant
from app.registrants.normalise import name_key
from app.sync.models import DuplicateCandidate, SyncRun
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse fixture)

HEADERS = ["申請番号", "氏", "名", "氏(カナ)", "名(カナ)", "生年月日", "メールアドレス", "電話番号", "住所", "地域",
           "免許・資格", "教科", "希望職種", "希望校種", "勤務可能日"]
ENCODING_ERROR = "文字コードを判定できません(UTF-8 または Shift_JIS で保存してください)"


def person(record_id: str, **overrides: str) -> dict[str, str]:
    """A valid row; the birth date follows the record id, so rows are not one person by name and birth date."""
    n = int(hashlib.sha256(record_id.encode()).hexdigest(), 16)
    birth = date(1960 + n % 40, 1 + n // 40 % 12, 1 + n // 480 % 28).isoformat()
    values = {"申請番号": record_id, "氏": "佐藤", "名": "太郎", "氏(カナ)": "サトウ", "名(カナ)": "タロウ",
              "生年月日": birth, "メールアドレス": f"{record_id.lower()}@example.com",
              "電話番号": "000-0000-1111", "住所": "長崎市架空町2-13", "地域": "長崎", "免許・資格": "小学校教諭一種",
              "教科": "数学", "希望職種": "非常勤講師", "希望校種": "小学校", "勤務可能日": ""}
    values.update(overrides)
    return values


def make_csv(rows: list[dict[str, str]], headers: list[str] = HEADERS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(h, "") for h in headers])
    return out.getvalue()


@pytest.fixture
def codes(app) -> None:
    """A few code-master entries, as the demo loads them."""
    entries = [("region", "nagasaki", "長崎"), ("region", "sasebo", "佐世保"), ("licence", "elem_1", "小学校教諭一種"),
               ("subject", "math", "数学"), ("subject", "english", "英語"), ("job_type", "parttime_lecturer", "非常勤講師"),
               ("school_type", "elementary", "小学校")]
    with app.app_context():
        for order, (kind, code, label) in enumerate(entries):
            db.session.add(Code(kind=kind, code=code, label=label, sort_order=order))
        db.session.commit()


def preview_of(app, raw: bytes, mapping_name: str | None = None) -> services.Preview:
    with app.app_context():
        text, _encoding = services.decode(raw)
        parsed = services.parse(text)
        mapping = services.choose_mapping(db.session, parsed.headers, mapping_name)
        result = services.build_preview(db.session, parsed, services.mapping_columns(mapping))
        db.session.commit()
        return result


def import_file(app, raw: bytes, filename: str = "registrants.csv") -> dict[str, Any]:
    """Upload and commit as the CLI does; returns the run's counts."""
    with app.app_context():
        settings = app.extensions["tsunagu.settings"]
        batch, _preview = services.create_batch(db.session, audit.SYSTEM, filename=filename, raw=raw)
        run = services.commit_batch(db.session, settings, audit.SYSTEM, batch, trigger="manual")
        return {"created": run.created, "updated": run.updated, "unchanged": run.unchanged,
                "duplicates": run.duplicates, "run_id": run.id, "batch_id": batch.id}


def registrants(app) -> dict[str, Registrant]:
    with app.app_context():
        found = db.session.scalars(sa.select(Registrant)).all()
        for registrant in found:
            registrant.codes  # noqa: B018  (load before the session closes)
            registrant.region  # noqa: B018
        db.session.expunge_all()
        return {r.external_id: r for r in found}


# --- encodings, normalisation, dates ---------------------------------------------------------------------

@pytest.mark.parametrize(("codec", "expected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp932", "cp932")])
def test_utf8_bom_and_shift_jis_files_are_detected_and_imported(app, codes, codec, expected):
    """S1: UTF-8, UTF-8 with BOM and Shift_JIS/CP932 are detected; half-width kana is stored full-width; era dates."""
    text = make_csv([
        person("A001", 氏="山田", 名="花子", **{"氏(カナ)": "ﾔﾏﾀﾞ", "名(カナ)": "ﾊﾅｺ"}, 生年月日="平成2年4月1日",
               勤務可能日="R8.4.1", 住所="長崎市桜町2番22号 ﾊｲﾂ桜町101"),
        person("A002", 氏="鈴木", 名="一郎", **{"氏(カナ)": "スズキ", "名(カナ)": "イチロウ"}, 生年月日="令和元年5月1日",
               勤務可能日="2026/4/1", 地域="佐世保"),
        person("A003", 氏="髙橋", 名="真理子", **{"氏(カナ)": "タカハシ", "名(カナ)": "マリコ"}, 生年月日="S55.12.24"),
    ])
    raw = text.encode(codec)
    with app.app_context():
        assert services.decode(raw)[1] == expected
    counts = import_file(app, raw)
    assert counts["created"] == 3
    people = registrants(app)
    hanako = people["A001"]
    assert (hanako.family_name, hanako.family_name_kana, hanako.given_name_kana) == ("山田", "ヤマダ", "ハナコ")
    assert hanako.birth_date == date(1990, 4, 1) and hanako.available_from == date(2026, 4, 1)
    assert hanako.address == "長崎市桜町2番22号 ハイツ桜町101"
    assert hanako.region.code == "nagasaki" and hanako.source == "import"
    assert {c.code for c in hanako.codes} == {"elem_1", "math", "parttime_lecturer", "elementary"}
    assert people["A002"].birth_date == date(2019, 5, 1) and people["A002"].region.code == "sasebo"
    assert people["A003"].family_name == "髙橋" and people["A003"].birth_date == date(1980, 12, 24)


def test_headers_with_full_width_brackets_and_spaces_still_match(app, codes):
    headers = [h.replace("(", "\uff08").replace(")", "\uff09") for h in HEADERS]  # full-width brackets
    headers[1] = " 氏 "
    rows = [{headers[i]: v for i, v in enumerate(person("B001").values())}]
    result = preview_of(app, make_csv(rows, headers).encode("cp932"))
    assert result.file_errors == [] and result.row_errors == [] and result.count("create") == 1


@pytest.mark.parametrize("raw", [
    "申請番号,氏,名\r\nA001,山田,花子\r\n".encode("utf-16"),  # UTF-16 with BOM (Excel's "Unicode text")
    "申請番号,氏,名\r\nA001,Yamada,Hanako\r\n".encode("utf-16-le"),  # UTF-16 without BOM
    "id,name\r\n1,Yamada\r\n".encode("utf-16-le"),  # ASCII-only UTF-16: valid UTF-8 full of NULs
    random.Random(20260401).randbytes(4096),  # binary junk
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
], ids=["utf16-bom", "utf16le", "utf16-ascii", "random", "png"])
def test_undecodable_files_get_a_clear_error_and_nothing_is_stored(app, codes, raw):
    with app.app_context(), pytest.raises(services.ImportFileError) as caught:
        services.create_batch(db.session, audit.SYSTEM, filename="x.csv", raw=raw)
    assert caught.value.message == ENCODING_ERROR
    assert count_rows(app, ImportBatch) == 0 and count_rows(app, Registrant) == 0


def test_size_and_row_limits(app, codes, monkeypatch):
    monkeypatch.setattr(services, "MAX_ROWS", 3)
    text = make_csv([person(f"L{i:03d}") for i in range(4)])
    with app.app_context(), pytest.raises(services.ImportFileError, match="行数が多すぎます"):
        services.parse(text)
    monkeypatch.setattr(services, "MAX_FILE_BYTES", 100)
    with app.app_context(), pytest.raises(services.ImportFileError, match="ファイルが大きすぎます"):
        services.decode(text.encode("utf-8"))


def test_broken_quoting_is_reported_with_the_row(app):
    text = 'a,b\r\n1,2\r\n3,"unterminated\r\n4,5\r\n'
    with app.app_context(), pytest.raises(services.ImportFileError, match="3行目付近"):
        services.parse(text)


# --- what the preview finds ---------------------------------------------------------------------------------

def test_missing_required_column_is_reported_once_up_front(app, codes):
    headers = [h for h in HEADERS if h != "メールアドレス"]
    result = preview_of(app, make_csv([person("C001"), person("C002")], headers).encode("utf-8"))
    assert result.file_errors == ["必須の列「メールアドレス」がありません"]
    assert result.row_errors == [] and not result.can_commit


def test_row_errors_carry_spreadsheet_row_numbers_and_block_the_commit(app, codes):
    rows = [
        person("D001", 住所="長崎市\n架空町2-13"),  # a line break inside quotes: still one spreadsheet row (row 2)
        person("D002", 生年月日="令和99年13月1日"),  # row 3
        person("D003", メールアドレス="not-an-address"),  # row 4
        person("D004", 地域="火星", 教科="錬金術"),  # row 5
        person("D005", **{"氏(カナ)": "Sato"}),  # row 6
        person("D006"),  # row 7, fine
    ]
    raw = make_csv(rows).encode("utf-8")
    result = preview_of(app, raw)
    found = {(e.row, e.column) for e in result.row_errors}
    assert found == {(3, "生年月日"), (4, "メールアドレス"), (5, "地域"), (5, "教科"), (6, "氏(カナ)")}
    assert result.error_rows == 4 and not result.can_commit
    by_row = {e.row: e.message for e in result.row_errors}
    assert "令和99年13月1日" in by_row[3] and "火星" in result.refusal()[2]
    with app.app_context(), pytest.raises(services.CommitRefused) as refused:
        batch, _ = services.create_batch(db.session, audit.SYSTEM, filename="bad.csv", raw=raw)
        services.commit_batch(db.session, app.extensions["tsunagu.settings"], audit.SYSTEM, batch)
    text = "\n".join(refused.value.messages)
    assert "3行目「生年月日」" in text and "4行目「メールアドレス」" in text and "6行目「氏(カナ)」" in text
    assert count_rows(app, Registrant) == 0 and count_rows(app, OutboxMessage) == 0
    assert count_rows(app, SyncRun) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(ImportBatch.status)) == "previewed"


def test_duplicates_within_the_file_and_against_the_database(app, codes, make_registrant):
    existing = make_registrant(email="hanako@example.com", family_name="山田", given_name="花子",
                               birth_date=date(1985, 6, 15), external_id="OLD-1")
    with app.app_context():
        db.session.execute(sa.update(Registrant).values(name_key=name_key("山田", "花子")))
        db.session.commit()
    rows = [
        person("E001", メールアドレス="Hanako@example.com"),  # row 2: e-mail of an existing registrant
        person("E002", 氏="山田", 名="花子", 生年月日="昭和60年6月15日"),  # row 3: name + birth date of an existing one
        person("E003", メールアドレス="twin@example.com"),  # row 4
        person("E004", メールアドレス="twin@example.com", 氏="別人"),  # row 5: same e-mail as row 4
        person("E003", 氏="再掲"),  # row 6: same record id as row 4
        person("E005"),  # row 7
    ]
    result = preview_of(app, make_csv(rows).encode("utf-8"))
    hints = {(d.row, d.reason): d for d in result.duplicates}
    assert hints[(2, "same_email")].registrant_id == existing.id
    assert hints[(3, "same_name_birth_date")].registrant_id == existing.id
    assert hints[(5, "same_email")].other_row == 4
    assert hints[(6, "same_record_id")].other_row == 4
    assert [(e.row, e.column) for e in result.row_errors] == [(6, "申請番号")]
    assert (result.count("create"), result.count("duplicate")) == (2, 3)


def test_duplicates_are_held_at_commit_not_refused(app, codes, make_registrant):
    existing = make_registrant(email="hanako@example.com")
    rows = [person("F001", メールアドレス="hanako@example.com"), person("F002", メールアドレス="same@example.com"),
            person("F003", メールアドレス="same@example.com"), person("F004")]
    counts = import_file(app, make_csv(rows).encode("utf-8"))
    assert (counts["created"], counts["duplicates"]) == (2, 2)
    with app.app_context():
        held = {c.record_id: (c.registrant_id, c.reason, c.source) for c in db.session.scalars(sa.select(DuplicateCandidate))}
        f002 = db.session.scalar(sa.select(Registrant.id).where(Registrant.external_id == "F002"))
    assert held == {"F001": (existing.id, "same_email", "import"), "F003": (f002, "same_email", "import")}


# --- committing -------------------------------------------------------------------------------------------------

def test_a_good_file_commits_whole_with_invitations_run_and_audit(app, codes):
    raw = make_csv([person("G001", 氏="田中"), person("G002", 氏="中村", 生年月日=""),
                    person("G003", 氏="小林")]).encode("cp932")
    counts = import_file(app, raw, "令和8年度.csv")
    assert counts["created"] == 3 and counts["updated"] == counts["unchanged"] == counts["duplicates"] == 0
    with app.app_context():
        invitations = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.category == "invitation")).all()
        assert sorted(m.to_address for m in invitations) == ["g001@example.com", "g002@example.com", "g003@example.com"]
        run = db.session.get(SyncRun, counts["run_id"])
        assert (run.source, run.trigger, run.status, run.fetched, run.created) == ("csv", "manual", "succeeded", 3, 3)
        batch = db.session.get(ImportBatch, counts["batch_id"])
        assert (batch.status, batch.run_id, batch.content, batch.encoding) == ("committed", run.id, "", "cp932")
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "import.commit"))
        detail = json.loads(event.detail)
        assert detail["sha256"] == batch.sha256 and detail["created"] == 3 and detail["rows"] == 3
        assert not re.search(r"田中|example\.com|G00", event.detail)  # counts and hashes, never personal data
        assert audit.verify_chain(db.session).intact


def test_reimporting_the_same_file_changes_nothing_and_a_change_is_an_update(app, codes):
    rows = [person("H001"), person("H002", 氏="伊藤"), person("H003", 氏="渡辺")]
    raw = make_csv(rows).encode("utf-8-sig")
    import_file(app, raw)
    before = registrants(app)
    again = import_file(app, raw)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert count_rows(app, OutboxMessage) == 3  # no second invitation
    rows[1]["住所"] = "佐世保市八幡町1-10"
    changed = import_file(app, make_csv(rows).encode("utf-8-sig"))
    assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 1, 2)
    after = registrants(app)
    assert after["H002"].address == "佐世保市八幡町1-10" and after["H002"].id == before["H002"].id


def test_a_batch_is_committed_once(app, codes):
    with app.app_context():
        settings = app.extensions["tsunagu.settings"]
        batch, _ = services.create_batch(db.session, audit.SYSTEM, filename="x.csv",
                                         raw=make_csv([person("I001")]).encode())
        services.commit_batch(db.session, settings, audit.SYSTEM, batch)
        with pytest.raises(services.CommitRefused, match="すでに取込済み"):
            services.commit_batch(db.session, settings, audit.SYSTEM, batch)
    assert count_rows(app, Registrant) == 1 and count_rows(app, SyncRun) == 1


def test_formula_looking_values_are_stored_as_plain_text(app, codes):
    formula = "=cmd|' /C calc'!A0"
    rows = [person("J001", 住所=formula, 電話番号="+81-00-0000-1111"),
            person("J002", 住所="@SUM(1+1)*cmd|' /C calc'!A0", 氏="-2+3")]
    counts = import_file(app, make_csv(rows).encode("utf-8"))
    assert counts["created"] == 2
    people = registrants(app)
    assert people["J001"].address == formula and people["J002"].family_name == "-2+3"


def test_withdrawn_and_updated_at_columns(app, codes):
    headers = [*HEADERS, "退会", "更新日時"]
    rows = [person("K001", 退会="", 更新日時="2026-04-01 09:30"), person("K002", 退会="はい", 更新日時="令和8年4月2日 10:00"),
            person("K003", 退会="たぶん", 更新日時="昨日")]
    result = preview_of(app, make_csv(rows, headers).encode("utf-8"))
    assert {(e.row, e.column) for e in result.row_errors} == {(4, "退会"), (4, "更新日時")}
    counts = import_file(app, make_csv(rows[:2], headers).encode("utf-8"))
    assert counts["created"] == 2
    people = registrants(app)
    assert people["K002"].status == "withdrawn" and people["K001"].status == "active"
    assert people["K001"].source_updated_at.isoformat() == "2026-04-01T00:30:00"  # 09:30 in Tokyo, stored in UTC


# --- column mappings ---------------------------------------------------------------------------------------------

def test_a_mapping_saved_for_another_form_version_is_used(app, codes):
    headers = ["受付番号", "姓", "名前", "セイ", "メイ", "E-mail", "生年月日(和暦)", "お住まいの地域", "備考"]
    rows = [{"受付番号": "R8-0001", "姓": "松本", "名前": "誠", "セイ": "マツモト", "メイ": "マコト",
             "E-mail": "makoto@example.com", "生年月日(和暦)": "昭和50年1月2日", "お住まいの地域": "長崎", "備考": "x"}]
    raw = make_csv(rows, headers).encode("cp932")
    first = preview_of(app, raw)
    assert "必須の列「申請番号」がありません" in first.file_errors
    with app.app_context():
        services.save_mapping(db.session, audit.SYSTEM, "令和8年度 申請様式", {
            "受付番号": "record_id", "姓": "family_name", "名前": "given_name", "セイ": "family_name_kana",
            "メイ": "given_name_kana", "E-mail": "email", "生年月日(和暦)": "birth_date", "お住まいの地域": "region",
            "備考": ""})
        db.session.commit()
    second = preview_of(app, raw)  # chosen automatically: it knows the most headers
    assert second.can_commit and second.columns.unmapped == ["備考"]
    assert import_file(app, raw)["created"] == 1
    makoto = registrants(app)["R8-0001"]
    assert (makoto.family_name, makoto.birth_date, makoto.region.code) == ("松本", date(1975, 1, 2), "nagasaki")
    standard = preview_of(app, make_csv([person("M001")]).encode(), mapping_name=services.DEFAULT_MAPPING_NAME)
    assert standard.can_commit


def test_a_mapping_must_cover_required_fields_once(app):
    with app.app_context(), pytest.raises(services.MappingError) as caught:
        services.save_mapping(db.session, audit.SYSTEM, "不完全", {"a": "record_id", "b": "email", "c": "email"})
    text = " ".join(caught.value.messages)
    assert "「メールアドレス」に複数の列" in text and "「氏」に対応する列" in text


def test_the_default_mapping_covers_every_field():
    assert set(services.DEFAULT_COLUMNS.values()) == services.VALID_TARGETS


# --- admin pages -------------------------------------------------------------------------------------------------

def post_file(client, data: dict[str, Any], url: str = "/admin/imports/upload") -> Any:
    """A multipart POST built in memory (the test client would spool a large body to a temporary file that
    stays open when the app refuses the body unread, as it does with a 413)."""
    boundary, body = encode_multipart(data)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def csv_file(raw: bytes, filename: str) -> FileStorage:
    return FileStorage(io.BytesIO(raw), filename=filename, content_type="text/csv")


def upload(client, raw: bytes, filename: str = "申請者一覧.csv", mapping: str = "") -> Any:
    token = csrf_token(client, "/admin/imports/")
    return post_file(client, {"csrf_token": token, "mapping": mapping, "file": csv_file(raw, filename)})


def test_editor_uploads_previews_and_commits_through_the_pages(app, client, codes, make_staff):
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    raw = make_csv([person("N001", 氏="<b>太字</b>"), person("N002"), person("N003")]).encode("cp932")
    response = upload(client, raw)
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    page = client.get(preview_url).get_data(as_text=True)
    assert "取込内容の確認" in page and "Shift_JIS" in page and "申請者一覧.csv" in page
    assert re.search(r'新規</span><span class="stat-value">3<', page)
    assert "disabled" not in page and "<b>太字</b>" not in page
    assert " style=" not in page and "<style" not in page
    assert count_rows(app, Registrant) == 0  # nothing before the commit
    token = csrf_token(client, preview_url)
    response = client.post(preview_url + "/commit", data={"csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "取り込みました(新規 3 件" in page and "取込の結果" in page
    assert count_rows(app, Registrant) == 3 and count_rows(app, OutboxMessage) == 3
    with app.app_context():
        run = db.session.scalar(sa.select(SyncRun))
        assert (run.source, run.trigger) == ("csv", "staff")
        actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert {"import.upload", "import.preview", "import.commit"} <= set(actions)
    history = client.get("/admin/imports/").get_data(as_text=True)
    assert "申請者一覧.csv" in history and "新規 3・更新 0・変更なし 0・保留 0" in history


def test_a_file_with_errors_shows_them_and_cannot_be_committed(app, client, codes, make_staff):
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    raw = make_csv([person("P001"), person("P002", メールアドレス="bad@"), person("P003", 生年月日="1980-02-30")]).encode()
    preview_url = upload(client, raw).headers["Location"]
    page = client.get(preview_url).get_data(as_text=True)
    assert re.search(r"<button[^>]*disabled[^>]*>取り込む</button>", page)
    assert "エラーがあるため取り込めません" in page
    assert "<td>3</td><td>メールアドレス</td>" in page and "<td>4</td><td>生年月日</td>" in page
    token = csrf_token(client, preview_url)
    page = client.post(preview_url + "/commit", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "3行目「メールアドレス」" in page
    assert count_rows(app, Registrant) == 0


def test_a_wrongly_encoded_upload_gets_the_message_and_stores_nothing(app, client, codes, make_staff):
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    response = upload(client, make_csv([person("Q001")]).encode("utf-16"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert ENCODING_ERROR in page and "何も取り込んでいません" in page
    assert count_rows(app, ImportBatch) == 0


def test_the_mapping_editor_saves_a_mapping_for_the_file(app, client, codes, make_staff):
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    headers = ["番号", "姓", "名", "セイ", "メイ", "mail", "<i>備考</i>"]
    raw = make_csv([{"番号": "S001", "姓": "森", "名": "葵", "セイ": "モリ", "メイ": "アオイ", "mail": "aoi@example.com"}],
                   headers).encode()
    preview_url = upload(client, raw).headers["Location"]
    assert "必須の列「申請番号」がありません" in client.get(preview_url).get_data(as_text=True)
    editor_url = preview_url + "/mapping"
    page = client.get(editor_url).get_data(as_text=True)
    assert "<label for=\"col_5\">mail</label>" in page
    assert "&lt;i&gt;備考&lt;/i&gt;" in page and "<i>備考" not in page  # a header is text, never markup
    token = csrf_token(client, editor_url)
    data = {"csrf_token": token, "name": "令和9年度 様式", "col_0": "record_id", "col_1": "family_name",
            "col_2": "given_name", "col_3": "family_name_kana", "col_4": "given_name_kana", "col_5": "email"}
    response = client.post(editor_url, data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith(preview_url)
    page = client.get(preview_url).get_data(as_text=True)
    assert "令和9年度 様式" in page and re.search(r'新規</span><span class="stat-value">1<', page)
    mappings = client.get("/admin/imports/mappings").get_data(as_text=True)
    assert "令和9年度 様式" in mappings and "標準様式" in mappings
    data["col_5"] = ""
    page = client.post(editor_url, data=data).get_data(as_text=True)
    assert "必須の項目「メールアドレス」に対応する列を選んでください" in page


def test_viewer_sees_history_but_gets_403_on_upload_preview_and_commit(app, client, codes, make_staff):
    with app.app_context():
        batch, _ = services.create_batch(db.session, audit.SYSTEM, filename="x.csv",
                                         raw=make_csv([person("T001")]).encode())
        batch_id = batch.id
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get("/admin/imports/").get_data(as_text=True)
    assert "x.csv" in page and 'enctype="multipart/form-data"' not in page
    token = csrf_token(client, "/admin/")
    raw = make_csv([person("T002")]).encode()
    assert client.post("/admin/imports/upload", content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (io.BytesIO(raw), "y.csv")}).status_code == 403
    assert client.get(f"/admin/imports/{batch_id}").status_code == 403
    assert client.post(f"/admin/imports/{batch_id}/commit", data={"csrf_token": token}).status_code == 403
    assert count_rows(app, Registrant) == 0 and count_rows(app, ImportBatch) == 1


def test_discarding_drops_the_file_content(app, client, codes, make_staff):
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    preview_url = upload(client, make_csv([person("U001")]).encode()).headers["Location"]
    token = csrf_token(client, preview_url)
    page = client.post(preview_url + "/discard", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "破棄しました" in page
    with app.app_context():
        batch = db.session.scalar(sa.select(ImportBatch))
        assert (batch.status, batch.content) == ("discarded", "")
    assert client.post(preview_url + "/commit", data={"csrf_token": token}, follow_redirects=True).status_code == 200
    assert count_rows(app, Registrant) == 0


def test_blank_template_is_utf8_with_bom_and_the_standard_headers(client, make_staff):
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    response = client.get("/admin/imports/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    header = response.data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == list(services.DEFAULT_COLUMNS)


# --- command line ------------------------------------------------------------------------------------------------

def test_cli_previews_reports_errors_and_commits(app, codes, tmp_path):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(make_csv([person("V001"), person("V002", メールアドレス="x")]).encode("cp932"))
    result = runner.invoke(args=["import", "csv", str(bad)])
    assert result.exit_code == 1
    assert "row 3 [メールアドレス]" in result.stderr and "create: 1" in result.stdout
    good = tmp_path / "good.csv"
    good.write_bytes(make_csv([person("V001"), person("V002")]).encode("cp932"))
    result = runner.invoke(args=["import", "csv", str(good)])
    assert result.exit_code == 0 and "--commit" in result.stdout
    assert count_rows(app, Registrant) == 0
    result = runner.invoke(args=["import", "csv", str(good), "--commit"])
    assert result.exit_code == 0, result.output
    assert "created 2" in result.stdout and count_rows(app, Registrant) == 2
    result = runner.invoke(args=["import", "csv", str(good), "--mapping", "ない様式"])
    assert result.exit_code == 1 and "標準様式" in result.stderr


def test_cli_refuses_an_undecodable_file(app, tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("申請番号\r\nA\r\n".encode("utf-16"))
    result = app.test_cli_runner().invoke(args=["import", "csv", str(path)])
    assert result.exit_code == 1 and ENCODING_ERROR in result.stderr


def test_uploads_may_exceed_the_site_request_limit_only_for_editors(app, client, codes, make_staff):
    """The site-wide request limit (2 MB by default) is raised to the import limit for staff who may import."""
    limit = app.extensions["tsunagu.settings"].max_request_bytes
    headers = [*HEADERS, "備考"]
    rows = [person(f"W{i:04d}", 備考="あ" * 700) for i in range(limit // 2000 + 200)]
    raw = make_csv(rows, headers).encode("utf-8")
    assert limit < len(raw) < services.MAX_FILE_BYTES
    viewer = app.test_client()
    login(viewer, make_staff("viewer").email, STRONG_PASSWORD)
    token = csrf_token(viewer, "/admin/")
    response = post_file(viewer, {"csrf_token": token, "file": csv_file(raw, "big.csv")})
    assert response.status_code == 413
    login(client, make_staff("editor").email, STRONG_PASSWORD)
    response = upload(client, raw, "big.csv")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'データ行</span><span class="stat-value">{len(rows)}<' in page
    too_big = upload(client, b"x" * (services.MAX_FILE_BYTES + 2 * 1024 * 1024), "huge.csv")
    assert too_big.status_code == 413
    assert count_rows(app, ImportBatch) == 1


def test_header_only_files_and_cells_beyond_the_headers(app, codes):
    empty = preview_of(app, make_csv([]).encode())
    assert empty.file_errors == ["取り込むデータ行がありません。"] and not empty.can_commit
    text = make_csv([person("X001")]).rstrip("\r\n") + ",余分な値\r\n"
    result = preview_of(app, text.encode())
    assert [(e.row, e.column, e.message) for e in result.row_errors] == [(2, "", "列名のない列に値があります。")]
