"""The hand-over package's fields: one definition from which the CSV headers, the workbook's header
rows, the JSON Schema (`docs/handover-schema.json`) and the importer's checks are all derived.

    python -m app.handover.schema docs/handover-schema.json     (re-generate the documented schema)

Values in a row are JSON-like: text, whole numbers, true/false, dates as ``YYYY-MM-DD``, timestamps in
UTC as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, and null for an empty CSV cell. `check_row` validates a
row against the schema with the small subset of JSON Schema the package uses (type, enum, maxLength,
pattern, required, additionalProperties), so no extra dependency is needed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

FORMAT = "tsunagu-handover"
FORMAT_VERSION = "1.2"
SCHEMA_ID = "urn:tsunagu:handover:1"
SCHEMA_FILE = "handover-schema.json"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"

STATUSES = ("pending", "active", "expired", "withdrawn", "anonymised")
SOURCES = ("e_application", "import", "self", "staff", "demo")
CONSENT_KINDS = ("privacy_notice", "mail", "data_use")


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | integer | boolean | date | datetime
    title: str  # the Japanese column heading
    description: str
    required: bool = False  # never empty (null)
    max_length: int | None = None
    enum: tuple[str, ...] | None = None
    since_minor: int = 0  # a column added in format 1.<since_minor>: older packages may lack it

    def json_schema(self) -> dict[str, Any]:
        base = {"date": "string", "datetime": "string"}.get(self.type, self.type)
        schema: dict[str, Any] = {"type": base if self.required else [base, "null"], "title": self.title,
                                  "description": self.description}
        if self.type == "date":
            schema |= {"format": "date", "pattern": DATE_PATTERN}
        elif self.type == "datetime":
            schema |= {"format": "date-time", "pattern": DATETIME_PATTERN}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.enum is not None:
            schema["enum"] = list(self.enum) + ([] if self.required else [None])
        return schema


@dataclass(frozen=True)
class Entity:
    name: str  # key in the schema and the manifest
    file: str  # CSV file name
    sheet: str  # worksheet name in registrants.xlsx
    description: str
    fields: tuple[Field, ...]
    reserved: bool = False  # part of the format, not yet filled (always empty in this version)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object", "title": self.sheet, "description": self.description,
            "x-csv-file": self.file, "x-sheet": self.sheet,
            "properties": {f.name: f.json_schema() for f in self.fields},
            "required": self.names, "additionalProperties": False,
        }


def _f(name: str, type_: str, title: str, description: str, **options: Any) -> Field:
    return Field(name, type_, title, description, **options)


UTC_NOTE = "UTC、ISO 8601 形式(例: 2026-04-01T00:30:00Z)"

REGISTRANTS = Entity("registrants", "registrants.csv", "登録者", (
    "登録者1人につき1行。パスワード(ハッシュ)とログイン失敗回数・ロック状態は含まない(認証情報は引き継がず、"
    "登録者は引き継ぎ先のシステムでパスワードを設定し直す)。"), (
    _f("registrant_id", "integer", "登録者ID", "パッケージ内で登録者を識別する番号(元システムの内部ID)。"
       "他のファイルの registrant_id はこの値を指す", required=True),
    _f("family_name", "string", "氏", "氏(漢字等)", required=True, max_length=50),
    _f("given_name", "string", "名", "名(漢字等)", required=True, max_length=50),
    _f("family_name_kana", "string", "氏(カナ)", "氏のフリガナ", required=True, max_length=50),
    _f("given_name_kana", "string", "名(カナ)", "名のフリガナ", required=True, max_length=50),
    _f("birth_date", "date", "生年月日", "生年月日(YYYY-MM-DD)"),
    _f("email", "string", "メールアドレス", "メールアドレス(ログインID。パッケージ内で一意)", required=True,
       max_length=254),
    _f("phone", "string", "電話番号", "電話番号(ハイフン等は入力どおり)", max_length=20),
    _f("postal_code", "string", "郵便番号", "郵便番号(例: 850-8570)", max_length=8),
    _f("address", "string", "住所", "住所", max_length=200),
    _f("region_code", "string", "地域コード", "居住地域のコード(コードマスタ region のコード値)", max_length=32),
    _f("region_label", "string", "地域", "居住地域の表示名(取込先にコードがなければこの名称で作成する)", max_length=100),
    _f("available_from", "date", "勤務可能日", "勤務可能となる日(YYYY-MM-DD)"),
    _f("availability_note", "string", "勤務条件の補足", "勤務可能な曜日・時間帯などの補足", max_length=500),
    _f("former_department", "string", "退職時の所属", "退職時の所属(OB・OG)", max_length=100),
    _f("left_year", "integer", "退職年度", "退職年度(西暦)"),
    _f("career_note", "string", "職歴・経歴", "職歴・経歴(自由記述、改行を含むことがある)", max_length=65535),
    _f("interests", "string", "関心のある分野", "関心のある分野・活動(自由記述)", max_length=1000),
    _f("mail_consent", "boolean", "メール受信の同意", "お知らせメールの受信に同意しているか(true / false)",
       required=True),
    _f("data_use_consent", "boolean", "情報利用の同意", "マッチング等への登録情報の利用に同意しているか(true / false)",
       required=True),
    _f("posting_notice_opt_in", "boolean", "新着求人メールの希望",
       "条件に合う新着求人のお知らせメールを希望するか(true / false)。版 1.2 から。1.1 以前のパッケージにはない(false とみなす)",
       since_minor=2),
    _f("privacy_notice_version", "string", "同意した個人情報の取扱いの版", "同意した個人情報の取扱い(プライバシーポリシー)の版",
       max_length=20),
    _f("status", "string", "状態", "状態(pending=確認待ち / active=有効 / expired=期限切れ / withdrawn=退会 / "
       "anonymised=匿名化済)", required=True, enum=STATUSES),
    _f("registered_at", "datetime", "登録日時", f"登録日時({UTC_NOTE})", required=True),
    _f("valid_until", "date", "有効期限", "登録の有効期限(年度末 3月31日)", required=True),
    _f("renewed_at", "datetime", "最終更新手続日時", f"最後に年度更新した日時({UTC_NOTE})"),
    _f("status_changed_at", "datetime", "状態変更日時", f"状態が最後に変わった日時({UTC_NOTE})。保存期間の起算日"),
    _f("email_verified_at", "datetime", "メール確認日時", f"メールアドレスを確認した日時({UTC_NOTE})"),
    _f("approved_at", "datetime", "承認日時", f"本人登録を職員が承認した日時({UTC_NOTE})"),
    _f("withdrawal_requested_at", "datetime", "退会申出日時", f"本人が退会を申し出た日時({UTC_NOTE})"),
    _f("last_login_at", "datetime", "最終ログイン日時", f"最終ログイン日時({UTC_NOTE})"),
    _f("source", "string", "登録経路", "登録経路(e_application=電子申請 / import=CSV取込 / self=本人登録 / "
       "staff=職員 / demo=デモ)", required=True, enum=SOURCES),
    _f("external_id", "string", "連携元レコードID", "連携元(電子申請システム等)のレコードID", max_length=64),
    _f("referral_code", "string", "流入元QRコード", "登録のきっかけになったQRコード(referral_codes.csv の code)",
       max_length=32),
    _f("source_updated_at", "datetime", "連携元更新日時", f"連携元での最終更新日時({UTC_NOTE})"),
    _f("source_hash", "string", "連携元ハッシュ", "最後に反映した連携元レコードのハッシュ(変更なしの判定用)",
       max_length=64),
    _f("updated_at", "datetime", "最終更新日時", f"登録情報の最終更新日時({UTC_NOTE})", required=True),
))

REGISTRANT_CODES = Entity("registrant_codes", "registrant_codes.csv", "登録者コード", (
    "登録者に付く免許・資格、教科、希望職種、希望校種(コードマスタの項目)。登録者とコードの組ごとに1行"), (
    _f("registrant_id", "integer", "登録者ID", "registrants.csv の registrant_id", required=True),
    _f("kind", "string", "コード種別", "コード種別(licence=免許・資格 / subject=教科 / job_type=希望職種 / "
       "school_type=希望校種 など)", required=True, max_length=32),
    _f("code", "string", "コード", "コード値(種別内で一意)", required=True, max_length=32),
    _f("label", "string", "名称", "表示名(日本語)。取込先にコードがなければこの名称で作成する", required=True,
       max_length=100),
    _f("label_en", "string", "名称(英語)", "表示名(英語)", max_length=100),
))

CONSENTS = Entity("consents", "consents.csv", "同意履歴", (
    "同意の記録(個人情報の取扱い・メール受信・情報利用)。同意・撤回のたびに1行"), (
    _f("consent_id", "integer", "同意記録ID", "パッケージ内で同意の記録を識別する番号", required=True),
    _f("registrant_id", "integer", "登録者ID", "registrants.csv の registrant_id", required=True),
    _f("kind", "string", "同意の種類", "同意の種類(privacy_notice=個人情報の取扱い / mail=メール受信 / "
       "data_use=情報利用)", required=True, enum=CONSENT_KINDS),
    _f("granted", "boolean", "同意", "同意した(true)か、撤回した(false)か", required=True),
    _f("notice_version", "string", "個人情報の取扱いの版", "同意時の個人情報の取扱いの版", max_length=20),
    _f("source", "string", "記録の経路", "記録の経路(e_application / import / self / staff など)", required=True,
       max_length=20),
    _f("recorded_at", "datetime", "記録日時", f"記録日時({UTC_NOTE})", required=True),
))

STATUS_CHANGES = Entity("status_changes", "status_changes.csv", "状態履歴", (
    "登録者の状態変更の履歴(登録、年度更新、期限切れ、退会、匿名化など)。変更ごとに1行"), (
    _f("status_change_id", "integer", "履歴ID", "パッケージ内で状態変更を識別する番号", required=True),
    _f("registrant_id", "integer", "登録者ID", "registrants.csv の registrant_id", required=True),
    _f("from_status", "string", "変更前の状態", "変更前の状態(新規登録は空)", enum=STATUSES),
    _f("to_status", "string", "変更後の状態", "変更後の状態", required=True, enum=STATUSES),
    _f("reason", "string", "理由", "理由(例: created_by_import, renewed, fiscal_year_end, withdrawal, "
       "retention_period_ended)", required=True, max_length=64),
    _f("changed_at", "datetime", "変更日時", f"変更日時({UTC_NOTE})", required=True),
))

REFERRAL_CODES = Entity("referral_codes", "referral_codes.csv", "登録用QRコード", (
    "登録用QRコード(チラシ・ポスター・イベント別の流入元)。registrants.csv の referral_code が指す"), (
    _f("code", "string", "識別子", "URLに入る識別子(パッケージ内で一意)", required=True, max_length=32),
    _f("label", "string", "名称", "名称(例: 令和8年度パンフレット)", required=True, max_length=100),
    _f("medium", "string", "媒体", "媒体(pamphlet / poster / event / web / other)", required=True, max_length=20),
    _f("is_active", "boolean", "有効", "有効か(true / false)", required=True),
    _f("created_at", "datetime", "作成日時", f"作成日時({UTC_NOTE})", required=True),
))

CORRESPONDENCE = Entity("correspondence", "correspondence.csv", "対応履歴", (
    "対応履歴(職員と登録者のやり取りの記録)。記録1件につき1行(現在の内容)。編集前の内容は "
    "correspondence_revisions.csv にある"), (
    _f("correspondence_id", "integer", "対応履歴ID", "パッケージ内で対応履歴を識別する番号", required=True),
    _f("registrant_id", "integer", "登録者ID", "registrants.csv の registrant_id", required=True),
    _f("occurred_at", "datetime", "対応日時", f"対応した日時({UTC_NOTE})", required=True),
    _f("channel", "string", "手段", "手段のコード(コードマスタ correspondence_channel のコード値。例: phone=電話 / "
       "mail=メール / meeting=面談 / counter=窓口 / letter=書面 / other=その他)", required=True, max_length=32),
    _f("channel_label", "string", "手段の名称", "手段の表示名(取込先にコードがなければこの名称で作成する)",
       required=True, max_length=100),
    _f("staff_name", "string", "対応者", "対応した職員の表示名(記録時点)", required=True, max_length=120),
    _f("subject", "string", "件名", "件名", required=True, max_length=200),
    _f("body", "string", "内容", "対応内容(自由記述、改行を含むことがある)", required=True, max_length=4000),
    _f("outcome", "string", "結果", "結果(短い記述)", max_length=200),
    _f("follow_up_on", "date", "次回対応予定日", "次回対応予定日(YYYY-MM-DD)"),
    _f("created_at", "datetime", "作成日時", f"記録を作成した日時({UTC_NOTE})", required=True),
    _f("updated_at", "datetime", "最終更新日時", f"記録を最後に編集した日時({UTC_NOTE})", required=True),
))

CORRESPONDENCE_REVISIONS = Entity("correspondence_revisions", "correspondence_revisions.csv", "対応履歴の変更履歴", (
    "対応履歴の編集前の版。編集のたびに、編集前の内容と編集した職員・日時を1行"), (
    _f("revision_id", "integer", "変更履歴ID", "パッケージ内で編集前の版を識別する番号(古い版ほど小さい)",
       required=True),
    _f("correspondence_id", "integer", "対応履歴ID", "correspondence.csv の correspondence_id", required=True),
    _f("occurred_at", "datetime", "対応日時", f"編集前の対応日時({UTC_NOTE})", required=True),
    _f("channel", "string", "手段", "編集前の手段のコード(correspondence.csv の channel と同じ)", required=True,
       max_length=32),
    _f("channel_label", "string", "手段の名称", "編集前の手段の表示名", required=True, max_length=100),
    _f("staff_name", "string", "対応者", "編集前の対応者の表示名", required=True, max_length=120),
    _f("subject", "string", "件名", "編集前の件名", required=True, max_length=200),
    _f("body", "string", "内容", "編集前の対応内容", required=True, max_length=4000),
    _f("outcome", "string", "結果", "編集前の結果", max_length=200),
    _f("follow_up_on", "date", "次回対応予定日", "編集前の次回対応予定日(YYYY-MM-DD)"),
    _f("edited_by_name", "string", "編集者", "編集した職員の表示名(編集時点)", required=True, max_length=120),
    _f("edited_at", "datetime", "編集日時", f"編集した日時({UTC_NOTE})。この版が置き換えられた日時", required=True),
))

ENTITIES: tuple[Entity, ...] = (REGISTRANTS, REGISTRANT_CODES, CONSENTS, STATUS_CHANGES, REFERRAL_CODES,
                                CORRESPONDENCE, CORRESPONDENCE_REVISIONS)
BY_NAME = {entity.name: entity for entity in ENTITIES}


def json_schema() -> dict[str, Any]:
    """The whole package as one JSON document: {entity name: [row, ...]} (the CSV files, typed)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Tsunagu 引き継ぎパッケージ(登録者データ)",
        "description": (
            "Tsunagu の登録者データを後継システムへ引き継ぐパッケージの定義。パッケージは CSV ファイル"
            "(エンティティごとに1つ)、同じ内容の registrants.xlsx、manifest.json、このスキーマからなる。"
            "各 CSV の1行が、対応する $defs のオブジェクト1つにあたる(空欄は null)。"
            "文字列のセルが = + - @ タブ 復帰 ' のいずれかで始まる場合、CSV では先頭に ' が1文字付く"
            "(表計算ソフトでの数式実行を防ぐため)。取り込む側は先頭の ' を1文字取り除くこと。"
            "詳細は docs/handover.md を参照。"),
        "x-format": FORMAT,
        "x-format-version": FORMAT_VERSION,
        "type": "object",
        "properties": {
            entity.name: {"type": "array", "description": f"{entity.file}({entity.sheet})",
                          "items": {"$ref": f"#/$defs/{entity.name}"}}
            for entity in ENTITIES
        },
        "required": [entity.name for entity in ENTITIES],
        "additionalProperties": False,
        "$defs": {entity.name: entity.json_schema() for entity in ENTITIES},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


# --- checking rows against the schema -----------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,),
                                       "null": (type(None),)}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def check_row(row_schema: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Problems of one row against one `$defs` entry (empty list: valid)."""
    problems = [f"missing field {name!r}" for name in row_schema.get("required", []) if name not in row]
    properties = row_schema["properties"]
    if row_schema.get("additionalProperties") is False:
        problems += [f"unknown field {name!r}" for name in row if name not in properties]
    for name, value in row.items():
        spec = properties.get(name)
        if spec is None:
            continue
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        if not any(_is_type(value, t) for t in types):
            problems.append(f"{name}: expected {' or '.join(types)}, got {type(value).__name__}")
            continue
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"{name}: {value!r} is not one of {spec['enum']}")
        if isinstance(value, str):
            if "maxLength" in spec and len(value) > spec["maxLength"]:
                problems.append(f"{name}: longer than {spec['maxLength']} characters")
            if "pattern" in spec and not re.search(spec["pattern"], value):
                problems.append(f"{name}: {value!r} does not match {spec['pattern']}")
            elif spec.get("format") in {"date", "date-time"}:
                try:
                    if spec["format"] == "date":
                        date.fromisoformat(value)
                    else:
                        datetime.fromisoformat(value.removesuffix("Z"))
                except ValueError:
                    problems.append(f"{name}: {value!r} is not a real date or time")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m app.handover.schema OUTFILE", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(schema_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
