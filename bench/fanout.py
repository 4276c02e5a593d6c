"""Benchmark: the collection cron alone against its fan-out on queue_job, at gateway latency.

(a) today's single cron: `_collect(commit=True)` in one process, as the cron runs it inline;
(b) the fan-out: an Odoo server started here with workers and queue_job's runner (channel
    `root.payment_plan` at capacity C, C + 2 HTTP workers, no cron thread), the cron's step
    that enqueues the due installments in jobs (`_collect_due`), then the wait until every one
    is paid; once per capacity given.
Each side collects N due installments of its own (one-period subscriptions on demo cards that
confirm every charge), created at once, then PostgreSQL's statistics refreshed (`ANALYZE`, as
autovacuum does on a production server). The Demo provider answers each charge after `--latency-ms` (300 by
default), as a real gateway does: a patch of the demo charge in this benchmark's processes only
(the server is started through this file, which patches, then runs Odoo).

Prints charges per second, SQL queries per charge (the server's: its HTTP log counts the
queries of each job request), the peak resident memory of the busiest worker, the projected
hours for 1,000,000 renewals on this machine, and the check that nothing was charged twice: one
done transaction per installment, every installment paid.
Run it through `bench/run` (BENCH_SUITE=fanout), which creates and drops a fresh database.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import odoo
from odoo import SUPERUSER_ID, api
from odoo.cli.command import main as odoo_main
from odoo.modules.registry import Registry

sys.path.insert(0, os.path.dirname(__file__))
from collect import add_gateway_latency, create_due_installments

RUNJOB_LINE = re.compile(r'"GET /queue_job/runjob\?[^"]*" (\d{3}) - (\d+) ')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def analyze(registry):
    """Refresh PostgreSQL's statistics after the bulk creation of the due installments, as its
    autovacuum daemon does on a production server (it is off on some test servers): Odoo's
    sequence look-ups scan a journal's moves of the year on stale statistics."""
    with registry.cursor() as cr:
        cr.execute("ANALYZE")


def check_charged_once(env, installment_ids):
    """Return the problems: installments not paid, or with other than one done transaction."""
    env.cr.execute(
        """
        SELECT inst.id, inst.state, COUNT(tx.id) FILTER (WHERE tx.state = 'done')
          FROM payment_plan_installment inst
     LEFT JOIN payment_transaction tx ON tx.installment_id = inst.id
         WHERE inst.id = ANY(%s)
      GROUP BY inst.id, inst.state
        """,
        [installment_ids],
    )
    rows = env.cr.fetchall()
    problems = [f"{i} is {state}" for i, state, _done in rows if state != 'paid']
    problems += [f"{i} has {done} done charges" for i, _state, done in rows if done != 1]
    return problems


def database_rollbacks(registry):
    """Return the number of transactions rolled back in the database so far (PostgreSQL's
    statistics: a conflict between workers, or a request that failed)."""
    with registry.cursor() as cr:
        cr.execute("SELECT pg_stat_force_next_flush()")
        cr.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return cr.fetchone()[0]


def worker_peaks(server_pid):
    """Return {pid: peak RSS in MiB} of the server's worker processes (its children)."""
    peaks = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/status', encoding='ascii') as status:
                fields = dict(line.split(':', 1) for line in status if ':' in line)
        except OSError:
            continue
        if int(fields.get('PPid', '0').strip()) == server_pid and 'VmHWM' in fields:
            peaks[int(pid)] = int(fields['VmHWM'].split()[0]) / 1024
    return peaks


def single_cron(args, registry):
    """(a): the cron's collection inline, in this process."""
    add_gateway_latency(args.latency_ms)
    count = args.baseline_installments or args.installments
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        installment_ids = create_due_installments(env, f'single{time.time_ns()}', count)
    analyze(registry)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        queries_before = cr.sql_log_count
        start = time.perf_counter()
        env['payment.plan.installment']._collect(commit=True)
        elapsed = time.perf_counter() - start
        queries = cr.sql_log_count - queries_before
        problems = check_charged_once(env, installment_ids)
    with open('/proc/self/status', encoding='ascii') as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith('VmHWM')) / 1024
    report('(a) single cron', count, elapsed, queries, peak, problems)
    return count / elapsed


def start_server(args, capacity, port, log):
    env = dict(
        os.environ,
        ODOO_QUEUE_JOB_CHANNELS=f'root:{capacity},root.payment_plan:{capacity}',
        ODOO_QUEUE_JOB_PORT=str(port),
    )
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            '--serve',
            '--latency-ms',
            str(args.latency_ms),
            '--',
            f'--database={args.database}',
            f'--db-filter=^{args.database}$',
            f'--addons-path={args.addons_path}',
            f'--http-port={port}',
            f'--gevent-port={free_port()}',
            '--load=base,web,queue_job',
            f'--workers={capacity + 2}',
            '--max-cron-threads=0',
            '--limit-time-real=900',
            '--limit-time-cpu=600',
            '--limit-memory-soft=4294967296',
            '--limit-memory-hard=5368709120',
            '--log-level=info',
            '--log-handler=odoo.addons.queue_job:WARNING',
            '--log-handler=odoo.modules:WARNING',
            '--log-handler=odoo.addons.payment_plan:INFO',
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_server(port, server, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"The server stopped (exit {server.returncode}).")
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/web/login', timeout=10):
                return
        except OSError:
            time.sleep(1)
    sys.exit("The server did not answer.")


def wait_until(registry, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with registry.cursor() as cr:
            if predicate(api.Environment(cr, SUPERUSER_ID, {})):
                return
        time.sleep(0.2)
    sys.exit(f"Timed out waiting for {what}.")


def fan_out(args, registry, capacity):
    """(b) at `capacity`: a server with workers and the runner collects in jobs."""
    port = free_port()
    log_path = os.path.join(args.log_dir, f'fanout-{capacity}.log')
    with open(log_path, 'w', encoding='utf-8') as log:
        server = start_server(args, capacity, port, log)
        try:
            wait_for_server(port, server)
            # The runner is seen once it ran the add-on's first job.
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                if args.job_size:
                    env['ir.config_parameter'].set_param('payment_plan.job_size', args.job_size)
                env['payment.plan.queue']._ping_runner()
            wait_until(
                registry,
                lambda env: env['payment.plan.queue']._get_runner_status()['use_jobs'],
                120,
                "the job runner",
            )
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                installment_ids = create_due_installments(
                    env, f'fanout{capacity}x{time.time_ns()}', args.installments
                )
            analyze(registry)
            log.flush()
            log_start = os.path.getsize(log_path)
            rollbacks = database_rollbacks(registry)
            start = time.perf_counter()
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                enqueue_queries = cr.sql_log_count
                env['payment.plan.installment']._collect_due()
                enqueue_queries = cr.sql_log_count - enqueue_queries
                enqueued = time.perf_counter() - start

            def all_paid(env):
                return not env['payment.plan.installment'].search_count(
                    [('id', 'in', installment_ids), ('state', '!=', 'paid')]
                )

            wait_until(registry, all_paid, 3600, "the installments to be paid")
            elapsed = time.perf_counter() - start
            rollbacks = database_rollbacks(registry) - rollbacks
            peaks = worker_peaks(server.pid)
            with registry.cursor() as cr:
                problems = check_charged_once(
                    api.Environment(cr, SUPERUSER_ID, {}), installment_ids
                )
            log.flush()
            with open(log_path, encoding='utf-8') as server_log:
                server_log.seek(log_start)
                job_queries = [int(q) for _status, q in RUNJOB_LINE.findall(server_log.read())]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    peak = max(peaks.values()) if peaks else 0.0
    report(
        f'(b) fan-out {capacity:>2}',
        args.installments,
        elapsed,
        sum(job_queries) + enqueue_queries,
        peak,
        problems,
        extra=(
            f"  {len(job_queries)} jobs, enqueued in {enqueued:.1f} s, "
            f"{rollbacks} transactions rolled back"
        ),
    )
    return args.installments / elapsed


def report(label, count, elapsed, queries, peak, problems, extra=''):
    print(
        f"{label:<17} {count:>6} installments  {count / elapsed:7.1f} charges/s  "
        f"{queries / count:6.1f} queries/charge  peak RSS per worker {peak:7.1f} MiB  "
        f"1,000,000 renewals: {1_000_000 / (count / elapsed) / 3600:6.1f} h  "
        f"double charges or unpaid: {len(problems)}{extra}",
        flush=True,
    )
    if problems:
        print("   " + "; ".join(problems[:5]), flush=True)


def serve(latency_ms, odoo_args):
    """Run an Odoo server whose Demo provider answers after `latency_ms` (benchmark only).

    Odoo's prefork server starts its websocket process as `python <argv[0]> gevent <options>`:
    this file, which then runs Odoo's `gevent` command (see `main`)."""
    add_gateway_latency(latency_ms)
    sys.argv = [os.path.abspath(__file__), *odoo_args]
    odoo_main()


def main():
    if odoo.evented:  # the prefork server's websocket process (`gevent` read by Odoo's import)
        return odoo_main()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--database')
    parser.add_argument('--addons-path')
    parser.add_argument('--installments', type=int, default=5000)
    parser.add_argument(
        '--baseline-installments',
        type=int,
        default=0,
        help="installments of (a), the single cron (default: as many as (b))",
    )
    parser.add_argument('--capacities', default='4,8,16')
    parser.add_argument(
        '--job-size', type=int, default=0, help="installments per job (default: the setting, 50)"
    )
    parser.add_argument('--latency-ms', type=int, default=300)
    parser.add_argument('--log-dir', default='.')
    parser.add_argument('odoo_args', nargs='*')
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency_ms, args.odoo_args)
    odoo.tools.config.parse_config(
        ['-d', args.database, f'--addons-path={args.addons_path}', '--log-level=warn']
    )
    registry = Registry(args.database)
    print(
        f"Gateway latency {args.latency_ms} ms, {os.cpu_count()} CPU cores; "
        f"(b) on a server with C + 2 workers and queue_job's runner, channel capacity C",
        flush=True,
    )
    rates = {'a': single_cron(args, registry)}
    for capacity in (int(c) for c in args.capacities.split(',')):
        rates[capacity] = fan_out(args, registry, capacity)
        print(
            f"   speed-up at capacity {capacity}: {rates[capacity] / rates['a']:.1f}x", flush=True
        )


if __name__ == '__main__':
    main()
