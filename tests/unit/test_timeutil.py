"""Time in UTC, shown in Tokyo; the fiscal year as a function (S5 fiscal-year validity builds on it)."""

from datetime import date, datetime

from app.core.timeutil import fiscal_year, fiscal_year_end, to_tokyo, tokyo_day_start_utc


def test_fiscal_year_starts_on_the_first_of_april():
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026
    assert fiscal_year(date(2027, 1, 15)) == 2026


def test_fiscal_year_end_is_the_next_31_march():
    assert fiscal_year_end(date(2026, 4, 1)) == date(2027, 3, 31)
    assert fiscal_year_end(date(2027, 3, 31)) == date(2027, 3, 31)


def test_stored_utc_is_shown_nine_hours_later_in_tokyo():
    assert to_tokyo(datetime(2026, 3, 31, 15, 30)).strftime("%Y-%m-%d %H:%M") == "2026-04-01 00:30"


def test_a_tokyo_day_starts_at_15_utc_the_day_before():
    assert tokyo_day_start_utc(date(2026, 4, 1)) == datetime(2026, 3, 31, 15, 0)
