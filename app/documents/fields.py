"""The fillable cells of the application form (採用志願書), by the workbook-level defined name that locates them.

A template the prefecture uploads must define every REQUIRED name; the OPTIONAL ones are filled when present.
A name may point at one cell or at a range (e.g. a merged block): the value goes into its top-left cell.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

APPLICATION = "application"  # FormTemplate.form_kind of the 採用志願書

REQUIRED = {
    "applicant_name": _l("氏名"),
    "applicant_kana": _l("ふりがな"),
    "birth_date": _l("生年月日"),
    "address": _l("住所"),
    "phone": _l("電話番号"),
    "email": _l("メールアドレス"),
    "licences": _l("免許・資格"),
    "job_types": _l("希望職種"),
}
OPTIONAL = {
    "form_date": _l("記入日"),
    "age": _l("年齢"),
    "postal_code": _l("郵便番号"),
    "region": _l("居住地域"),
    "subjects": _l("教科"),
    "school_types": _l("希望校種"),
    "available_from": _l("勤務可能日"),
    "availability_note": _l("勤務条件"),
    "former_department": _l("退職時の所属"),
    "left_year": _l("退職年度"),
    "career": _l("職歴・経歴"),
    "interests": _l("関心のある分野・活動"),
    "remarks": _l("備考(登録番号・登録日・有効期限)"),
}
ALL = {**REQUIRED, **OPTIONAL}
