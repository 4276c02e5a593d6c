"""Benchmark: the collection engine (cron) against a naive loop, over N due installments.

(a) naive: per installment, create and post its invoice, create its transaction,
    `_charge_with_token`, `_post_process`;
(b) the cron's service, `payment.plan.installment._collect(commit=True)`.
Both run in one process on the same database, over N installments each (one-period
subscriptions due today of two products taxed 21% (25.00 a period), demo cards that confirm
every charge). `--latency-ms` makes the Demo
provider answer each charge after that delay, as a real gateway does (0.3 to 1 s): a patch of
the demo charge in the benchmark's own process only. Prints installments per second,
SQL queries per installment and peak memory (resident set) of each, and the ratio b/a. Each
side runs in a process of its own, so that its memory peak is its own.
Run it through `bench/run`, which creates and drops a fresh database.
"""

import argparse
import resource
import subprocess
import sys
import time

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
    env['payment.plan.consent'].create(
        [{'partner_id': p.id, 'company_id': env.company.id, 'channel': 'link'} for p in partners]
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
    # Each plan bills two products with their taxes, as plans are made (issue 28): what an
    # invoice of lines costs is measured, not one untaxed line.
    tax = env['account.tax'].create(
        {
            'name': f"{label} VAT 21%",
            'amount': 21.0,
            'amount_type': 'percent',
            'type_tax_use': 'sale',
        }
    )
    products = env['product.product'].create(
        [
            {'name': f"{label} {name}", 'list_price': price, 'taxes_id': [Command.set(tax.ids)]}
            for name, price in (("Hosting", 15.0), ("Support", 5.66))
        ]
    )
    plans = env['payment.plan'].create(
        [
            {
                'partner_id': card.partner_id.id,
                'plan_type': 'subscription',
                'installment_count': 1,
                'line_ids': [Command.create({'product_id': product.id}) for product in products],
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
        installment._set_paid({'invoice_id': invoice.id})
    env.cr.commit()


def engine(env, installment_ids):
    env['payment.plan.installment']._collect(commit=True)


def add_gateway_latency(milliseconds):
    """Make the Demo provider's charge wait `milliseconds` before answering (benchmark only)."""
    from odoo.addons.payment_demo.models.payment_transaction import (
        PaymentTransaction as DemoTransaction,
    )

    send = DemoTransaction._send_payment_request

    def slow_send(self):
        if self.provider_code == 'demo':
            time.sleep(milliseconds / 1000)
        return send(self)

    DemoTransaction._send_payment_request = slow_send


def measure(registry, mode, count):
    """Create `count` due installments, then collect them the `mode` way; print the figures."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        installment_ids = create_due_installments(env, f'{mode}{time.time_ns()}', count)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        queries_before = cr.sql_log_count
        start = time.perf_counter()
        (naive if mode == 'naive' else engine)(env, installment_ids)
        elapsed = time.perf_counter() - start
        queries = cr.sql_log_count - queries_before
        paid = env['payment.plan.installment'].search_count(
            [('id', 'in', installment_ids), ('state', '=', 'paid')]
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    label = 'naive (a)' if mode == 'naive' else 'cron (b)'
    rate = count / elapsed
    print(
        f"{label:<10} {count:>6} installments  {rate:8.1f} inst/s  "
        f"{queries / count:6.1f} queries/inst  peak RSS {peak / 1024:7.1f} MiB "
        f"(+{(peak - rss_before) / 1024:.1f} while collecting)  ({paid} paid in {elapsed:.1f} s)",
        flush=True,
    )
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--installments', type=int, default=2000)
    parser.add_argument(
        '--mode', choices=['naive', 'engine', 'both', 'engine-only'], default='both'
    )
    parser.add_argument(
        '--latency-ms', type=int, default=0, help="the Demo provider's answer time per charge"
    )
    args = parser.parse_args()
    if args.mode in ('both', 'engine-only'):
        modes = ['naive', 'engine'] if args.mode == 'both' else ['engine']
        rates = {}
        for mode in modes:
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    '--database',
                    args.database,
                    '--addons-path',
                    args.addons_path,
                    '--installments',
                    str(args.installments),
                    '--mode',
                    mode,
                    '--latency-ms',
                    str(args.latency_ms),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if output.returncode:
                sys.exit(f"The {mode} run failed:\n{output.stderr[-3000:]}")
            output = output.stdout
            print(output.strip(), flush=True)
            rates[mode] = float(output.split('inst/s')[0].split()[-1])
        if len(rates) == 2:
            print(f"ratio b/a = {rates['engine'] / rates['naive']:.2f}")
        if args.latency_ms:
            hours = 1_000_000 / rates['engine'] / 3600
            print(
                f"gateway latency {args.latency_ms} ms: 1,000,000 renewals take {hours:.1f} h "
                "with one cron worker"
            )
        return
    odoo.tools.config.parse_config(
        ['-d', args.database, f'--addons-path={args.addons_path}', '--log-level=warn']
    )
    registry = Registry(args.database)
    if args.latency_ms:
        add_gateway_latency(args.latency_ms)
    measure(registry, args.mode, args.installments)


if __name__ == '__main__':
    main()
