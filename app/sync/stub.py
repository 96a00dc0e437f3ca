"""A stub of the prefecture's e-application API (docs/e-application-api.yaml) for development, demos and tests.

It serves fictitious, deterministic (by seed) Japanese registrant records whose code values are the demo
code masters' labels, on 127.0.0.1 only, behind a bearer token. Faults and changes are injected per run
through `POST /_control` (same token) or the CLI flags of `flask sync stub`:

    {"fail_next": 2, "mode": "500"}             the next 2 /records requests fail (modes: FAIL_MODES)
    {"fail_after_page": 2, "mode": "timeout"}   2 more pages are served, then every request fails
                                                (add "fail_count": n to fail only n times)
    {"fail_rate": 0.2, "mode": "503"}           a random share of requests fails (seeded)
    {"reset": true}                             no more injected failures
    {"touch": 10} or {"touch": ["EA-…"]}        change records (phone, note) and their updated_at
    {"bad_records": 3} / {"fix": "all"}         make records invalid (e-mail, region, kana, date) / repair them
    {"withdraw": ["EA-…"]}                      status withdrawn
    {"duplicate": {"of": "EA-…", "by": "name_birth" | "email"}}   a second record for the same person
    {"add": 5}                                  new records
    {"remove": ["EA-…"]}                        drop records (a source that loses data; Tsunagu deletes nothing)
    {"page_delay": 0.5, "hang_seconds": 3, "retry_after": 1}      timing knobs
Several keys may be combined; the answer names the affected record ids.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import random
import threading
import time
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.demo.data import CODE_MASTERS, FAMILY_NAMES, GIVEN_NAMES
from app.sync.connector import format_timestamp, parse_timestamp

EPOCH = datetime(2026, 4, 1, 0, 0, 0)  # the first stub record's updated_at (UTC)
FAIL_MODES = ("500", "503", "429", "401", "timeout", "malformed", "bad_shape")
MAX_PAGE_SIZE = 1000
CITIES = {"nagasaki": "長崎市", "sasebo": "佐世保市", "shimabara": "島原市", "kenou": "諫早市", "kenhoku": "平戸市",
          "goto": "五島市", "iki": "壱岐市", "tsushima": "対馬市"}
SCHOOL_NAMES = ("桜", "緑が丘", "青葉", "中央", "東", "西", "南", "北", "港", "山手")
INTERESTS = ("特別支援教育", "部活動指導", "学習支援", "ICT活用", "不登校支援", "日本語指導", "読み聞かせ")
BAD_KINDS = ("email", "region", "kana", "birth_date")


def _labels(kind: str) -> list[str]:
    return [label for _code, label, _en in CODE_MASTERS[kind]]


def _showa(day: date) -> str:
    return f"昭和{day.year - 1925}年{day.month}月{day.day}日"


class StubState:
    """The records and the injected faults; every method is thread-safe."""

    def __init__(self, count: int = 100, seed: int = 20260401, token: str = "stub-token") -> None:  # noqa: S107
        self.token = token
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 (fictitious data)
        self.fail_rng = random.Random(seed + 1)  # noqa: S311
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Any]] = {}
        self.stamps: dict[str, datetime] = {}
        self._order: list[tuple[datetime, str]] | None = None
        self._people: set[tuple[str, str, date]] = set()
        self._next_number = 1
        self._last_stamp = EPOCH - timedelta(seconds=1)
        self.bad: dict[str, dict[str, Any]] = {}
        self._bad_made = 0
        self.fail_queue: list[str] = []
        self.fail_after: list[Any] | None = None  # [pages still served, mode, failures left or None]
        self.fail_rate, self.fail_rate_mode = 0.0, "500"
        self.page_delay, self.hang_seconds, self.retry_after = 0.0, 3.0, 1
        self.requests = 0
        for number in range(count):
            self._add(EPOCH + timedelta(seconds=number // 3))  # three records share each timestamp

    # --- records --------------------------------------------------------------------------------------

    def _new_id(self) -> str:
        record_id = f"EA-2026-{self._next_number:06d}"
        self._next_number += 1
        return record_id

    def _stamp(self, record_id: str, moment: datetime) -> None:
        self.stamps[record_id] = moment
        self.records[record_id]["updated_at"] = format_timestamp(moment)
        self._last_stamp = max(self._last_stamp, moment)
        self._order = None

    def _now(self) -> datetime:
        """A change time after every earlier one, close to the real clock."""
        real = datetime.now(UTC).replace(tzinfo=None)
        return max(real, self._last_stamp + timedelta(microseconds=1))

    def _person(self, number: int) -> dict[str, Any]:
        rng = self.rng
        while True:
            family, family_kana = rng.choice(FAMILY_NAMES)
            given, given_kana = rng.choice(GIVEN_NAMES)
            birth = date(1952, 1, 1) + timedelta(days=rng.randrange(0, 16000))
            if (family, given, birth) not in self._people:
                self._people.add((family, given, birth))
                break
        region_code, region_label, _en = rng.choice(CODE_MASTERS["region"])
        city = CITIES.get(region_code, "長崎市")
        answers: dict[str, Any] = {
            "氏": family, "名": given, "氏(フリガナ)": family_kana, "名(フリガナ)": given_kana,
            "生年月日": _showa(birth) if birth.year < 1989 and rng.random() < 0.2 else birth.isoformat(),
            "メールアドレス": f"ea-{number:06d}@example.com",
            # 000- numbers are never assigned, so no fictitious registrant can carry a real person's number
            "電話番号": f"000-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            "郵便番号": f"85{rng.randint(0, 9)}-{rng.randint(0, 9999):04d}",
            "住所": f"長崎県{city}架空{rng.choice(SCHOOL_NAMES)}町{rng.randint(1, 9)}-{rng.randint(1, 30)}",
            "お住まいの地域": region_label,
            "保有する免許・資格": rng.sample(_labels("licence"), rng.randint(0, 2)),
            "指導可能な教科": rng.sample(_labels("subject"), rng.randint(0, 2)),
            "希望する職種": rng.sample(_labels("job_type"), rng.randint(1, 2)),
            "希望する校種": rng.sample(_labels("school_type"), rng.randint(1, 2)),
            "お知らせメールの受信": rng.random() < 0.9,
            "登録情報の利用への同意": True,
            "同意した個人情報の取扱いの版": "2026-04",
        }
        if rng.random() < 0.7:
            answers["勤務開始可能日"] = (date(2026, 4, 1) + timedelta(days=rng.randrange(0, 365))).isoformat()
        if rng.random() < 0.5:
            answers["勤務条件の補足"] = rng.choice(["週3日まで", "午前のみ", "平日のみ", "土日も可"])
        if birth.year < 1985 and rng.random() < 0.7:  # a former teacher (OB/OG)
            left = rng.randint(max(2010, birth.year + 35), 2025)
            answers["退職時の所属"] = f"{city}立{rng.choice(SCHOOL_NAMES)}{rng.choice(['小学校', '中学校'])}"
            answers["退職年度"] = str(left)
            answers["職歴・経歴"] = f"公立学校の教員として{rng.randint(5, min(38, left - birth.year - 22))}年勤務。"
        if rng.random() < 0.5:
            answers["関心のある分野"] = "、".join(rng.sample(INTERESTS, rng.randint(1, 2)))
        return answers

    def _add(self, moment: datetime, answers: dict[str, Any] | None = None) -> str:
        number = self._next_number
        record_id = self._new_id()
        self.records[record_id] = {"id": record_id, "updated_at": "", "status": "active",
                                   "answers": answers if answers is not None else self._person(number)}
        self._stamp(record_id, moment)
        return record_id

    def _pick(self, what: Any, eligible: list[str] | None = None) -> list[str]:
        if isinstance(what, list):
            unknown = [i for i in what if i not in self.records]
            if unknown:
                raise ValueError(f"unknown record id(s): {', '.join(map(str, unknown[:5]))}")
            return [str(i) for i in what]
        pool = sorted(eligible if eligible is not None else self.records)
        return sorted(self.rng.sample(pool, min(int(what), len(pool))))

    def touch(self, what: Any) -> list[str]:
        with self.lock:
            ids = self._pick(what)
            for record_id in ids:
                answers = self.records[record_id]["answers"]
                answers["電話番号"] = f"000-{self.rng.randint(1000, 9999)}-{self.rng.randint(1000, 9999)}"
                answers["勤務条件の補足"] = self.rng.choice(["週2日まで", "午後のみ", "夏休み期間のみ", "要相談"])
                self._stamp(record_id, self._now())
            return ids

    def make_bad(self, what: Any) -> list[str]:
        with self.lock:
            ids = self._pick(what, [i for i in self.records if i not in self.bad])
            for record_id in ids:
                answers = self.records[record_id]["answers"]
                self.bad[record_id] = copy.deepcopy(answers)
                kind = BAD_KINDS[self._bad_made % len(BAD_KINDS)]  # each kind of fault in turn
                self._bad_made += 1
                if kind == "email":
                    answers["メールアドレス"] = "not-an-email@"
                elif kind == "region":
                    answers["お住まいの地域"] = "火星"
                elif kind == "kana":
                    answers["氏(フリガナ)"] = "Sato"
                else:
                    answers["生年月日"] = "1975-13-45"
                self._stamp(record_id, self._now())
            return ids

    def fix(self, what: Any) -> list[str]:
        with self.lock:
            ids = sorted(self.bad) if what == "all" else self._pick(what)
            for record_id in ids:
                if record_id in self.bad:
                    self.records[record_id]["answers"] = self.bad.pop(record_id)
                    self._stamp(record_id, self._now())
            return ids

    def withdraw(self, what: Any) -> list[str]:
        with self.lock:
            ids = self._pick(what)
            for record_id in ids:
                self.records[record_id]["status"] = "withdrawn"
                self._stamp(record_id, self._now())
            return ids

    def duplicate(self, of: str, by: str) -> str:
        with self.lock:
            if of not in self.records or by not in ("name_birth", "email"):
                raise ValueError("duplicate needs an existing 'of' id and 'by': name_birth or email")
            original = self.records[of]["answers"]
            number = self._next_number
            if by == "email":  # the same person registered twice
                answers = copy.deepcopy(original)
                answers["電話番号"] = f"000-{self.rng.randint(1000, 9999)}-{self.rng.randint(1000, 9999)}"
            else:  # same name and birth date, another e-mail
                answers = self._person(number)
                for key in ("氏", "名", "氏(フリガナ)", "名(フリガナ)", "生年月日"):
                    answers[key] = original[key]
            return self._add(self._now(), answers)

    def remove(self, what: Any) -> list[str]:
        with self.lock:
            ids = self._pick(what)
            for record_id in ids:
                del self.records[record_id], self.stamps[record_id]
                self.bad.pop(record_id, None)
            self._order = None
            return ids

    def add(self, count: int) -> list[str]:
        with self.lock:
            return [self._add(self._now()) for _ in range(int(count))]

    # --- serving --------------------------------------------------------------------------------------

    def _sorted(self) -> list[tuple[datetime, str]]:
        if self._order is None:
            self._order = sorted((stamp, record_id) for record_id, stamp in self.stamps.items())
        return self._order

    def page(self, since: datetime | None, after: tuple[datetime, str] | None, size: int) -> dict[str, Any]:
        with self.lock:
            order = self._sorted()
            if after is not None:
                start = bisect_right(order, after)
            elif since is not None:
                start = bisect_left(order, (since, ""))
            else:
                start = 0
            chunk = order[start:start + size]
            records = [copy.deepcopy(self.records[record_id]) for _stamp, record_id in chunk]
            token = None
            if chunk and start + size < len(order):
                last_stamp, last_id = chunk[-1]
                token = _encode_token(last_stamp, last_id)
            return {"records": records, "next_page_token": token,
                    "server_time": format_timestamp(datetime.now(UTC).replace(tzinfo=None))}

    def next_failure(self) -> str | None:
        """The fault to inject into this /records request, if any."""
        with self.lock:
            self.requests += 1
            if self.fail_queue:
                return self.fail_queue.pop(0)
            if self.fail_after is not None:
                if self.fail_after[0] > 0:
                    self.fail_after[0] -= 1
                    return None
                if self.fail_after[2] is None or self.fail_after[2] > 0:
                    if self.fail_after[2] is not None:
                        self.fail_after[2] -= 1
                    return str(self.fail_after[1])
                self.fail_after = None
            if self.fail_rate and self.fail_rng.random() < self.fail_rate:
                return self.fail_rate_mode
            return None

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply a /_control request (see the module docstring); ValueError for a bad one."""
        answer: dict[str, Any] = {"ok": True}
        with self.lock:
            mode = str(body.get("mode", "500"))
            if mode not in FAIL_MODES:
                raise ValueError(f"mode must be one of {', '.join(FAIL_MODES)}")
            if body.get("reset"):
                self.fail_queue, self.fail_after, self.fail_rate = [], None, 0.0
            if "fail_next" in body:
                self.fail_queue.extend([mode] * int(body["fail_next"]))
            if "fail_after_page" in body:
                count = body.get("fail_count")
                self.fail_after = [int(body["fail_after_page"]), mode, None if count is None else int(count)]
            if "fail_rate" in body:
                self.fail_rate, self.fail_rate_mode = float(body["fail_rate"]), mode
            for knob in ("page_delay", "hang_seconds"):
                if knob in body:
                    setattr(self, knob, float(body[knob]))
            if "retry_after" in body:
                self.retry_after = int(body["retry_after"])
            if "touch" in body:
                answer["touched"] = self.touch(body["touch"])
            if "bad_records" in body:
                answer["bad"] = self.make_bad(body["bad_records"])
            if "fix" in body:
                answer["fixed"] = self.fix(body["fix"])
            if "withdraw" in body:
                answer["withdrawn"] = self.withdraw(body["withdraw"])
            if "duplicate" in body:
                spec = body["duplicate"] if isinstance(body["duplicate"], dict) else {}
                answer["duplicate"] = self.duplicate(str(spec.get("of")), str(spec.get("by")))
            if "add" in body:
                answer["added"] = self.add(int(body["add"]))
            if "remove" in body:
                answer["removed"] = self.remove(body["remove"])
            answer["records"] = len(self.records)
        return answer

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"records": len(self.records), "ids": sorted(self.records), "bad": sorted(self.bad),
                    "requests": self.requests, "pending_failures": list(self.fail_queue),
                    "fail_after": self.fail_after, "fail_rate": self.fail_rate}


def _encode_token(stamp: datetime, record_id: str) -> str:
    raw = json.dumps({"u": format_timestamp(stamp), "i": record_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    padded = token + "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    return parse_timestamp(data["u"]), str(data["i"])


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False)
    return Response(body, status=status, headers=headers, content_type="application/json; charset=utf-8")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


def create_stub_app(state: StubState) -> Flask:
    stub = Flask("tsunagu_e_application_stub")
    stub.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    def authorised() -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), state.token.encode())

    def refuse() -> Response:
        return _error(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})

    @stub.get("/records")
    def records() -> Response:
        if not authorised():
            return refuse()
        failure = state.next_failure()
        if failure:
            return _fail(state, failure)
        try:
            size = int(request.args.get("page_size", "500"))
            since_text = request.args.get("updated_since")
            since = parse_timestamp(since_text) if since_text else None
            token = request.args.get("page_token")
            after = _decode_token(token) if token else None
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            return _error(400, "invalid_request", "page_size, updated_since or page_token is malformed")
        if not 1 <= size <= MAX_PAGE_SIZE:
            return _error(400, "invalid_request", f"page_size must be 1..{MAX_PAGE_SIZE}")
        if state.page_delay:
            time.sleep(state.page_delay)
        return _json(state.page(since, after, size))

    @stub.route("/_control", methods=["GET", "POST"])
    def control() -> Response:
        if not authorised():
            return refuse()
        if request.method == "GET":
            return _json(state.summary())
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "a JSON object is required")
        try:
            return _json(state.control(body))
        except (ValueError, TypeError) as exc:
            return _error(400, "invalid_request", str(exc))

    return stub


def _fail(state: StubState, mode: str) -> Response:
    if mode == "timeout":
        time.sleep(state.hang_seconds)  # the client has given up by now
        return _error(504, "timeout", "too late")
    if mode == "malformed":
        return Response('{"records": [{"id": "EA-2026-0', status=200, content_type="application/json")
    if mode == "bad_shape":
        return _json({"items": []})
    if mode == "401":
        return _error(401, "unauthorized", "token expired", {"WWW-Authenticate": "Bearer"})
    if mode == "429":
        return _error(429, "rate_limited", "slow down", {"Retry-After": str(state.retry_after)})
    if mode == "503":
        return _error(503, "unavailable", "maintenance", {"Retry-After": str(state.retry_after)})
    return _error(500, "internal", "injected failure")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


class StubServer:
    """The stub on 127.0.0.1 in a background thread (tests, bench) — `flask sync stub` serves it in the foreground."""

    def __init__(self, state: StubState, port: int = 0, quiet: bool = True) -> None:
        self.state = state
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, create_stub_app(state), threaded=True,
                                                  request_handler=_QuietHandler if quiet else None)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> StubServer:
        # a short poll interval: stop() (shutdown) waits up to one interval
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="e-application-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
