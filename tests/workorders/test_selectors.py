from datetime import date, datetime, time

import pytest
from django.utils import timezone

from tests.factories import WorkorderFactory
from workorders.selectors import workorder_list

pytestmark = pytest.mark.django_db


def at(day: date, hour: int, minute: int = 0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def test_date_filters_take_whole_days_in_the_office_time_zone(company):
    day = date(2026, 3, 10)
    early = WorkorderFactory(company=company, scheduled_at=at(day, 0, 0))
    late = WorkorderFactory(company=company, scheduled_at=at(day, 23, 59))
    before = WorkorderFactory(company=company, scheduled_at=at(date(2026, 3, 9), 23, 59))
    after = WorkorderFactory(company=company, scheduled_at=at(date(2026, 3, 11), 0, 0))

    def found(**kw):
        return set(workorder_list(company, **kw))

    assert found(date_from=day, date_to=day) == {early, late}
    assert found(date_from=day) == {early, late, after}
    assert found(date_to=day) == {early, late, before}
