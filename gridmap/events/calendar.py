"""The working-day calendar (工作日历): public holidays and 调休 make-up working days, as a table.

A day is a working day when it is a Monday–Friday that the table does not mark ``holiday``, or any day
the table marks ``workday`` (调休 make-up day, e.g. a Saturday). Time limits count working days in
China Standard Time: an event dispatched at 10:00 with a limit of 2 working days is due at 10:00 on the
second working day after the day of dispatch; dispatched on a non-working day, it is due at the end
(18:00) of its n-th working day.

The 2026 table below follows the schedule as the project was given it (no official notice was in
the shared data): 元旦 1/1–1/3; 春节 2/15–2/23 with make-up workdays 2/14 and 2/28; 清明 4/4–4/6;
劳动节 5/1–5/5 (make-up 5/9); 端午 6/19–6/21; 中秋 9/25–9/27; 国庆 10/1–10/7 (make-up 9/20 and 10/10).
It is seeded into the database (table ``work_calendar``) and editable there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
DAY_KINDS = ("holiday", "workday")
END_OF_DAY = time(18, 0)


def _span(first: str, last: str, name: str) -> list[tuple[date, str, str]]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=k), "holiday", name) for k in range((b - a).days + 1)]


#: The 2026 holidays (放假) and make-up working days (调休上班), ``(day, kind, name)``.
DAYS_2026: tuple[tuple[date, str, str], ...] = tuple(
    _span("2026-01-01", "2026-01-03", "元旦")
    + _span("2026-02-15", "2026-02-23", "春节")
    + [(date(2026, 2, 14), "workday", "春节调休"), (date(2026, 2, 28), "workday", "春节调休")]
    + _span("2026-04-04", "2026-04-06", "清明节")
    + _span("2026-05-01", "2026-05-05", "劳动节")
    + [(date(2026, 5, 9), "workday", "劳动节调休")]
    + _span("2026-06-19", "2026-06-21", "端午节")
    + _span("2026-09-25", "2026-09-27", "中秋节")
    + _span("2026-10-01", "2026-10-07", "国庆节")
    + [(date(2026, 9, 20), "workday", "国庆节调休"), (date(2026, 10, 10), "workday", "国庆节调休")]
)


@dataclass(frozen=True)
class WorkCalendar:
    """Days the table marks (``{date: "holiday" | "workday"}``); every other day by its weekday."""

    marked: Mapping[date, str]

    @classmethod
    def of(cls, days: Iterable[tuple]) -> WorkCalendar:
        return cls({d: kind for d, kind, *_ in days})

    def is_working_day(self, day: date) -> bool:
        kind = self.marked.get(day)
        if kind is not None:
            return kind == "workday"
        return day.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The due time ``days`` working days after ``start`` (an aware datetime), in CST."""
        local = start.astimezone(CST)
        day = local.date()
        at = local.timetz() if self.is_working_day(day) else END_OF_DAY.replace(tzinfo=CST)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, at.replace(tzinfo=None), tzinfo=CST)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Whole working days from the day after ``start`` to the day of ``end`` (negative if earlier)."""
        a, b = start.astimezone(CST).date(), end.astimezone(CST).date()
        sign = 1 if b >= a else -1
        a, b = min(a, b), max(a, b)
        n = sum(1 for k in range(1, (b - a).days + 1) if self.is_working_day(a + timedelta(days=k)))
        return sign * n


CALENDAR_2026 = WorkCalendar.of(DAYS_2026)
