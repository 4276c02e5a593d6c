"""Gateway-run schedules, both ways: confirming an order collected by a gateway sends it the
schedule as a signed JSON request (a local HTTP server plays the gateway); its answer may carry
the payment link the customer gets; cancelling tells the gateway too."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.payment_plan.tools import webhook


class GatewayServer:
    """A gateway on 127.0.0.1: records each request, answers with `status` and `answer`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.answer = {}
        self.location = None  # Answered as the Location header (a redirect).
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                server.requests.append((dict(self.headers), body))
                content = json.dumps(server.answer).encode()
                self.send_response(server.status)
                self.send_header('Content-Type', 'application/json')
                if server.location:
                    self.send_header('Location', server.location)
                self.send_header('Content-Length', str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_port}/odoo/schedules'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self):
        return [json.loads(body) for _headers, body in self.requests]


@tagged('post_install', '-at_install')
class TestGatewaySchedule(PaymentPlanCommon):
    def setUp(self):
        super().setUp()
        # The local server plays the gateway over HTTP on 127.0.0.1: a test-only switch.
        self.env['ir.config_parameter'].set_param('payment_plan.schedule_allow_loopback', True)
        self.server = GatewayServer()
        self.addCleanup(self.server.stop)
        self.gateway = self._create_gateway(schedule_url=self.server.url)
        self.customer.write({'phone': '+55 11 91234 5678', 'vat': False})
        self.company.payment_plan_notify_sms = True

    def _confirm_gateway_order(self):
        order = self._create_installments_order(
            mode='gateway', price=300.0, payment_plan_gateway_id=self.gateway.id
        )
        order.action_payment_plan_request()
        self._run_after_commit()
        return order

    def test_confirming_the_order_sends_the_signed_schedule_and_the_customer_the_link(self):
        self.server.answer = {'payment_url': 'https://pay.gateway.test/s/abc123'}
        order = self._confirm_gateway_order()
        plan = order.payment_plan_id
        [(headers, body)] = self.server.requests
        self.assertTrue(
            webhook.is_signature_valid(
                self.gateway.sudo().secret, body, headers['X-Payment-Plan-Signature']
            ),
            "signed with the gateway's secret, as its own events are",
        )
        event = json.loads(body)
        self.assertEqual(event['type'], 'schedule.created')
        schedule = event['data']
        self.assertEqual(schedule['reference'], plan.name)
        self.assertEqual(schedule['order_reference'], order.name)
        self.assertEqual(schedule['customer']['email'], self.customer.email)
        self.assertEqual(
            [(i['reference'], i['amount']) for i in schedule['installments']],
            [(i.name, i.amount) for i in plan.installment_ids.sorted('sequence')],
        )
        self.assertEqual(sum(i['amount'] for i in schedule['installments']), 300.0)
        self.assertEqual(plan.gateway_payment_url, 'https://pay.gateway.test/s/abc123')
        self.assertEqual(order.payment_plan_gateway_url, plan.gateway_payment_url)
        mail = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan'), ('res_id', '=', plan.id)]
        )
        self.assertIn('https://pay.gateway.test/s/abc123', mail.body_html)
        sms = self.env['sms.sms'].search([('partner_id', '=', self.customer.id)])
        self.assertIn('https://pay.gateway.test/s/abc123', sms.body)

    def test_cancelling_tells_the_gateway(self):
        order = self._confirm_gateway_order()
        plan = order.payment_plan_id
        order.action_payment_plan_cancel_attempt()
        self._run_after_commit()
        self.assertEqual(
            [e['type'] for e in self.server.events()], ['schedule.created', 'schedule.cancelled']
        )
        self.assertEqual(self.server.events()[1]['data']['reference'], plan.name)

    def test_a_gateway_that_refuses_is_told_on_the_plan_for_staff(self):
        self.server.status = 503
        order = self._confirm_gateway_order()
        plan = order.payment_plan_id
        self.assertFalse(plan.gateway_payment_url)
        self.assertIn("did not take", plan.message_ids[0].body)
        self.assertTrue(plan.activity_ids, "staff are asked to act")

    def test_a_link_that_is_not_https_is_not_sent_to_the_customer(self):
        self.server.answer = {'payment_url': 'javascript:alert(1)'}
        order = self._confirm_gateway_order()
        self.assertFalse(order.payment_plan_id.gateway_payment_url)

    def test_a_gateway_without_a_schedule_url_is_told_nothing(self):
        self.gateway.schedule_url = False
        self._confirm_gateway_order()
        self.assertFalse(self.server.requests)

    def test_a_payment_by_another_path_tells_the_gateway_what_is_left_to_charge(self):
        plan = self._create_plan(collection_mode='gateway', gateway_id=self.gateway.id)
        plan.action_activate()
        self._run_after_commit()
        first, second, third = plan.installment_ids.sorted('sequence')
        first._ensure_invoices()
        # The customer pays a first share of the invoice at the counter.
        self.env['account.payment.register'].with_context(
            active_model='account.move', active_ids=first.invoice_id.ids
        ).create({'amount': 33.33})._create_payments()
        self._run_after_commit()
        self.assertEqual(first.state, 'paid')
        self.assertEqual(
            [e['type'] for e in self.server.events()], ['schedule.created', 'schedule.updated']
        )
        self.assertEqual(
            [
                (i['reference'], i['amount'])
                for i in self.server.events()[1]['data']['installments']
            ],
            [(second.name, second.amount), (third.name, third.amount)],
            "the gateway no longer charges the installment paid here",
        )


@tagged('post_install', '-at_install')
class TestGatewayScheduleUrl(PaymentPlanCommon):
    """A schedule URL carries customer data signed with the gateway's secret: it is called over
    HTTPS, on public hosts only, and never followed elsewhere."""

    def setUp(self):
        super().setUp()
        self.server = GatewayServer()
        self.addCleanup(self.server.stop)
        self.schedule = {'reference': 'PLAN/2026/00001', 'customer': {'email': 'p@example.com'}}

    def _allow_loopback(self, allowed=True):
        self.env['ir.config_parameter'].set_param(
            'payment_plan.schedule_allow_loopback', allowed and 'True'
        )

    def _gateway_with_url(self, url):
        """Return a gateway whose schedule URL is `url`, written past its constraint (as a URL
        saved before the rule was)."""
        gateway = self._create_gateway()
        self.env.cr.execute(
            'UPDATE payment_plan_gateway SET schedule_url = %s WHERE id = %s', (url, gateway.id)
        )
        gateway.invalidate_recordset(['schedule_url'])
        return gateway

    def test_a_schedule_url_must_be_https_to_a_public_host(self):
        for url in (
            'http://gateway.example.com/odoo/schedules',
            'ftp://gateway.example.com/odoo/schedules',
            'https:///odoo/schedules',
            'https://127.0.0.1:8069/odoo/schedules',
            'https://10.1.2.3/odoo/schedules',
            'https://192.168.1.10/odoo/schedules',
            'https://169.254.169.254/latest/meta-data',
            'https://0.0.0.0/odoo/schedules',
            'https://[::1]/odoo/schedules',
            'https://[::ffff:127.0.0.1]/odoo/schedules',
            'https://240.0.0.1/odoo/schedules',
        ):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self._create_gateway(schedule_url=url)
        self._allow_loopback()  # The test switch opens loopback, not the private networks.
        with self.assertRaises(ValidationError):
            self._create_gateway(schedule_url='https://10.1.2.3/odoo/schedules')
        gateway = self._create_gateway(schedule_url='https://gateway.example.com/odoo/schedules')
        self.assertTrue(gateway.schedule_url)

    def test_http_and_internal_addresses_are_not_called(self):
        self._allow_loopback()
        gateway = self._create_gateway(schedule_url=self.server.url)
        self._allow_loopback(False)
        with self.assertRaisesRegex(UserError, "did not take"):
            gateway._send_event('schedule.created', self.schedule)
        self.assertFalse(self.server.requests, "nothing is sent over HTTP nor to 127.0.0.1")
        for url in (
            self.server.url.replace('http://', 'https://'),
            'https://10.0.0.5/odoo/schedules',
        ):
            gateway = self._gateway_with_url(url)
            with (
                self.subTest(url=url),
                patch('requests.post') as post,
                self.assertRaisesRegex(UserError, "did not take"),
            ):
                gateway._send_event('schedule.created', self.schedule)
            post.assert_not_called()

    def test_a_host_resolving_to_an_internal_address_is_not_called(self):
        gateway = self._create_gateway(schedule_url='https://gateway.example.com/odoo/schedules')
        for address in ('127.0.0.1', '10.0.0.5', '::1'):
            family = socket.AF_INET6 if ':' in address else socket.AF_INET
            resolved = [
                (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('93.184.215.14', 443)),
                (family, socket.SOCK_STREAM, 6, '', (address, 443)),
            ]
            with (
                self.subTest(address=address),
                patch('socket.getaddrinfo', return_value=resolved),
                patch('requests.post') as post,
                self.assertRaisesRegex(UserError, "did not take"),
            ):
                gateway._send_event('schedule.created', self.schedule)
            post.assert_not_called()

    def test_a_redirect_is_not_followed(self):
        self._allow_loopback()
        elsewhere = GatewayServer()
        self.addCleanup(elsewhere.stop)
        self.server.status = 307
        self.server.location = elsewhere.url
        gateway = self._create_gateway(schedule_url=self.server.url)
        with self.assertRaisesRegex(UserError, "did not take"):
            gateway._send_event('schedule.created', self.schedule)
        self.assertEqual(len(self.server.requests), 1)
        self.assertFalse(elsewhere.requests, "the signed event is not sent where redirected")
