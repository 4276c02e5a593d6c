"""Benchmark: how one collection cron run, one portal pay-now and one webhook read in the code.

Follows, with `sys.setprofile`, every call into the add-on's own code while it runs one of:
- `cron`: `ir_cron_collect_due` once (`payment.plan.installment._cron_collect_due`) over N due
  installments (default 1: one-period subscriptions due today, Demo cards that confirm every
  charge);
- `pay_now`: a portal user pays their plan's denied installment from its pay page, as their
  browser does (log in, the page, its form, the Demo provider's answer, the status page);
- `webhook`: a gateway reports, signed, that an installment of a plan it runs was paid.
The requests go through Odoo's WSGI application in this process (werkzeug's test client), so
the routes, their checks and the post-processing are followed as a server runs them. Prints the
calls, the distinct functions, the files they are in, how many times the run switches from one
file to another, and how many times the open amount of invoices is computed. Run it through
`bench/run` (`BENCH_SUITE=trace`, `BENCH_SCENARIO=cron|pay_now|webhook`), which creates and
drops a fresh database; `--addon-dir` may name another checkout of the add-on (its tree must be
the one the database runs) to compare two versions.
"""

import hashlib
import hmac
import itertools
import json
import os
import re
import sys
from collections import Counter
from datetime import timedelta

from werkzeug.test import Client

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.tests.common import new_test_user

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from collect import create_due_installments
from common import open_registry, parse_args

SECRET = 'bench-secret'
# Methods that only pass the open amounts on: their callers are the ones who ask.
THIN_WRAPPERS = {'_payment_plan_get_open_amount', '_get_open_amounts', '_filter_paid'}
PASSWORD = 'bench-payer-password'


def _setup_cron(env, count):
    create_due_installments(env, 'trace', count)
    return lambda client: env['payment.plan.installment']._cron_collect_due()


def _setup_webhook(env, _count):
    gateway = env['payment.plan.gateway'].create(
        {'name': "Bench Gateway", 'code': 'bench', 'secret': SECRET}
    )
    partner = env['res.partner'].create({'name': "Webhook Payer", 'email': 'wh@example.com'})
    plan = env['payment.plan'].create(
        {
            'partner_id': partner.id,
            'plan_type': 'installments',
            'installment_count': 3,
            'amount': 90.0,
            'date_start': fields.Date.context_today(env['payment.plan']),
            'collection_mode': 'gateway',
            'gateway_id': gateway.id,
        }
    )
    plan.action_activate()
    first = plan.installment_ids.sorted('sequence')[0]
    body = json.dumps(
        {
            'event_id': 'evt-bench-1',
            'reference': first.name,
            'amount': first.amount,
            'currency': first.currency_id.name,
            'status': 'confirmed',
            'message': "Approved",
            'occurred_at': fields.Datetime.now().strftime('%Y-%m-%dT%H:%M:%SZ'),
        }
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    env.cr.commit()

    def run(client):
        response = client.post(
            '/payment_plan/webhook/bench',
            data=body,
            headers={'Content-Type': 'application/json', 'X-Payment-Plan-Signature': signature},
        )
        assert response.status_code == 200, response.get_data(as_text=True)

    return run


def _setup_pay_now(env, _count):
    provider = env.ref('payment.payment_provider_demo')
    provider.write({'state': 'test', 'is_published': True})
    method = env.ref('payment_demo.payment_method_demo')
    user = new_test_user(env, login='bench_payer', groups='base.group_portal', password=PASSWORD)
    partner = user.partner_id
    partner.email = 'payer@example.com'
    env['payment.plan.consent'].create(
        {'partner_id': partner.id, 'company_id': env.company.id, 'channel': 'link'}
    )
    card = env['payment.token'].create(
        {
            'provider_id': provider.id,
            'payment_method_id': method.id,
            'partner_id': partner.id,
            'payment_details': '0000',
            'provider_ref': 'bench-refused',
            'demo_simulated_state': 'error',
        }
    )
    today = fields.Date.context_today(env['payment.plan'])
    plan = env['payment.plan'].create(
        {
            'partner_id': partner.id,
            'plan_type': 'subscription',
            'installment_count': 3,
            'amount': 30.0,
            'date_start': today - timedelta(days=1),
            'collection_mode': 'token',
            'token_id': card.id,
            'max_attempts': 1,
        }
    )
    plan.action_activate()
    env['payment.plan.installment']._cron_collect_due()  # The card is refused: denied.
    assert plan.installment_ids.filtered(lambda i: i.state == 'denied'), "nothing denied"
    access_token = plan._portal_ensure_token()
    access_url = plan.access_url
    env.cr.commit()

    def rpc(client, path, params):
        response = client.post(
            path,
            data=json.dumps({'jsonrpc': '2.0', 'method': 'call', 'id': 1, 'params': params}),
            headers={'Content-Type': 'application/json'},
        )
        answer = response.get_json()
        assert 'error' not in answer, answer
        return answer.get('result')

    def run(client):
        rpc(
            client,
            '/web/session/authenticate',
            {'db': env.cr.dbname, 'login': 'bench_payer', 'password': PASSWORD},
        )
        page = client.get(f'/my/plans/{plan.id}/pay').get_data(as_text=True)
        shown = re.search(r'id="payment_plan_shown" value="([^"]+)"', page)
        params = {
            'access_token': access_token,
            'provider_id': provider.id,
            'payment_method_id': method.id,
            'token_id': None,
            'amount': 30.0,
            'flow': 'direct',
            'tokenization_requested': True,
            'landing_route': access_url,
        }
        if shown:
            params['payment_plan_shown'] = shown.group(1).replace('&quot;', '"')
        processing = rpc(client, f'/my/plans/{plan.id}/transaction', params)
        rpc(
            client,
            '/payment/demo/simulate_payment',
            {
                'reference': processing['reference'],
                'payment_details': '4242',
                'simulated_state': 'done',
            },
        )
        rpc(client, '/payment/status/poll', {})

    return run


def _from_localhost(environ, start_response):
    """Odoo's WSGI application, for requests from this machine."""
    environ.setdefault('REMOTE_ADDR', '127.0.0.1')
    return odoo.http.root(environ, start_response)


SCENARIOS = {'cron': _setup_cron, 'webhook': _setup_webhook, 'pay_now': _setup_pay_now}


def main():
    def options(parser):
        parser.add_argument('--addon-dir', required=True)
        parser.add_argument('--scenario', choices=sorted(SCENARIOS), default='cron')

    args = parse_args(__doc__, '--installments', 1, extra=options)
    addon_dir = os.path.realpath(args.addon_dir)
    registry = open_registry(args)
    # The requests find the database as a server serving it alone would.
    odoo.tools.config['dbfilter'] = f'^{re.escape(args.database)}$'
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        run = SCENARIOS[args.scenario](env, args.installments)
        cr.commit()
        client = Client(_from_localhost)
        calls = []
        open_amount_callers = Counter()

        def follow(frame, event, _arg):
            if event != 'call':
                return
            filename = frame.f_code.co_filename
            if filename.startswith('<'):  # Frozen modules, generated code: not the add-on's.
                return
            path = os.path.realpath(filename)
            relative = os.path.relpath(path, addon_dir)
            if path.startswith(addon_dir + os.sep) and not relative.startswith('bench' + os.sep):
                calls.append((relative, frame.f_code.co_name))
                if frame.f_code.co_name == '_payment_plan_get_open_amounts':
                    # Who asked: the first caller that is not a thin wrapper of it.
                    caller = frame.f_back
                    while caller.f_code.co_name in THIN_WRAPPERS:
                        caller = caller.f_back
                    open_amount_callers[caller.f_code.co_name] += 1

        sys.setprofile(follow)
        try:
            run(client)
        finally:
            sys.setprofile(None)
        cr.commit()
        env.invalidate_all()
        paid = env['payment.plan.installment'].search_count([('state', '=', 'paid')])
    files = Counter(path for path, _name in calls)
    switches = sum(1 for before, after in itertools.pairwise(calls) if before[0] != after[0])
    print(f"{args.scenario} (over {args.installments} installment(s)), {paid} paid in all:")
    print(f"  calls into the add-on: {len(calls)}")
    print(f"  distinct functions:    {len(set(calls))}")
    print(f"  files:                 {len(files)}")
    print(f"  file switches:         {switches}")
    print(
        f"  open amounts computed: {open_amount_callers.total()} (by "
        + ", ".join(f"{name} {count}" for name, count in open_amount_callers.most_common())
        + ")"
    )
    for path, count in files.most_common():
        print(f"    {count:5d}  {path}")


if __name__ == '__main__':
    main()
