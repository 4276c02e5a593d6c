"""Pure helpers of the reports: monthly recurring amounts and the export file formats."""

import csv
import io
from decimal import ROUND_HALF_UP, Decimal

# Periods per year of each interval unit (a year of 365 days, 52 weeks).
_PER_YEAR = {'day': Decimal(365), 'week': Decimal(52), 'month': Decimal(12), 'year': Decimal(1)}


def monthly_amount(amount, interval_number, interval_unit, digits=2):
    """Return what `amount` charged every `interval_number` `interval_unit` is worth per month.

    >>> monthly_amount(30, 1, 'week')
    Decimal('130.00')
    """
    if interval_unit not in _PER_YEAR:
        raise ValueError(f"Unknown interval unit: {interval_unit!r}")
    if interval_number < 1:
        raise ValueError("The interval must be at least 1.")
    per_year = Decimal(str(amount)) * _PER_YEAR[interval_unit] / Decimal(interval_number)
    return (per_year / 12).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def recovery_rate(failed, recovered):
    """Return the share, in percent rounded to 0.1, of the `failed` amount that was recovered."""
    if not failed:
        return 0.0
    return float((Decimal(str(recovered)) * 100 / Decimal(str(failed))).quantize(Decimal('0.1')))


def to_csv(header, rows):
    """Return `rows` under `header` as CSV bytes (UTF-8 with a BOM, so that spreadsheets read
    accents right), with formulas neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\r\n')
    writer.writerow(header)
    writer.writerows([[_safe_cell(value) for value in row] for row in rows])
    return buffer.getvalue().encode('utf-8-sig')


def _safe_cell(value):
    """Return the cell's value; text that a spreadsheet would run as a formula is quoted."""
    if value is None or value is False:
        return ''
    if isinstance(value, str) and value[:1] in ('=', '+', '-', '@', '\t', '\r'):
        return "'" + value
    return value
