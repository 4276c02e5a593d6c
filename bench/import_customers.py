"""Benchmark: import N customers from one CSV file with our importer and with Odoo's base_import.

The same file (N rows: reference, name, is_company, email, phone, vat, street, street2, zip,
city, country name) is imported into the same database twice, each in a transaction rolled
back afterwards so that both start from the same state: (a) Odoo's `base_import` (the
Import button of a list: `base_import.import.execute_import`), (b) `payment.plan.import.job`
(checked, then applied in batches as its cron does). Prints rows per second of each and the
ratio b/a. Run it through `BENCH_SUITE=import bench/run N`, which creates and drops a fresh
database.
"""

import base64
import csv
import io
import time

import common

from odoo import SUPERUSER_ID, api

# The columns of the importer's template (payment_plan.tools.customer_import.COLUMNS), and the
# fields base_import maps them to.
FIELDS = {
    'reference': 'ref',
    'name': 'name',
    'is_company': 'is_company',
    'email': 'email',
    'phone': 'phone',
    'vat': 'vat',
    'street': 'street',
    'street2': 'street2',
    'zip': 'zip',
    'city': 'city',
    'country': 'country_id',
}

COUNTRIES = ['Spain', 'Belgium', 'France', 'Brazil', 'Germany', 'Italy']


def make_file(count):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(list(FIELDS))
    for n in range(count):
        writer.writerow(
            [
                f'BENCH-{n:06d}',
                f'Bench Customer {n}',
                'no',
                f'bench.{n}@example.com',
                f'+34 600 {n:06d}',
                '',
                f'Street {n}',
                '',
                f'{n % 99999:05d}',
                'Madrid',
                COUNTRIES[n % len(COUNTRIES)],
            ]
        )
    return buffer.getvalue().encode()


def with_base_import(env, data):
    importer = env['base_import.import'].create(
        {
            'res_model': 'res.partner',
            'file': data,
            'file_name': 'customers.csv',
            'file_type': 'text/csv',
        }
    )
    fields, columns = list(FIELDS.values()), list(FIELDS)
    options = {
        'quoting': '"',
        'separator': ',',
        'has_headers': True,
        'encoding': 'utf-8',
        'date_format': '',
        'datetime_format': '',
        'float_thousand_separator': ',',
        'float_decimal_separator': '.',
        'fields': [],
        'import_skip_records': [],
        'import_set_empty_fields': [],
        'name_create_enabled_fields': {},
    }
    result = importer.execute_import(fields, columns, options)
    errors = [m for m in result.get('messages', []) if m.get('type') == 'error']
    if errors:
        raise SystemExit(f"base_import failed: {errors[:3]}")
    return len(result['ids'])


def with_import_job(env, data):
    job = env['payment.plan.import.job'].create(
        {'file': base64.b64encode(data), 'filename': 'customers.csv'}
    )
    job.action_confirm()
    if job.state != 'queued':
        raise SystemExit(f"the import job refused the file: {job.issue_ids[:3].mapped('message')}")
    job._process()
    return job.created_count


def measure(registry, label, func, data, count):
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        start = time.perf_counter()
        created = func(env, data)
        env.flush_all()
        elapsed = time.perf_counter() - start
        cr.rollback()  # Both importers start from the same database.
    rate = count / elapsed
    print(
        f"{label:<28} {count:>7} rows  {rate:9.1f} rows/s  ({created} created in {elapsed:.1f} s)",
        flush=True,
    )
    return rate


def main():
    args = common.parse_args(__doc__, '--rows', 50000)
    registry = common.open_registry(args)
    data = make_file(args.rows)
    base = measure(registry, "(a) Odoo base_import", with_base_import, data, args.rows)
    ours = measure(registry, "(b) payment.plan.import.job", with_import_job, data, args.rows)
    print(f"ratio b/a = {ours / base:.2f}")


if __name__ == '__main__':
    main()
