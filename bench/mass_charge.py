"""Benchmark: mass-charge N customers' open invoices with their cards on file.

N customers, each with a demo card that confirms every charge, a recorded consent and one open
invoice, are charged by the mass charge wizard in the background way (the batch's lines are
charged by the collection service, committing per batch, as the cron does). Prints the time to
build the batch, charges per second, SQL queries per charge and peak memory (resident set).
Run it through `BENCH_SUITE=mass-charge bench/run N`, which creates and drops a fresh database.
"""

import resource
import time

import common

from odoo import SUPERUSER_ID, api
from odoo.fields import Command


def create_open_invoices(env, label, count):
    provider = env.ref('payment.payment_provider_demo')
    provider.write({'state': 'test', 'journal_id': provider.journal_id.id})
    partners = env['res.partner'].create([{'name': f"{label} {n}"} for n in range(count)])
    env['payment.plan.consent'].create(
        [{'partner_id': p.id, 'company_id': env.company.id, 'channel': 'link'} for p in partners]
    )
    env['payment.token'].create(
        [
            {
                'provider_id': provider.id,
                'payment_method_id': env.ref('payment_demo.payment_method_demo').id,
                'partner_id': partner.id,
                'payment_details': '4242',
                'provider_ref': f'{label}-{partner.id}',
                'demo_simulated_state': 'done',
            }
            for partner in partners
        ]
    )
    invoices = env['account.move'].create(
        [
            {
                'move_type': 'out_invoice',
                'partner_id': partner.id,
                'invoice_line_ids': [
                    Command.create({'name': "Term fee", 'price_unit': 45.0, 'tax_ids': []})
                ],
            }
            for partner in partners
        ]
    )
    invoices.action_post()
    env.cr.commit()
    return partners.ids, invoices.ids


def measure(registry, count):
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        partner_ids, invoice_ids = create_open_invoices(env, f'mass{time.time_ns()}', count)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        queries_before = cr.sql_log_count
        start = time.perf_counter()
        wizard = env['payment.plan.mass.charge'].create({'partner_ids': [Command.set(partner_ids)]})
        batch = env['payment.plan.charge.batch'].browse(wizard.action_charge()['res_id'])
        cr.commit()
        built = time.perf_counter() - start
        build_queries = cr.sql_log_count - queries_before
        env['payment.plan.charge.batch.line']._collect(commit=True)
        env['payment.plan.charge.batch']._update_unfinished()
        cr.commit()
        elapsed = time.perf_counter() - start
        queries = cr.sql_log_count - queries_before
        batch.invalidate_recordset()
        paid = env['account.move'].search_count(
            [('id', 'in', invoice_ids), ('payment_state', 'in', ('paid', 'in_payment'))]
        )
        state, done = batch.state, batch.done_count
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"mass charge {count:>6} customers  batch built in {built:.1f} s "
        f"({build_queries / count:.2f} queries/customer)  {count / elapsed:8.1f} charges/s  "
        f"{queries / count:6.1f} queries/charge  peak RSS {peak / 1024:7.1f} MiB "
        f"(+{(peak - rss_before) / 1024:.1f} while charging)  "
        f"(batch {state}, {done} charged, {paid} invoices paid in {elapsed:.1f} s)",
        flush=True,
    )


def main():
    args = common.parse_args(__doc__, '--customers', 2000)
    measure(common.open_registry(args), args.customers)


if __name__ == '__main__':
    main()
