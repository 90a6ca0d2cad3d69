"""Change windows and freezes: when a mutation may run (docs/gates.md).

Windows are declared in code (``app.window``), freezes are data in the store
(``mutator freeze``); ``schedule_status`` is the pure decision over both.
"""

from mutator.schedule.freezes import Freeze, new_freeze, parse_time
from mutator.schedule.status import (
    CalendarEntry,
    ScheduleBlock,
    ScheduleStatus,
    ScheduleTarget,
    batch_schedule_status,
    calendar,
    schedule_status,
)
from mutator.schedule.windows import Window

__all__ = [
    "CalendarEntry",
    "Freeze",
    "ScheduleBlock",
    "ScheduleStatus",
    "ScheduleTarget",
    "Window",
    "batch_schedule_status",
    "calendar",
    "new_freeze",
    "parse_time",
    "schedule_status",
]
