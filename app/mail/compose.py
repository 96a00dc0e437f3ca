"""Composing mail to registrants (S-A3): audience, merge fields in a sandbox, preview, test and campaign send.

The audience (one registrant, a selection, a saved search or search criteria) is always resolved in
SQL; only active registrants who consent to mail and whose address is not suppressed receive it.
Templates are Jinja2 rendered in a `SandboxedEnvironment` with `StrictUndefined` and no globals, so an
unknown merge field or any reach for internals is a clear error before anything is queued.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from sqlalchemy.orm import Session

from app import audit
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.mail.models import (
    CampaignStatus,
    MailCampaign,
    MailSuppression,
    MailTemplate,
    OutboxMessage,
    OutboxStatus,
)
from app.mail.services import enqueue, header_safe, is_address, mail_domain, new_message_id
from app.mail.unsubscribe import unsubscribe_url
from app.registrants.models import Registrant, RegistrantStatus

CATEGORY = "campaign"
TEST_CATEGORY = "campaign_test"
SUBJECT_MAX = 200
BODY_MAX = 20000
MAX_SELECTION = 5000
PREVIEW_CHOICES = 200
CHUNK = 1000
MAX_SCHEDULE_AHEAD = timedelta(days=366)

# merge field -> what it is (shown on the compose page and in docs/mail.md)
MERGE_FIELDS: dict[str, Any] = {
    "氏名": _l("氏名(例: 山田 花子)"),
    "姓": _l("姓(氏)"),
    "名": _l("名"),
    "氏名カナ": _l("氏名のカナ"),
    "地域": _l("居住地域(未設定なら空欄)"),
    "登録期限": _l("登録の有効期限(例: 2027年3月31日)"),
    "マイページURL": _l("登録者ページ(ログイン)のURL"),
    "配信停止URL": _l("このメールの配信停止ページのURL"),
}

# merge fields of a mail about a job posting (compose opened from a match list with ?posting_id=…)
POSTING_MERGE_FIELDS: dict[str, Any] = {
    "求人名": _l("求人の件名(例: 中学校 数学 常勤講師)"),
    "学校名": _l("学校名"),
    "職種": _l("職種"),
    "校種": _l("校種"),
    "勤務地": _l("学校の所在市町村"),
    "勤務期間": _l("勤務期間(例: 2026年4月1日〜2027年3月31日)"),
    "勤務日時": _l("勤務日・時間"),
    "募集人数": _l("募集人数(例: 1人)"),
    "問い合わせ先": _l("問い合わせ先"),
    "求人URL": _l("登録者ページの求人のURL"),
}
DEFAULT_POSTING_SUBJECT = "求人のご案内: {{ 求人名 }}"
DEFAULT_POSTING_BODY = (
    "{{ 氏名 }} 様\n\n"
    "「つなぐ」にご登録いただき、ありがとうございます。\n"
    "ご登録の内容から、次の求人をご案内します。\n\n"
    "求人名: {{ 求人名 }}\n"
    "学校名: {{ 学校名 }}({{ 校種 }}・{{ 勤務地 }})\n"
    "職種: {{ 職種 }}\n"
    "勤務期間: {{ 勤務期間 }}\n"
    "{% if 勤務日時 %}勤務日時: {{ 勤務日時 }}\n{% endif %}"
    "募集人数: {{ 募集人数 }}\n"
    "{% if 問い合わせ先 %}問い合わせ先: {{ 問い合わせ先 }}\n{% endif %}\n"
    "詳しくは次のページをご覧ください(ログインが必要です)。\n"
    "{{ 求人URL }}\n\n"
    "ご興味がありましたら、このメールへの返信またはお電話でご連絡ください。\n"
)


class ComposeError(ValueError):
    """Something about the mail or its audience that the user must fix; the message is shown as is."""


# --- the sandbox ----------------------------------------------------------------------------------------

class MailSandbox(SandboxedEnvironment):
    """No globals (range, lipsum, cycler…), and no multiplying strings or lists into huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("power operator is not allowed")
        if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
            raise SecurityError("repeating text is not allowed")
        return super().call_binop(context, operator, left, right)


_ENV = MailSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals.clear()
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _field_list(values: dict[str, str]) -> str:
    return "、".join(values)


def compile_template(text: str, part: str) -> Any:
    try:
        return _ENV.from_string(text)
    except TemplateSyntaxError as exc:
        raise ComposeError(str(_l("%(part)sの差し込み項目の書き方に誤りがあります(%(line)d行目)。"
                                  "差し込み項目は {{ 氏名 }} のように書きます。", part=part, line=exc.lineno or 1))) from None


def render_template(template: Any, values: dict[str, str], part: str) -> str:
    try:
        return str(template.render(values))
    except UndefinedError as exc:
        match = _UNDEFINED_NAME.search(str(exc.message or ""))
        if match:
            raise ComposeError(str(_l("%(part)sに使えない差し込み項目「%(name)s」があります。使える項目: %(fields)s",
                                      part=part, name=match.group(1), fields=_field_list(values)))) from None
        raise ComposeError(str(_l("%(part)sに使えない書き方があります。差し込み項目は {{ 氏名 }} のように名前だけを書きます。",
                                  part=part))) from None
    except SecurityError:
        raise ComposeError(str(_l("%(part)sに安全のため使えない書き方があります(内部の属性や関数は使えません)。",
                                  part=part))) from None
    except Exception:  # a template error of any other kind (TypeError…): the user fixes the template
        raise ComposeError(str(_l("%(part)sの差し込みを処理できませんでした。書き方を確認してください。",
                                  part=part))) from None


@dataclass(frozen=True)
class Compiled:
    subject: Any
    body: Any


def compile_mail(subject: str, body: str) -> Compiled:
    if not subject.strip():
        raise ComposeError(str(_l("件名を入力してください。")))
    if not body.strip():
        raise ComposeError(str(_l("本文を入力してください。")))
    return Compiled(compile_template(subject, str(_l("件名"))), compile_template(body, str(_l("本文"))))


def footer(url: str) -> str:
    return "\n\n" + "―" * 20 + "\n" + str(_l(
        "このメールは「つなぐ」にご登録いただき、お知らせメールの受信に同意された方にお送りしています。\n"
        "今後の配信を停止するには、次のページを開いてください。")) + "\n" + url + "\n"


def render_mail(compiled: Compiled, values: dict[str, str]) -> tuple[str, str]:
    """(subject, body) for one recipient: subject on one line; the unsubscribe footer appended."""
    subject = header_safe(render_template(compiled.subject, values, str(_l("件名"))), SUBJECT_MAX)
    body = render_template(compiled.body, values, str(_l("本文"))).replace("\r\n", "\n").replace("\r", "\n")
    if not subject:
        raise ComposeError(str(_l("差し込んだ結果、件名が空になりました。")))
    if len(body) > BODY_MAX:
        raise ComposeError(str(_l("差し込んだ結果、本文が長すぎます(%(max)d文字以内)。", max=BODY_MAX)))
    return subject, body.rstrip("\n") + footer(values["配信停止URL"])


def _date_text(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def merge_values(settings: Any, row: Any) -> dict[str, str]:
    """The merge fields for one recipient row (id, names, kana, valid_until, region label)."""
    return {
        "氏名": f"{row.family_name} {row.given_name}",
        "姓": row.family_name,
        "名": row.given_name,
        "氏名カナ": f"{row.family_name_kana} {row.given_name_kana}",
        "地域": row.region_label or "",
        "登録期限": _date_text(row.valid_until),
        "マイページURL": settings.public_url("/me"),
        "配信停止URL": unsubscribe_url(settings, row.id),
    }


def sample_values(settings: Any) -> dict[str, str]:
    return {"氏名": "見本 花子", "姓": "見本", "名": "花子", "氏名カナ": "ミホン ハナコ", "地域": "長崎市",
            "登録期限": "2027年3月31日", "マイページURL": settings.public_url("/me"),
            "配信停止URL": settings.public_url("/mail/unsubscribe/…")}


def check_template(settings: Any, subject: str, body: str) -> None:
    """Raise ComposeError if the template would not render (used when saving a MailTemplate). The posting
    fields are allowed: such a template is meant for mail opened from a match list."""
    render_mail(compile_mail(subject, body), {**sample_values(settings), **sample_posting_values(settings)})


# --- the posting a mail is about ---------------------------------------------------------------------------

def period_text(start: date, end: date | None) -> str:
    return f"{_date_text(start)}〜{_date_text(end) if end else str(_l('(定めなし)'))}"


def posting_url(settings: Any, posting_id: int) -> str:
    return str(settings.public_url(f"/postings/{posting_id}"))


def posting_values(settings: Any, posting: Any) -> dict[str, str]:
    """The posting merge fields (the same for every recipient)."""
    return {
        "求人名": posting.title,
        "学校名": posting.school_name,
        "職種": posting.job_type.label,
        "校種": posting.school_type.label,
        "勤務地": posting.region.label,
        "勤務期間": period_text(posting.period_start, posting.period_end),
        "勤務日時": posting.days_hours or "",
        "募集人数": str(_l("%(n)d人", n=posting.openings)),
        "問い合わせ先": posting.contact or "",
        "求人URL": posting_url(settings, posting.id),
    }


def sample_posting_values(settings: Any) -> dict[str, str]:
    return {"求人名": "中学校 数学 常勤講師", "学校名": "見本市立見本中学校", "職種": "常勤講師", "校種": "中学校",
            "勤務地": "長崎市", "勤務期間": "2026年4月1日〜2027年3月31日", "勤務日時": "月〜金 8:15〜16:45",
            "募集人数": "1人", "問い合わせ先": "見本市教育委員会 000-0000-0000",
            "求人URL": settings.public_url("/postings/…")}


def load_posting(session: Session, posting_id: int) -> Any:
    """The open posting a mail is about; ComposeError if it does not exist or is no longer open."""
    from app.postings.models import JobPosting, PostingStatus

    posting = session.get(JobPosting, posting_id)
    if posting is None:
        raise ComposeError(str(_l("求人が見つかりません。求人の一覧から開き直してください。")))
    if posting.status != PostingStatus.OPEN.value:
        raise ComposeError(str(_l("この求人は募集中ではないため、案内メールを送れません。")))
    return posting


def fitting_ids(session: Session, posting: Any) -> sa.Select[Any]:
    """Registrants who still meet the posting's hard requirements (the matching engine's filter)."""
    from app.matching.services import fits

    return fits(session, posting)


# --- audience ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Audience:
    registrant_ids: tuple[int, ...] = ()
    saved_search_id: int | None = None
    criteria: dict[str, Any] | None = None
    posting_id: int | None = None  # a mail about this posting: only registrants who still fit it receive it

    @property
    def empty(self) -> bool:
        return not self.registrant_ids and self.saved_search_id is None and self.criteria is None

    def to_json(self) -> str:
        about = {} if self.posting_id is None else {"posting_id": self.posting_id}
        if self.saved_search_id is not None:
            return json.dumps({"saved_search_id": self.saved_search_id, **about})
        if self.criteria is not None:
            return json.dumps({"criteria": self.criteria, **about}, ensure_ascii=False, sort_keys=True)
        return json.dumps({"registrant_ids": list(self.registrant_ids), **about})

    @classmethod
    def from_json(cls, text: str) -> Audience:
        try:
            raw = json.loads(text or "{}")
        except json.JSONDecodeError:
            raw = None
        if not isinstance(raw, dict):
            raise ComposeError(str(_l("宛先の指定が正しくありません。もう一度、登録者検索から選んでください。")))
        posting_id = None if raw.get("posting_id") is None else _positive_int(raw["posting_id"])
        if "saved_search_id" in raw:
            return cls(saved_search_id=_positive_int(raw["saved_search_id"]), posting_id=posting_id)
        if "criteria" in raw:
            return cls(criteria=_clean_criteria(raw["criteria"]), posting_id=posting_id)
        return cls(registrant_ids=ids_from(raw.get("registrant_ids") or []), posting_id=posting_id)

    def posting(self, session: Session) -> Any:
        return None if self.posting_id is None else load_posting(session, self.posting_id)

    def id_select(self, session: Session, staff: Any) -> sa.Select[Any]:
        """The registrant ids this audience names (before the consent/suppression filter); for a mail about a
        posting, only those who still meet its hard requirements (a stale selection lets nobody else through)."""
        selection = self.selection(session, staff)
        posting = self.posting(session)
        if posting is None:
            return selection
        return sa.select(Registrant.id).where(Registrant.id.in_(selection),
                                              Registrant.id.in_(fitting_ids(session, posting)))

    def counts(self, session: Session, staff: Any) -> AudienceCounts:
        posting = self.posting(session)
        return audience_counts(session, self.selection(session, staff),
                               None if posting is None else fitting_ids(session, posting))

    def selection(self, session: Session, staff: Any) -> sa.Select[Any]:
        """A SELECT of the registrant ids the audience names, as chosen (no filter at all)."""
        from app.searches import services as searches

        if self.saved_search_id is not None:
            saved = searches.visible_saved_search(session, staff, self.saved_search_id)
            if saved is None:
                raise ComposeError(str(_l("保存した検索が見つからないか、共有されていません。")))
            try:
                return searches.matching_ids(session, searches.criteria_from_json(saved.criteria))
            except searches.SearchError as exc:
                raise ComposeError(str(exc)) from None
        if self.criteria is not None:
            return searches.matching_ids(session, self.criteria)
        return sa.select(Registrant.id).where(Registrant.id.in_(self.registrant_ids or (0,)))

    def history_filters(self) -> dict[str, Any]:
        from app.searches.services import describe

        about = {} if self.posting_id is None else {"posting_id": self.posting_id}
        if self.saved_search_id is not None:
            return {"saved_search_id": self.saved_search_id, **about}
        if self.criteria is not None:
            return {"criteria": describe(self.criteria), **about}
        return {"registrant_ids": list(self.registrant_ids), **about}

    def label(self, session: Session, staff: Any) -> str:
        from app.searches.services import visible_saved_search

        if self.saved_search_id is not None:
            saved = visible_saved_search(session, staff, self.saved_search_id)
            return str(_l("保存した検索「%(name)s」", name=saved.name if saved else "?"))
        if self.criteria is not None:
            return str(_l("検索条件に一致する登録者"))
        if len(self.registrant_ids) == 1:
            return str(_l("登録者1人(ID %(id)d)", id=self.registrant_ids[0]))
        return str(_l("選択した登録者 %(n)d 人", n=len(self.registrant_ids)))


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ComposeError(str(_l("宛先の指定が正しくありません。"))) from None
    if not 0 < number < 2**31:
        raise ComposeError(str(_l("宛先の指定が正しくありません。")))
    return number


def ids_from(values: Any) -> tuple[int, ...]:
    if not isinstance(values, list | tuple):
        raise ComposeError(str(_l("宛先の指定が正しくありません。")))
    ids = sorted({_positive_int(value) for value in values})
    if len(ids) > MAX_SELECTION:
        raise ComposeError(str(_l("一度に選べる宛先は %(max)d 人までです。保存した検索を使ってください。", max=MAX_SELECTION)))
    return tuple(ids)


def _clean_criteria(raw: Any) -> dict[str, Any]:
    from app.searches.services import SearchError, clean_criteria

    try:
        return clean_criteria(raw)
    except SearchError as exc:
        raise ComposeError(str(exc)) from None


def posting_id_from(value: Any) -> int | None:
    return None if value in (None, "") else _positive_int(value)


def audience_from_args(args: Any) -> Audience:
    """The audience in the search page's link: ?registrant_id=… (one or more), ?saved_search_id=… or criteria;
    with ?posting_id=… the mail is about that posting (a match list's link)."""
    from app.searches.services import SearchError, criteria_from_args

    posting_id = posting_id_from(args.get("posting_id"))
    if args.getlist("registrant_id"):
        return Audience(registrant_ids=ids_from(args.getlist("registrant_id")), posting_id=posting_id)
    if args.get("saved_search_id"):
        return Audience(saved_search_id=_positive_int(args.get("saved_search_id")), posting_id=posting_id)
    plain = args.copy()
    plain.pop("posting_id", None)
    try:
        criteria = criteria_from_args(plain)
    except SearchError as exc:
        raise ComposeError(str(exc)) from None
    return Audience(criteria=criteria, posting_id=posting_id) if criteria else Audience(posting_id=posting_id)


def _suppressed() -> Any:
    return sa.exists().where(MailSuppression.address == sa.func.lower(Registrant.email))


def eligible() -> Any:
    """Who may receive campaign mail: active, consenting, and not suppressed (hard bounce, unsubscribe)."""
    return sa.and_(Registrant.status == RegistrantStatus.ACTIVE.value, Registrant.mail_consent == sa.true(),
                   sa.not_(_suppressed()))


@dataclass(frozen=True)
class AudienceCounts:
    total: int = 0
    eligible: int = 0
    inactive: int = 0
    no_consent: int = 0
    suppressed: int = 0
    not_fitting: int = 0  # a mail about a posting: would receive it, but no longer meet its requirements

    @property
    def skipped(self) -> int:
        return self.total - self.eligible


def audience_counts(session: Session, ids: sa.Select[Any], fitting: sa.Select[Any] | None = None) -> AudienceCounts:
    """Counts over the selection `ids`; with `fitting` (a posting's filter) only those in it are eligible."""
    active = Registrant.status == RegistrantStatus.ACTIVE.value
    consenting = Registrant.mail_consent == sa.true()
    fits = sa.true() if fitting is None else Registrant.id.in_(fitting)

    def tally(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    row = session.execute(
        sa.select(sa.func.count(), tally(sa.and_(eligible(), fits)), tally(sa.not_(active)),
                  tally(sa.and_(active, sa.not_(consenting))), tally(sa.and_(active, consenting, _suppressed())),
                  tally(sa.and_(eligible(), sa.not_(fits))) if fitting is not None else sa.literal(0))
        .select_from(Registrant).where(Registrant.id.in_(ids))).one()
    return AudienceCounts(*(int(value or 0) for value in row))


def preview_choices(session: Session, ids: sa.Select[Any]) -> list[tuple[int, str]]:
    rows = session.execute(sa.select(Registrant.id, Registrant.family_name, Registrant.given_name)
                           .where(Registrant.id.in_(ids), eligible()).order_by(Registrant.id).limit(PREVIEW_CHOICES))
    return [(row.id, f"{row.family_name} {row.given_name}(ID {row.id})") for row in rows]


def _recipient_rows(session: Session, ids: list[int]) -> list[Any]:
    return list(session.execute(
        sa.select(Registrant.id, Registrant.family_name, Registrant.given_name, Registrant.family_name_kana,
                  Registrant.given_name_kana, Registrant.email, Registrant.valid_until,
                  Code.label.label("region_label"))
        .outerjoin(Code, Code.id == Registrant.region_id)
        .where(Registrant.id.in_(ids)).order_by(Registrant.id)))


def eligible_ids(session: Session, ids: sa.Select[Any]) -> list[int]:
    return list(session.scalars(sa.select(Registrant.id).where(Registrant.id.in_(ids), eligible())
                                .order_by(Registrant.id)))


# --- preview, test send, campaign ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    subject: str
    body: str
    recipient_label: str
    to_address: str = ""


def preview(session: Session, settings: Any, staff: Any, audience: Audience, subject: str, body: str,
            registrant_id: int | None) -> Preview:
    """The mail as one recipient of the audience would get it (sample values if the audience is empty)."""
    compiled = compile_mail(subject, body)
    row = None
    if registrant_id and not audience.empty:
        allowed = sa.select(Registrant.id).where(Registrant.id.in_(audience.id_select(session, staff)), eligible(),
                                                 Registrant.id == registrant_id)
        rows = _recipient_rows(session, list(session.scalars(allowed)))
        row = rows[0] if rows else None
        if row is None:
            raise ComposeError(str(_l("プレビューする登録者が宛先に含まれていません。")))
    posting = audience.posting(session)
    values = merge_values(settings, row) if row else sample_values(settings)
    if posting is not None:
        values.update(posting_values(settings, posting))
    rendered_subject, rendered_body = render_mail(compiled, values)
    label = values["氏名"] if row else str(_l("見本の値"))
    return Preview(rendered_subject, rendered_body, label, row.email if row else "")


def send_test(session: Session, settings: Any, staff: Any, audience: Audience, subject: str, body: str,
              registrant_id: int | None, ip: str | None) -> OutboxMessage:
    """Queue the previewed mail to the staff member's own address (marked as a test). Caller commits."""
    shown = preview(session, settings, staff, audience, subject, body, registrant_id)
    message = enqueue(session, to=staff.email, subject=str(_l("[テスト送信] ")) + shown.subject, body=shown.body,
                      category=TEST_CATEGORY)
    audit.record(session, staff, "mail.test_send", f"staff:{staff.id}", {"recipients": 1}, ip)
    return message


def recipients_sha256(ids: list[int]) -> str:
    """The output-history checksum of a send: SHA-256 of the sorted recipient ids, one per line."""
    return hashlib.sha256("\n".join(str(i) for i in sorted(ids)).encode("ascii")).hexdigest()


def _scheduled_utc(scheduled_at: datetime | None) -> datetime:
    now = utcnow()
    if scheduled_at is None:
        return now
    if scheduled_at <= now:
        raise ComposeError(str(_l("予約日時は現在より後の日時を指定してください。")))
    if scheduled_at > now + MAX_SCHEDULE_AHEAD:
        raise ComposeError(str(_l("予約日時は1年以内で指定してください。")))
    return scheduled_at


@dataclass
class _Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    recipient_ids: list[int] = field(default_factory=list)


def _render_rows(session: Session, settings: Any, compiled: Compiled, ids: list[int], campaign: MailCampaign,
                 domain: str, shared: dict[str, str]) -> Iterator[_Batch]:
    for start in range(0, len(ids), CHUNK):
        batch = _Batch()
        for row in _recipient_rows(session, ids[start:start + CHUNK]):
            if not is_address(row.email):
                continue
            subject, body = render_mail(compiled, {**merge_values(settings, row), **shared})
            batch.rows.append({"category": CATEGORY, "registrant_id": row.id, "to_address": row.email,
                               "subject": subject, "body_text": body, "status": OutboxStatus.PENDING.value,
                               "attempts": 0, "not_before": campaign.scheduled_at, "created_at": campaign.created_at,
                               "message_id": new_message_id(domain), "campaign_id": campaign.id})
            batch.recipient_ids.append(row.id)
        yield batch


def queue_campaign(session: Session, settings: Any, staff: Any, audience: Audience, subject: str, body: str,
                   scheduled_at: datetime | None, ip: str | None) -> MailCampaign:
    """One send: a MailCampaign, one outbox row per eligible recipient (bulk insert), one output-history
    entry and an audit row with counts only. Any rendering error raises before the caller commits."""
    if audience.empty:
        raise ComposeError(str(_l("宛先が選ばれていません。登録者検索から宛先を選んでください。")))
    compiled = compile_mail(subject, body)
    when = _scheduled_utc(scheduled_at)
    posting = audience.posting(session)
    id_select = audience.id_select(session, staff)
    counts = audience.counts(session, staff)
    ids = eligible_ids(session, id_select)
    if not ids:
        raise ComposeError(str(_l("送信できる宛先がありません(全員が同意なし・配信停止・不達などで除外されています)。")))
    now = utcnow()
    campaign = MailCampaign(
        subject_template=subject[:SUBJECT_MAX], body_template=body, audience=audience.to_json(),
        status=(CampaignStatus.SCHEDULED if when > now else CampaignStatus.QUEUED).value, scheduled_at=when,
        created_by_id=staff.id, created_by_name=staff.display_name[:120], created_at=now)
    session.add(campaign)
    session.flush()
    recipients: list[int] = []
    domain = mail_domain(settings.mail_from)
    shared = posting_values(settings, posting) if posting is not None else {}
    for batch in _render_rows(session, settings, compiled, ids, campaign, domain, shared):
        if batch.rows:
            session.execute(sa.insert(OutboxMessage), batch.rows)
        recipients.extend(batch.recipient_ids)
    campaign.recipient_count = len(recipients)
    campaign.skipped_count = counts.total - len(recipients)
    from app.outputs.models import OutputKind
    from app.outputs.services import record_output

    record_output(session, staff, kind=OutputKind.MAIL, title=header_safe(subject),
                  filters={**audience.history_filters(), "mail_campaign_id": campaign.id,
                           "scheduled": campaign.status == CampaignStatus.SCHEDULED.value},
                  row_count=len(recipients), filename=None, sha256=recipients_sha256(recipients), ip=ip)
    audit.record(session, staff, "mail.campaign_queue", f"mail_campaign:{campaign.id}",
                 {"recipients": len(recipients), "skipped": campaign.skipped_count,
                  "scheduled": campaign.status == CampaignStatus.SCHEDULED.value,
                  **({} if posting is None else {"posting_id": posting.id})}, ip)
    if posting is not None:
        mark_contacted(session, staff, posting, recipients, subject, ip)
    return campaign


def mark_contacted(session: Session, staff: Any, posting: Any, registrant_ids: list[int], subject: str,
                   ip: str | None) -> None:
    """Everyone mailed about a posting is a candidate at stage 「連絡済」 from now on (the pipeline also
    writes the correspondence entry). A candidate already further along (interviewing, hired, declined)
    keeps their stage: a mail never moves anyone backwards. A memo staff wrote on a candidate is kept."""
    from app.matching.models import CandidateStage, MatchCandidate
    from app.matching.pipeline import PipelineError, set_stage

    further = {CandidateStage.INTERVIEWING.value, CandidateStage.HIRED.value, CandidateStage.DECLINED.value}
    note = str(_l("メールで求人を案内しました(件名: %(subject)s)", subject=header_safe(subject, 120)))
    for start in range(0, len(registrant_ids), CHUNK):
        chunk = registrant_ids[start:start + CHUNK]
        known = {row.registrant_id: row for row in session.execute(
            sa.select(MatchCandidate.registrant_id, MatchCandidate.stage, MatchCandidate.note).where(
                MatchCandidate.posting_id == posting.id, MatchCandidate.registrant_id.in_(chunk)))}
        for registrant_id in chunk:
            row = known.get(registrant_id)
            if row is not None and row.stage in further:
                continue
            try:
                set_stage(session, staff, posting, registrant_id, CandidateStage.CONTACTED.value,
                          note=note if row is None or not row.note else None, ip=ip)
            except PipelineError as exc:  # cannot happen for a recipient who fits; never half-send if it does
                raise ComposeError(str(exc)) from None


def cancel_campaign(session: Session, staff: Any, campaign: MailCampaign, ip: str | None) -> int:
    """Cancel what has not been sent yet: its pending outbox rows are deleted (rows already being sent or
    sent stay). Returns how many were removed. Caller commits."""
    removed = session.execute(
        sa.delete(OutboxMessage).where(OutboxMessage.campaign_id == campaign.id,
                                       OutboxMessage.status == OutboxStatus.PENDING.value)
        .execution_options(synchronize_session=False)).rowcount or 0
    campaign.status = CampaignStatus.CANCELLED.value
    audit.record(session, staff, "mail.campaign_cancel", f"mail_campaign:{campaign.id}", {"removed": removed}, ip)
    return int(removed)


def campaign_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per campaign: sent / failed / pending (queued or sending) / bounced."""
    counts: dict[int, dict[str, int]] = {cid: {"sent": 0, "failed": 0, "pending": 0, "bounced": 0}
                                         for cid in campaign_ids}
    if not campaign_ids:
        return counts
    rows = session.execute(
        sa.select(OutboxMessage.campaign_id, OutboxMessage.status, sa.func.count(),
                  sa.func.count(OutboxMessage.bounced_at))
        .where(OutboxMessage.campaign_id.in_(campaign_ids))
        .group_by(OutboxMessage.campaign_id, OutboxMessage.status))
    for campaign_id, status, number, bounced in rows:
        bucket = counts[campaign_id]
        key = status if status in ("sent", "failed") else "pending"
        bucket[key] += number
        bucket["bounced"] += bounced
    return counts


# --- templates and suppressions ------------------------------------------------------------------------------

def save_template(session: Session, settings: Any, staff: Any, template: MailTemplate | None, *, name: str,
                  subject: str, body: str, ip: str | None) -> MailTemplate:
    """Create or update a MailTemplate after checking it renders; ComposeError for a bad one. Caller commits."""
    name = name.strip()
    check_template(settings, subject, body)
    clash = session.scalar(sa.select(MailTemplate.id).where(MailTemplate.name == name))
    if clash is not None and (template is None or clash != template.id):
        raise ComposeError(str(_l("同じ名前のひな形があります。別の名前にしてください。")))
    action = "mail.template_update"
    if template is None:
        template = MailTemplate(name=name, subject=subject, body=body)
        session.add(template)
        action = "mail.template_create"
    template.name, template.subject, template.body = name, subject, body
    template.updated_by_id, template.updated_at = staff.id, utcnow()
    session.flush()
    audit.record(session, staff, action, f"mail_template:{template.id}", {"name": name}, ip)
    return template


def delete_template(session: Session, staff: Any, template: MailTemplate, ip: str | None) -> None:
    audit.record(session, staff, "mail.template_delete", f"mail_template:{template.id}", {"name": template.name}, ip)
    session.delete(template)


def lift_suppression(session: Session, staff: Any, suppression: MailSuppression, ip: str | None) -> None:
    """Let mail go to the address again (after the registrant fixed their mailbox). Caller commits."""
    audit.record(session, staff, "mail.suppression_lift", f"mail_suppression:{suppression.id}",
                 {"reason": suppression.reason}, ip)
    session.delete(suppression)
