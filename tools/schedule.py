"""Schedule arithmetic of payment plans: due dates and exact splitting of amounts.

Pure functions: they import nothing from Odoo so that they can be tested (and reused) alone.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

UNITS = ('day', 'week', 'month', 'year')


def _interval(unit, number, periods):
    """Return `periods` intervals of `number` `unit`, to add to a date or subtract from it."""
    if unit not in UNITS:
        raise ValueError(f"Unknown interval unit: {unit!r}")
    if number < 1 or periods < 0:
        raise ValueError("The interval must be positive and the periods not negative.")
    steps = number * periods
    if unit == 'day':
        return timedelta(days=steps)
    if unit == 'week':
        return timedelta(weeks=steps)
    if unit == 'month':
        return relativedelta(months=steps)
    return relativedelta(years=steps)


def add_interval(start, unit, number, periods=1):
    """Return the date that lies `periods` intervals of `number` `unit` after `start`.

    The date is always computed from `start` (never from the previous due date) so that month
    arithmetic keeps the day of the month and clamps it to the end of shorter months:
    Jan 31 -> Feb 28 (or 29) -> Mar 31.

    :param datetime.date start: The first due date.
    :param str unit: One of `day`, `week`, `month` or `year`.
    :param int number: The number of units in one interval (>= 1).
    :param int periods: How many intervals to add (>= 0).
    :return: The due date of the period.
    :rtype: datetime.date
    """
    return start + _interval(unit, number, periods)


def subtract_interval(end, unit, number, periods=1):
    """Return the date `periods` intervals of `number` `unit` before `end`: for one period, the
    start of the period that ends the day before `end` (month arithmetic clamps to the end of
    shorter months).

    :param datetime.date end: The due date that closes the period.
    :param str unit: One of `day`, `week`, `month` or `year`.
    :param int number: The number of units in one interval (>= 1).
    :param int periods: How many intervals to subtract (>= 0).
    :rtype: datetime.date
    """
    return end - _interval(unit, number, periods)


def schedule_dates(start, unit, number, first_period=0, count=None, until=None):
    """Return the due dates of consecutive periods, from period `first_period` on.

    Stops after `count` dates or at the last date not after `until`, whichever comes first; at
    least one of the two limits must be given.

    :param datetime.date start: The due date of period 0.
    :param str unit: The interval unit.
    :param int number: The number of units in one interval.
    :param int first_period: The index of the first period to return.
    :param int count: The maximum number of dates.
    :param datetime.date until: The last date allowed.
    :return: The due dates, in order.
    :rtype: list[datetime.date]
    """
    if count is None and until is None:
        raise ValueError("A schedule needs a number of periods or an end date.")
    dates = []
    period = first_period
    while count is None or len(dates) < count:
        due = add_interval(start, unit, number, period)
        if until is not None and due > until:
            break
        dates.append(due)
        period += 1
    return dates


def to_decimal(value):
    """Return `value` (float, int, str or Decimal) as a Decimal without binary float noise."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_amount(amount, rounding):
    """Round `amount` to a multiple of the currency's `rounding` (half up), as a Decimal."""
    step = to_decimal(rounding)
    if step <= 0:
        raise ValueError("The rounding must be positive.")
    units = (to_decimal(amount) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (units * step).quantize(step)


def split_amount(total, count, rounding):
    """Split `total` into `count` amounts that sum exactly to `total` rounded to `rounding`.

    Every share is the total divided by the count, rounded down to the currency's rounding;
    the last share absorbs the remainder. 100.00 in 3 -> 33.33, 33.33, 33.34.

    :param total: The amount to split (float, str or Decimal), positive.
    :param int count: The number of shares, at least 1.
    :param rounding: The currency's rounding step, e.g. 0.01.
    :return: The shares, as Decimals.
    :rtype: list[decimal.Decimal]
    """
    if count < 1:
        raise ValueError("An amount is split into at least one share.")
    step = to_decimal(rounding)
    total_dec = round_amount(total, step)
    if total_dec <= 0:
        raise ValueError("Only a positive amount can be split.")
    total_units = int(total_dec / step)
    share = (Decimal(total_units // count) * step).quantize(step)
    shares = [share] * (count - 1)
    shares.append((total_dec - share * (count - 1)).quantize(step))
    return shares
