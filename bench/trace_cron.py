"""Benchmark: how one collection cron run reads in the code (the structure's measure).

Runs `ir_cron_collect_due` once (`payment.plan.installment._cron_collect_due`) over N due
installments (default 1: one-period subscriptions due today, Demo cards that confirm every
charge) and follows, with `sys.setprofile`, every call into the add-on's own code: it prints
the calls, the distinct functions, the files they are in and how many times the run switches
from one file to another. Run it through `bench/run` (`BENCH_SUITE=trace`), which creates and
drops a fresh database; `--addon-dir` may name another checkout of the add-on (its tree must be
the one the database runs) to compare two versions.
"""

import itertools
import os
import sys
from collections import Counter

from odoo import SUPERUSER_ID, api

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from collect import create_due_installments
from common import open_registry, parse_args


def main():
    args = parse_args(
        __doc__,
        '--installments',
        1,
        extra=lambda parser: parser.add_argument('--addon-dir', required=True),
    )
    addon_dir = os.path.realpath(args.addon_dir)
    registry = open_registry(args)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        create_due_installments(env, 'trace', args.installments)
        calls = []

        def follow(frame, event, _arg):
            if event != 'call':
                return
            filename = frame.f_code.co_filename
            if filename.startswith('<'):  # Frozen modules, generated code: not the add-on's.
                return
            path = os.path.realpath(filename)
            if path.startswith(addon_dir + os.sep):
                calls.append((os.path.relpath(path, addon_dir), frame.f_code.co_name))

        sys.setprofile(follow)
        try:
            env['payment.plan.installment']._cron_collect_due()
        finally:
            sys.setprofile(None)
        cr.commit()
        paid = env['payment.plan.installment'].search_count([('state', '=', 'paid')])
    files = Counter(path for path, _name in calls)
    switches = sum(1 for before, after in itertools.pairwise(calls) if before[0] != after[0])
    print(f"one cron run over {args.installments} due installment(s), {paid} paid:")
    print(f"  calls into the add-on: {len(calls)}")
    print(f"  distinct functions:    {len(set(calls))}")
    print(f"  files:                 {len(files)}")
    print(f"  file switches:         {switches}")
    for path, count in files.most_common():
        print(f"    {count:5d}  {path}")


if __name__ == '__main__':
    main()
