"""Time-of-day schedules: a peak-shaving limit or a building load, in kW, by local time.

`limit_at` reads a limit (the lowest matching window wins: the safe side for a limit),
`load_at` a load (the highest matching window wins: the safe side for a load). Both read
the wall clock of the time they are given, so pass it in the site's zone
(`at.astimezone(site.zone)`); `next_change` says when to allocate again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from evcsms.domain.load.model import LoadError, Schedule, Site, Window

_DAY = timedelta(days=1)


def limit_at(schedule: Schedule, local_time: datetime) -> Decimal | None:
    """The kW limit at `local_time`: the lowest matching window, else the default (None: no limit)."""
    found = [w.kw for w in _matching(schedule, local_time)]
    return min(found) if found else schedule.default_kw


def load_at(schedule: Schedule, local_time: datetime) -> Decimal:
    """The kW load at `local_time`: the highest matching window, else the default (None: 0)."""
    found = [w.kw for w in _matching(schedule, local_time)]
    if found:
        return max(found)
    return schedule.default_kw if schedule.default_kw is not None else Decimal(0)


def worst_limit(schedule: Schedule) -> Decimal | None:
    """The lowest limit the schedule ever gives (None: it never limits)."""
    values = [w.kw for w in schedule.windows]
    if schedule.default_kw is not None:
        values.append(schedule.default_kw)
    return min(values) if values else None


def worst_load(schedule: Schedule) -> Decimal:
    """The highest load the schedule ever gives."""
    return max([w.kw for w in schedule.windows] + [schedule.default_kw or Decimal(0)])


def next_change(site: Site, at: datetime) -> datetime | None:
    """The first instant after `at` at which a schedule of the site may change value (a window
    starts or ends), in UTC; None if the site has no windows. Allocate again then."""
    _aware(at, "at")
    windows = [w for s in (site.building_load, site.peak_limit) if s is not None for w in s.windows]
    if not windows:
        return None
    zone = site.zone
    local = at.astimezone(zone)
    best: datetime | None = None
    for day in (local.date() + timedelta(days=k) for k in range(-1, 9)):
        for w in windows:
            for moment in _edges(w, day):
                instant = datetime.combine(day + moment[0] * _DAY, moment[1],
                                           tzinfo=zone).astimezone(UTC)
                if instant > at and (best is None or instant < best):
                    best = instant
    return best


def _edges(w: Window, day: date) -> Iterator[tuple[int, time]]:
    """(day offset, time) at which window `w`, started on `day`, begins and ends."""
    if day.isoweekday() not in w.days:
        return
    yield 0, w.start
    yield (0 if w.end > w.start else 1), w.end


def _matching(schedule: Schedule, local_time: datetime) -> Iterator[Window]:
    _aware(local_time, "local_time")
    clock = local_time.time().replace(tzinfo=None)
    today = local_time.isoweekday()
    yesterday = (today - 2) % 7 + 1
    for w in schedule.windows:
        if w.start < w.end:
            if today in w.days and w.start <= clock < w.end:
                yield w
        elif (today in w.days and clock >= w.start) or (yesterday in w.days and clock < w.end):
            yield w  # past midnight (24 hours when end == start)


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise LoadError(f"{name}: needs a time zone")
