"""The e-application adapter (S1): an HTTP client for the contract in docs/e-application-api.yaml, and the
field map that turns one API record into an `IncomingRecord`.

Only the standard library is used (`urllib.request` + `json`): one GET with a bearer token per page is all
the contract needs. Transient failures (5xx, 429, timeouts, dropped connections, a body that is not the
expected JSON) are retried with exponential backoff and jitter, honouring `Retry-After`; after
`max_retries` retries the last reason is raised as `SyncApiError`. Neither the token nor any record content
is ever logged or put into an error message.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l

from app.registrants.records import FIELDS, REQUIRED, IncomingRecord

log = logging.getLogger("tsunagu.sync")

DEFAULT_FIELD_MAP = Path(__file__).with_name("field_map.toml")
BACKOFF_BASE_SECONDS = 1.0  # first retry after 0.5-1 s, then 1-2 s, 2-4 s, ... (tests lower this)
BACKOFF_CAP_SECONDS = 60.0
RETRY_AFTER_CAP_SECONDS = 300.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
FIELD_TYPES = ("text", "list", "bool", "date")


# --- the field map -------------------------------------------------------------------------------------

class FieldMapError(Exception):
    """The field-map file is missing or says something Tsunagu cannot use."""


class RecordFormatError(ValueError):
    """One API record is not shaped as the contract says; the message is for staff (Japanese)."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        super().__init__(message)
        self.record_id = record_id


@dataclass(frozen=True)
class FieldMap:
    id_key: str
    updated_at_key: str
    status_key: str
    withdrawn_statuses: frozenset[str]
    answers_key: str
    fields: dict[str, tuple[str, str]]  # Tsunagu field -> (form item name, type)

    def to_incoming(self, raw: Any) -> IncomingRecord:
        """One API record as an IncomingRecord; RecordFormatError when its shape is wrong."""
        if not isinstance(raw, dict):
            raise RecordFormatError(str(_l("レコードがJSONのオブジェクトではありません")))
        record_id = _record_id(raw.get(self.id_key))
        if record_id is None:
            raise RecordFormatError(str(_l("レコードID(%(key)s)がないか、形式が正しくありません", key=self.id_key)))
        try:
            updated_at = parse_timestamp(raw.get(self.updated_at_key))
        except ValueError:
            raise RecordFormatError(str(_l("更新日時(%(key)s)がないか、日時として読めません", key=self.updated_at_key)),
                                    record_id) from None
        status = raw.get(self.status_key)
        answers = raw.get(self.answers_key) if self.answers_key else raw
        if not isinstance(answers, dict):
            raise RecordFormatError(str(_l("回答(%(key)s)がJSONのオブジェクトではありません", key=self.answers_key)),
                                    record_id)
        fields: dict[str, Any] = {}
        for name, (key, kind) in self.fields.items():
            if key in answers:
                value = _convert(answers[key], kind)
                if value is _BAD:
                    raise RecordFormatError(str(_l("「%(key)s」の値の形式が正しくありません", key=key)), record_id)
                if value is not None:
                    fields[name] = value
        return IncomingRecord(record_id=record_id, fields=fields, source_updated_at=updated_at,
                              withdrawn=isinstance(status, str) and status.strip() in self.withdrawn_statuses)


_BAD = object()


def _record_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if text and len(text) <= 64 and text.isprintable() else None


def _convert(value: Any, kind: str) -> Any:
    """Form answers as JSON-native values (so the record fingerprint is stable); _BAD for nonsense."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _BAD
    if kind == "list":
        if isinstance(value, list):
            if any(isinstance(item, dict | list) for item in value):
                return _BAD
            return [str(item) for item in value if item is not None and str(item).strip()]
        return str(value)
    if isinstance(value, list):
        if kind == "bool" or any(isinstance(item, dict | list) for item in value):
            return _BAD
        return "、".join(str(item) for item in value if item is not None)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        return str(value)  # はい / いいえ ...: validation reads it and explains a bad value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_field_map(path: str | None = None) -> FieldMap:
    """Read the bundled map, or the file `sync_field_map` names; refuse unknown fields and types."""
    source = Path(path) if path else DEFAULT_FIELD_MAP
    try:
        with source.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise FieldMapError(f"{source}: field map not found (setting sync_field_map)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FieldMapError(f"{source}: not a readable TOML file ({exc})") from None
    record = data.get("record", {})
    raw_fields = data.get("fields")
    if not isinstance(record, dict) or not isinstance(raw_fields, dict) or not raw_fields:
        raise FieldMapError(f"{source}: needs a [record] table and a non-empty [fields] table")
    fields: dict[str, tuple[str, str]] = {}
    for name, spec in raw_fields.items():
        if name not in FIELDS:
            raise FieldMapError(f"{source}: [fields] {name!r} is not a Tsunagu field (see records.FIELDS)")
        if isinstance(spec, str):
            spec = {"from": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("from"), str) or not spec["from"]:
            raise FieldMapError(f"{source}: [fields] {name}: expected \"item name\" or {{ from = ..., type = ... }}")
        kind = spec.get("type", "text")
        if kind not in FIELD_TYPES or set(spec) - {"from", "type"}:
            raise FieldMapError(f"{source}: [fields] {name}: type must be one of {', '.join(FIELD_TYPES)}")
        fields[name] = (spec["from"], kind)
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise FieldMapError(f"{source}: [fields] must map the required field(s) {', '.join(missing)}")
    withdrawn = record.get("withdrawn_statuses", ["withdrawn"])
    keys = {key: record.get(key, key) for key in ("id", "updated_at", "status")}
    answers = record.get("answers", "answers")
    if not all(isinstance(v, str) and v for v in keys.values()) or not isinstance(answers, str) \
            or not isinstance(withdrawn, list) or not all(isinstance(v, str) for v in withdrawn):
        raise FieldMapError(f"{source}: [record] keys must be strings and withdrawn_statuses a list of strings")
    return FieldMap(id_key=keys["id"], updated_at_key=keys["updated_at"], status_key=keys["status"],
                    withdrawn_statuses=frozenset(withdrawn), answers_key=answers, fields=fields)


# --- timestamps (the cursor) ----------------------------------------------------------------------------

def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp as naive UTC; a value without an offset is taken as UTC. ValueError otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError("not a timestamp")
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def format_timestamp(moment: datetime) -> str:
    """The cursor's text form: UTC with microseconds and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the HTTP client ------------------------------------------------------------------------------------

class SyncApiError(Exception):
    """The e-application API could not be used; the message is shown to staff and stored with the run."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchedPage:
    records: list[Any]
    next_page_token: str | None
    server_time: str | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: refuse it."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise SyncApiError(str(_l("電子申請システムがリダイレクト(HTTP %(code)d)を返しました。"
                                  "sync_api_url を確認してください", code=code)))


class ApiClient:
    """GET /records page by page, with retries. `sleep` and `rng` are replaceable for tests."""

    def __init__(self, base_url: str, token: str, *, page_size: int = 500, timeout: float = 10,
                 max_retries: int = 4, sleep: Callable[[float], Any] = time.sleep,
                 rng: random.Random | None = None,
                 on_retry: Callable[[int, float, str], Any] | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise SyncApiError(str(_l("sync_api_url は http:// か https:// で始まる URL にしてください")))
        if not token:
            raise SyncApiError(str(_l("sync_api_token が設定されていません")))
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.page_size = page_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.on_retry = on_retry
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:  # never show the token
        return f"ApiClient({self.base_url!r})"

    def pages(self, updated_since: str | None) -> Iterator[FetchedPage]:
        """Every page from `updated_since` on; the next page is fetched only when the caller asks for it."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.get_page(updated_since, token)
            yield page
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise SyncApiError(str(_l("電子申請システムが同じページを繰り返し返しました(next_page_token の不具合)")))
            seen.add(token)

    def get_page(self, updated_since: str | None, page_token: str | None) -> FetchedPage:
        params: dict[str, str] = {"page_size": str(self.page_size)}
        if updated_since:
            params["updated_since"] = updated_since
        if page_token:
            params["page_token"] = page_token
        url = f"{self.base_url}/records?{urllib.parse.urlencode(params)}"
        attempt = 0
        while True:
            try:
                return _parse_page(self._get(url))
            except SyncApiError as exc:
                if not exc.retryable or attempt >= self.max_retries:
                    if exc.retryable and self.max_retries:
                        raise SyncApiError(str(_l("%(reason)s(%(n)d回試行しました)", reason=str(exc),
                                                  n=attempt + 1))) from None
                    raise
                delay = self._delay(attempt, exc.retry_after)
                log.warning("e-application API: %s; retry %d/%d in %.1f s", exc, attempt + 1, self.max_retries,
                            delay)
                if self.on_retry:
                    self.on_retry(attempt + 1, delay, str(exc))
                self.sleep(delay)
                attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP_SECONDS)
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** attempt))
        return ceiling * self.rng.uniform(0.5, 1.0)

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, method="GET", headers={  # noqa: S310 (scheme checked above)
            "Authorization": f"Bearer {self._token}", "Accept": "application/json",
            "User-Agent": "Tsunagu-sync/1.0"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _http_error(exc.code, exc.headers) from None
        except SyncApiError:
            raise
        except TimeoutError:
            raise SyncApiError(str(_l("電子申請システムから応答がありません(タイムアウト %(s)s秒)", s=self.timeout)),
                               retryable=True) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise SyncApiError(str(_l("電子申請システムから応答がありません(タイムアウト %(s)s秒)",
                                          s=self.timeout)), retryable=True) from None
            raise SyncApiError(str(_l("電子申請システムに接続できません(%(reason)s)",
                                      reason=_reason(exc.reason))), retryable=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SyncApiError(str(_l("電子申請システムとの通信が途中で切れました(%(reason)s)",
                                      reason=type(exc).__name__)), retryable=True) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise SyncApiError(str(_l("電子申請システムの応答が大きすぎます(page_size を小さくしてください)")))
        return body


def _reason(reason: Any) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return f"{type(reason).__name__}: {reason.strerror}"
    return type(reason).__name__ if isinstance(reason, BaseException) else str(reason)[:100]


def _retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _http_error(status: int, headers: Any) -> SyncApiError:
    if status in (401, 403):
        return SyncApiError(str(_l("電子申請システムの認証に失敗しました(HTTP %(status)d)。"
                                   "sync_api_token を確認してください", status=status)))
    if status == 429:
        return SyncApiError(str(_l("電子申請システムが要求の制限中です(HTTP 429)")), retryable=True,
                            retry_after=_retry_after(headers))
    if status >= 500:
        return SyncApiError(str(_l("電子申請システムでエラーが発生しました(HTTP %(status)d)", status=status)),
                            retryable=True, retry_after=_retry_after(headers) if status == 503 else None)
    return SyncApiError(str(_l("電子申請システムが要求を受け付けませんでした(HTTP %(status)d)", status=status)))


def _parse_page(body: bytes) -> FetchedPage:
    """The page as the contract says, or a retryable error (a cut-off body is usually transient)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        position = getattr(exc, "pos", getattr(exc, "start", 0))
        raise SyncApiError(str(_l("電子申請システムの応答がJSONとして読めません(%(n)dバイト目)", n=position)),
                           retryable=True) from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise SyncApiError(str(_l("電子申請システムの応答に records の一覧がありません")), retryable=True)
    token = data.get("next_page_token")
    if token is not None and (not isinstance(token, str) or len(token) > 512):
        raise SyncApiError(str(_l("電子申請システムの応答の next_page_token が正しくありません")), retryable=True)
    server_time = data.get("server_time")
    return FetchedPage(records=data["records"], next_page_token=token or None,
                       server_time=server_time if isinstance(server_time, str) else None)
