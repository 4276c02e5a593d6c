"""Benchmark: how long the collection holds a journal's sequence lock, per charge.

Odoo numbers a posted move by locking the next number of its journal's sequence until the
transaction commits: while one job posts and reconciles its payments, the jobs of every other
worker and server wait for that journal. This measures, for N due installments collected by
the collection jobs' service (`_job_collect`, jobs of 50, in one process, no gateway latency),
the time from the first move posted to the commit, per charge: for the invoices' journal (at
claim time) and for the payments' journal (the outcomes). Its inverse bounds the charges per
second one journal takes, whatever the number of servers. The timing wraps `account.move._post`
and the cursor's commit in the benchmark's own process only.
Run it through `bench/run` (BENCH_SUITE=journal-lock), which creates and drops a fresh database.
"""

import argparse
import os
import sys
import time

import odoo
from odoo import SUPERUSER_ID, api, sql_db
from odoo.modules.registry import Registry

sys.path.insert(0, os.path.dirname(__file__))
from collect import create_due_installments


def time_sequence_locks():
    """Record, per transaction, the time from its first posted move to its commit."""
    from odoo.addons.account.models.account_move import AccountMove

    state = {'first_post': None, 'kind': None, 'held': {'invoice': 0.0, 'payment': 0.0}}
    post, commit = AccountMove._post, sql_db.Cursor.commit

    def timed_post(self, soft=True):
        if state['first_post'] is None:
            state['first_post'] = time.perf_counter()
            state['kind'] = 'payment' if self[:1].origin_payment_id else 'invoice'
        return post(self, soft)

    def timed_commit(self):
        result = commit(self)
        if state['first_post'] is not None:
            state['held'][state['kind']] += time.perf_counter() - state['first_post']
            state['first_post'] = None
        return result

    AccountMove._post = timed_post
    sql_db.Cursor.commit = timed_commit
    return state['held']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument('--installments', type=int, default=500)
    args = parser.parse_args()
    odoo.tools.config.parse_config(
        ['-d', args.database, f'--addons-path={args.addons_path}', '--log-level=warn']
    )
    registry = Registry(args.database)
    count = args.installments
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        installment_ids = create_due_installments(env, f'lock{time.time_ns()}', count)
        cr.execute("ANALYZE")
    held = time_sequence_locks()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        installments = env['payment.plan.installment'].browse(installment_ids)
        start = time.perf_counter()
        for first in range(0, count, 50):
            installments[first : first + 50]._job_collect()
        elapsed = time.perf_counter() - start
    payment_ms = held['payment'] / count * 1000
    print(
        f"{count} charges in {elapsed:.1f} s ({elapsed / count * 1000:.0f} ms each, no gateway "
        f"latency); sequence lock held per charge: invoices' journal "
        f"{held['invoice'] / count * 1000:.1f} ms, payments' journal {payment_ms:.1f} ms, so at "
        f"most {1000 / payment_ms:.0f} charges/s per payment journal",
        flush=True,
    )


if __name__ == '__main__':
    main()
