"""Benchmark: the collection engine (cron) against a naive loop, over N due installments.

(a) naive: per installment, create and post its invoice, create its transaction,
    `_charge_with_token`, `_post_process`;
(b) the cron's service, `payment.plan.installment._collect(commit=True)`.
Both run in one process on the same database, over N installments each (one-period
subscriptions due today, demo cards that confirm every charge). Prints installments per second,
SQL queries per installment and peak Python memory of each, and the ratio b/a.
Run it through `bench/run`, which creates and drops a fresh database.
"""

import argparse
import time
import tracemalloc

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.fields import Command
from odoo.modules.registry import Registry


def create_due_installments(env, label, count):
    provider = env.ref('payment.payment_provider_demo')
    provider.state = 'test'
    method = env.ref('payment_demo.payment_method_demo')
    partners = env['res.partner'].create(
        [{'name': f"{label} {n}", 'email': f'{label}.{n}@example.com'} for n in range(count)]
    )
    cards = env['payment.token'].create(
        [
            {
                'provider_id': provider.id,
                'payment_method_id': method.id,
                'partner_id': partner.id,
                'payment_details': '4242',
                'provider_ref': f'{label}-{partner.id}',
                'demo_simulated_state': 'done',
            }
            for partner in partners
        ]
    )
    plans = env['payment.plan'].create(
        [
            {
                'partner_id': card.partner_id.id,
                'plan_type': 'subscription',
                'installment_count': 1,
                'amount': 25.0,
                'date_start': fields.Date.context_today(env['payment.plan']),
                'collection_mode': 'token',
                'token_id': card.id,
            }
            for card in cards
        ]
    )
    plans.action_activate()
    env.cr.commit()
    return plans.installment_ids.ids


def naive(env, installment_ids):
    Installment = env['payment.plan.installment']
    for installment_id in installment_ids:
        installment = Installment.browse(installment_id)
        plan = installment.plan_id
        invoice = env['account.move'].create(
            plan._prepare_invoice_values(installment.amount, fields.Date.today())
        )
        invoice.action_post()
        token = plan.token_id
        tx = env['payment.transaction'].create(
            {
                'provider_id': token.provider_id.id,
                'payment_method_id': token.payment_method_id.id,
                'token_id': token.id,
                'partner_id': plan.partner_id.id,
                'amount': installment.amount,
                'currency_id': installment.currency_id.id,
                'reference': f'{installment.name}-naive',
                'operation': 'offline',
                'invoice_ids': [Command.set(invoice.ids)],
            }
        )
        tx._charge_with_token()
        tx._post_process()
        installment.write({'state': 'paid', 'invoice_id': invoice.id})
    env.cr.commit()


def engine(env, installment_ids):
    env['payment.plan.installment']._collect(commit=True)


def measure(registry, label, run, installment_ids):
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        tracemalloc.start()
        queries_before = cr.sql_log_count
        start = time.perf_counter()
        run(env, installment_ids)
        elapsed = time.perf_counter() - start
        queries = cr.sql_log_count - queries_before
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        paid = env['payment.plan.installment'].search_count(
            [('id', 'in', installment_ids), ('state', '=', 'paid')]
        )
    count = len(installment_ids)
    print(
        f"{label:<10} {count:>6} installments  {count / elapsed:8.1f} inst/s  "
        f"{queries / count:6.1f} queries/inst  peak {peak / 2**20:7.1f} MiB  "
        f"({paid} paid in {elapsed:.1f} s)"
    )
    return count / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--installments', type=int, default=2000)
    args = parser.parse_args()
    odoo.tools.config.parse_config(
        ['-d', args.database, f'--addons-path={args.addons_path}', '--log-level=warn']
    )
    registry = Registry(args.database)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        run_id = int(time.time())
        naive_ids = create_due_installments(env, f'naive{run_id}', args.installments)
    naive_rate = measure(registry, 'naive (a)', naive, naive_ids)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        engine_ids = create_due_installments(env, f'engine{run_id}', args.installments)
    engine_rate = measure(registry, 'cron (b)', engine, engine_ids)
    print(f"ratio b/a = {engine_rate / naive_rate:.2f}")


if __name__ == '__main__':
    main()
