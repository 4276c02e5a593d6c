import json

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.payment_plan.tools import webhook

SECRET = 'a-shared-secret-for-tests'


@tagged('post_install', '-at_install')
class TestWebhook(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gateway = cls.env['payment.plan.gateway'].create(
            {'name': "Acme Billing", 'code': 'acme', 'secret': SECRET}
        )
        # Gateways committed by other tests must not stand in the way of "the company's only
        # gateway".
        cls.env['payment.plan.gateway'].search([('id', '!=', cls.gateway.id)]).active = False
        cls.plan = cls._create_plan(
            collection_mode='gateway',
            gateway_id=cls.gateway.id,
            amount=90.0,
            installment_count=3,
            date_start='2026-03-01',
        )
        cls.plan.action_activate()
        cls.first = cls.plan.installment_ids.sorted('sequence')[0]

    def _event(self, **values):
        return {
            'event_id': 'evt-1',
            'reference': self.first.name,
            'amount': 30.0,
            'currency': self.first.currency_id.name,
            'status': 'confirmed',
            'message': "Approved",
            'occurred_at': '2026-03-01T10:00:00Z',
            **values,
        }

    def _events(self):
        return self.env['payment.plan.event'].search([('gateway_id', '=', self.gateway.id)])

    def _post(self, event=None, body=None, signature=None, code='acme'):
        body = body if body is not None else json.dumps(event or self._event()).encode()
        headers = {'Content-Type': 'application/json'}
        if signature is not False:
            headers['X-Payment-Plan-Signature'] = signature or webhook.sign(SECRET, body)
        with mute_logger('odoo.addons.payment_plan.models.payment_plan_event'):
            return self.url_open(f'/payment_plan/webhook/{code}', data=body, headers=headers)

    def _assert_refused(self, response, status, error_part):
        self.assertEqual(response.status_code, status, response.text)
        self.assertIn(error_part, response.json()['error'])
        self.assertFalse(self._events(), "nothing is stored")
        self.assertEqual(self.first.state, 'pending', "nothing changed")
        self.assertFalse(self.first.payment_ids)

    def test_confirmed_event_pays_the_installment_and_reconciles(self):
        response = self._post()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {'status': 'applied', 'event_id': 'evt-1'})
        self.assertEqual(self.first.state, 'paid')
        payment = self.first.payment_ids
        self.assertIn(payment.state, ('in_process', 'paid'), "posted")
        self.assertEqual(payment.amount, 30.0)
        self.assertEqual(payment.journal_id, self.gateway.journal_id)
        self.assertEqual(payment.reconciled_invoice_ids, self.plan.invoice_id)
        self.assertEqual(self.plan.invoice_id.amount_residual, 60.0)
        event = self._events()
        self.assertEqual(
            (event.installment_id, event.state, event.payment_id), (self.first, 'applied', payment)
        )
        self.assertEqual(json.loads(event.payload)['event_id'], 'evt-1')

    def test_replayed_event_changes_nothing(self):
        self._post()
        with self.assertNoLogs('odoo', level='ERROR'):
            response = self._post()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()['status'], 'replay')
        self.assertEqual(len(self.first.payment_ids), 1)
        self.assertEqual(len(self._events()), 1)

    def test_denied_after_confirmed_leaves_the_installment_paid(self):
        self._post()
        response = self._post(
            self._event(event_id='evt-2', status='denied', message="Do not honor")
        )
        self.assertEqual(response.json()['status'], 'ignored')
        self.assertEqual(self.first.state, 'paid')
        self.assertEqual(len(self.first.payment_ids), 1)
        self.assertFalse(self.first.last_error)

    def test_denied_event_denies_and_dunning_starts(self):
        response = self._post(self._event(status='denied', message="Insufficient funds"))
        self.assertEqual(response.json()['status'], 'applied')
        self.assertEqual(self.first.state, 'denied')
        self.assertEqual(self.first.last_error, "Insufficient funds")
        self.assertTrue(self.plan.payment_failed)
        self.assertTrue(self.plan.activity_ids)
        # The gateway retried on its own and the charge went through: paid.
        self._post(self._event(event_id='evt-2'))
        self.assertEqual(self.first.state, 'paid')
        self.assertFalse(self.plan.payment_failed)

    def test_cancelled_event_cancels_the_installment(self):
        self._post(self._event(status='cancelled'))
        self.assertEqual(self.first.state, 'cancelled')

    def test_bad_or_missing_signature_is_refused(self):
        self._assert_refused(self._post(signature='0' * 64), 403, "signature")
        self._assert_refused(self._post(signature=False), 403, "signature")
        other_secret = webhook.sign('another-secret', json.dumps(self._event()).encode())
        self._assert_refused(self._post(signature=other_secret), 403, "signature")

    def test_malformed_or_non_ascii_signature_is_refused_not_an_error(self):
        body = json.dumps(self._event()).encode()
        for signature in ('é' * 64, 'sha256=' + 'z' * 64, '\xff\xfe'):
            with self.subTest(signature=signature), self.assertNoLogs('odoo', level='ERROR'):
                # The header travels as latin-1 bytes, as a client that sends raw bytes does.
                response = self._post(body=body, signature=signature.encode('latin-1'))
                self._assert_refused(response, 403, "signature")

    def test_unknown_or_archived_gateway_is_refused(self):
        self._assert_refused(self._post(code='nobody'), 403, "signature")
        self.gateway.active = False
        self._assert_refused(self._post(), 403, "signature")

    def test_malformed_bodies_are_refused(self):
        self._assert_refused(self._post(body=b'{"event_id": '), 400, "not valid JSON")
        self._assert_refused(self._post(body=b'[1, 2]'), 400, "JSON object")
        event = self._event()
        del event['amount']
        self._assert_refused(self._post(event), 400, "Missing field(s): amount")
        self._assert_refused(self._post(self._event(status='maybe')), 400, "status")
        self._assert_refused(self._post(self._event(amount='ten')), 400, "amount")
        self._assert_refused(self._post(self._event(occurred_at='yesterday')), 400, "occurred_at")

    def test_hostile_bodies_are_refused_with_400_not_an_error(self):
        def raw(text):
            return text.encode()

        event = json.dumps(self._event())
        cases = [
            ("UTF-16", event.encode('utf-16'), "UTF-8"),
            ("NUL", raw(json.dumps(self._event(message="ok\u0000"))), "NUL"),
            ("NUL in a key field", raw(json.dumps(self._event(event_id="e\u0000"))), "NUL"),
            ("lone surrogate", raw(event.replace('Approved', '\\ud800')), "surrogate"),
            ("year 99999", raw(json.dumps(self._event(occurred_at='99999-01-01T00:00:00Z'))),
             "occurred_at"),
            ("overflow", raw(json.dumps(self._event(occurred_at='9999-12-31T23:59:59-14:00'))),
             "occurred_at"),
            ("underflow", raw(json.dumps(self._event(occurred_at='0001-01-01T00:00:00+14:00'))),
             "occurred_at"),
            ("infinite number", raw(event.replace('30.0', '1e999999')), "amount"),
            ("infinite string", raw(json.dumps(self._event(amount='1e999999'))), "amount"),
            ("huge amount", raw(json.dumps(self._event(amount='1e300'))), "amount"),
            ("deep nesting", b'{"a": ' + b'[' * 30000 + b']' * 30000 + b'}', "JSON"),
        ]  # fmt: skip
        for name, body, error_part in cases:
            with (
                self.subTest(case=name),
                self.assertLogs(
                    'odoo.addons.payment_plan.models.payment_plan_event', 'WARNING'
                ) as logs,
            ):
                response = self.url_open(
                    '/payment_plan/webhook/acme',
                    data=body,
                    headers={
                        'Content-Type': 'application/json',
                        'X-Payment-Plan-Signature': webhook.sign(SECRET, body),
                    },
                )
                self._assert_refused(response, 400, error_part)
            self.assertFalse(
                any('Traceback' in line for line in logs.output), "a log line, no traceback"
            )

    def test_mercado_pago_notification_of_any_shape_is_not_an_error(self):
        def notify(body, path='/payment/mercado_pago/webhook/a/b'):
            with mute_logger('odoo.addons.payment_plan.controllers.main'):
                return self.url_open(path, data=body, headers={'Content-Type': 'application/json'})

        for data in ('"x"', '["x"]', '12', 'null'):
            body = f'{{"action": "payment.updated", "data": {data}}}'.encode()
            with self.subTest(data=data):
                self.assertEqual(notify(body).status_code, 400)
        body = b'{"action": "payment.updated", "data": {"id": {"x": 1}}}'
        self.assertEqual(notify(body).status_code, 200, "not a payment id: ignored")
        self.assertEqual(notify(b'[' * 30000 + b']' * 30000).status_code, 400)
        body = b'{"action": "payment.updated", "data": {"id": "123"}}'
        self.assertEqual(notify(body, '/payment/mercado_pago/webhook/a/%00').status_code, 400)

    def test_amount_or_currency_mismatch_is_refused(self):
        self._assert_refused(self._post(self._event(amount=29.99)), 400, "mismatch")
        other = 'EUR' if self.first.currency_id.name != 'EUR' else 'USD'
        self._assert_refused(self._post(self._event(currency=other)), 400, "mismatch")

    def test_unknown_reference_is_not_found(self):
        self._assert_refused(
            self._post(self._event(reference='PLAN/1999/99999-01')), 404, "Unknown"
        )
        card_plan = self._create_plan(collection_mode='manual')
        card_plan.action_activate()
        reference = card_plan.installment_ids[0].name
        self._assert_refused(self._post(self._event(reference=reference)), 404, "Unknown")

    def test_oversized_body_is_refused(self):
        event = self._event(message='x' * (70 * 1024))
        self._assert_refused(self._post(event), 413, "exceeds")

    def test_oversized_chunked_body_is_refused(self):
        """A chunked request announces no length: the body is read through a bounded stream."""
        body = json.dumps(self._event(message='x' * (70 * 1024))).encode()

        def chunks():
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        response = self._post(body=chunks(), signature=webhook.sign(SECRET, body))
        self._assert_refused(response, 413, "exceeds")

    def test_small_chunked_body_is_read_whole(self):
        body = json.dumps(self._event()).encode()
        response = self._post(
            body=iter([body[:10], body[10:]]), signature=webhook.sign(SECRET, body)
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.first.state, 'paid')

    def test_event_of_another_gateway_is_an_unknown_reference(self):
        """Only the gateway that collects a plan settles it, even within its company."""
        other = self._create_gateway(name="Other Billing", secret='other-secret')
        body = json.dumps(self._event()).encode()
        response = self._post(
            body=body, signature=webhook.sign('other-secret', body), code=other.code
        )
        self.assertEqual(response.status_code, 404, response.text)
        self.assertIn("Unknown", response.json()['error'])
        self.assertFalse(other.event_ids, "nothing is stored")
        self.assertEqual(self.first.state, 'pending', "nothing changed")
        self.assertFalse(self.first.payment_ids)
        # The plan's own gateway still settles it.
        self.assertEqual(self._post().status_code, 200)
        self.assertEqual(self.first.state, 'paid')

    def test_gateway_plan_names_its_gateway(self):
        unnamed = self._create_plan(collection_mode='gateway', gateway_id=False)
        with self.assertRaisesRegex(ValidationError, "collected by a gateway"):
            unnamed.action_activate()
        running = self._create_plan(collection_mode='manual')
        running.action_activate()
        with self.assertRaisesRegex(ValidationError, "collected by a gateway"):
            running.write({'collection_mode': 'gateway', 'gateway_id': False})
        self.assertFalse(
            self._create_plan(collection_mode='manual').gateway_id, "no gateway outside that mode"
        )
        self.assertEqual(
            self._create_plan(collection_mode='gateway', gateway_id=self.gateway.id).gateway_id,
            self.gateway,
        )

    def test_gateway_plan_gets_the_companys_only_gateway(self):
        plan = self.env['payment.plan'].create(
            {
                'partner_id': self.customer.id,
                'plan_type': 'subscription',
                'amount': 10.0,
                'collection_mode': 'gateway',
            }
        )
        self.assertEqual(plan.gateway_id, self.gateway)

    def test_first_confirmed_installment_closes_the_order(self):
        order = self._create_installments_order('gateway', price=90.0)
        order.action_payment_plan_request()
        plan = order.payment_plan_id
        self.assertEqual(
            (plan.state, order.state, order.payment_plan_status), ('active', 'sent', 'pending')
        )
        first = plan.installment_ids.sorted('sequence')[0]
        response = self._post(self._event(reference=first.name))
        self.assertEqual(response.json()['status'], 'applied')
        self.assertEqual(order.state, 'sale')
        self.assertTrue(order.locked)
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertEqual(order.invoice_ids.amount_residual, 60.0)
        self.assertEqual(plan.invoice_id, order.invoice_ids)

    def test_event_list_is_for_managers(self):
        self._post()
        events = self.env['payment.plan.event']
        self.assertEqual(
            len(events.with_user(self.plan_manager).search([('gateway_id', '=', self.gateway.id)])),
            1,
        )
        self.assertFalse(events.with_user(self.plan_user).has_access('read'))
        self.assertFalse(
            'secret' in self.gateway.with_user(self.plan_user).fields_get(),
            "only managers see the gateway secret",
        )

    def test_a_gateway_charge_of_an_installment_paid_by_another_path_is_recorded_and_flagged(self):
        # The customer paid the installment at the counter; the gateway then charged it too.
        self.first._register_external_payment(
            30.0, self.first.due_date, self.gateway.journal_id, memo="Counter"
        )
        self.assertEqual(self.first.state, 'paid')
        response = self._post()
        self.assertEqual(response.json()['status'], 'applied')
        self.assertEqual(len(self.first.payment_ids), 2, "the money that came in is recorded")
        event = self._events()
        self.assertIn("customer's credit", event.outcome)
        activity = self.plan.activity_ids.filtered(
            lambda a: a.summary == "Charged twice by the gateway: refund the customer"
        )
        self.assertTrue(activity, "staff are alerted")
