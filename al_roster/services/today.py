"""What day it is for a district: terms, enrollments and roles begin and end on the
district's own calendar, so "today" is read in its time zone, everywhere it is asked."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..models import District


def district_today(district: District) -> dt.date:
    """Today where the district is (the server's today if its time zone is unknown)."""
    try:
        return dt.datetime.now(ZoneInfo(district.timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return dt.date.today()
