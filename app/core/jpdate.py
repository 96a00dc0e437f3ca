"""Dates as Japanese forms write them: Western (2026-04-01, 2026/4/1, 2026年4月1日) or era
(令和8年4月1日, 令和元年5月1日, R8.4.1, H31/4/30)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask_babel import lazy_gettext as _l

# era: (first day, the Western year of its year 1)
ERAS = {
    "明治": (date(1868, 10, 23), 1868), "M": (date(1868, 10, 23), 1868),
    "大正": (date(1912, 7, 30), 1912), "T": (date(1912, 7, 30), 1912),
    "昭和": (date(1926, 12, 25), 1926), "S": (date(1926, 12, 25), 1926),
    "平成": (date(1989, 1, 8), 1989), "H": (date(1989, 1, 8), 1989),
    "令和": (date(2019, 5, 1), 2019), "R": (date(2019, 5, 1), 2019),
}
_WESTERN = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_ERA = re.compile(r"(明治|大正|昭和|平成|令和|[MTSHR])\s*(元|\d{1,2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?")


class DateFormatError(ValueError):
    pass


def parse_date(text: str) -> date:
    """Parse one date; raise DateFormatError (message in Japanese) for anything else."""
    value = unicodedata.normalize("NFKC", text).strip().upper()
    if match := _WESTERN.fullmatch(value):
        return _make(int(match.group(1)), int(match.group(2)), int(match.group(3)), text)
    if match := _ERA.fullmatch(value):
        start, base = ERAS[match.group(1)]
        era_year = 1 if match.group(2) == "元" else int(match.group(2))
        day = _make(base + era_year - 1, int(match.group(3)), int(match.group(4)), text)
        if day < start:
            raise DateFormatError(str(_l("「%(text)s」は%(era)sの始まりより前の日付です", text=text, era=match.group(1))))
        return day
    raise DateFormatError(str(_l("「%(text)s」は日付として読めません(例: 2026-04-01、令和8年4月1日、R8.4.1)", text=text)))


def _make(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateFormatError(str(_l("「%(text)s」は存在しない日付です", text=text))) from None


_ERA_ORDER = sorted(((start, base, name) for name, (start, base) in ERAS.items() if len(name) > 1), reverse=True)


def format_wareki(day: date) -> str:
    """A date as forms write it in the Japanese era: 令和8年11月21日, 令和元年5月1日 (year 1 is 元年).

    Dates before 明治 (1868-10-23) have no era here and are written in the Western calendar.
    """
    for start, base, name in _ERA_ORDER:
        if day >= start:
            era_year = day.year - base + 1
            return f"{name}{'元' if era_year == 1 else era_year}年{day.month}月{day.day}日"
    return format_western(day)


def format_western(day: date) -> str:
    """A date in the Western calendar, written the Japanese way: 2026年11月21日."""
    return f"{day.year}年{day.month}月{day.day}日"
