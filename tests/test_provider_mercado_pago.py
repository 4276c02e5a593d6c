"""Cards on file with Mercado Pago, end to end: Odoo's own `payment_mercado_pago` installed, the
Mercado Pago API answered at the boundary as Mercado Pago documents it, and its webhook called as
Mercado Pago does (Odoo then reads the payment back from the API: that is its authentication)."""

import unittest

from freezegun import freeze_time

from odoo.fields import Command
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.payment_plan.tests.provider_api import ProviderAPI

PAYMENTS_URL = r'api\.mercadopago\.com/v1/payments$'


class MercadoPagoCase(PaymentPlanCommon, HttpCase):
    """Mercado Pago in test mode for the company, in BRL, its API answered at the boundary."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.env['ir.module.module']._get('payment_mercado_pago').state != 'installed':
            raise unittest.SkipTest("payment_mercado_pago is not installed")
        cls.mercado_pago = cls.env.ref('payment.payment_provider_mercado_pago')
        cls.brl = cls.env.ref('base.BRL')
        cls.brl.active = True
        cls.card_method = cls.env.ref('payment.payment_method_card')
        cls.mercado_pago.write(
            {
                'state': 'test',
                'is_published': True,  # offered to customers on the pages
                'company_id': cls.company.id,
                'mercado_pago_account_country_id': cls.env.ref('base.br').id,
                'mercado_pago_access_token': 'TEST-0000000000000000-PAYMENTPLAN',
                'mercado_pago_public_key': 'TEST-public-key',
                'payment_method_ids': [Command.set(cls.card_method.ids)],
                'allow_tokenization': True,
            }
        )

    def setUp(self):
        super().setUp()
        self.api = ProviderAPI()

    def _mp_plan(self, **values):
        return self._provider_card_plan(
            {
                'provider_id': self.mercado_pago.id,
                'payment_method_id': self.card_method.id,
                'payment_details': '5682',
                'provider_ref': 'CARD_1',
                'mercado_pago_customer_id': 'CUSTOMER_1',
            },
            currency_id=self.brl.id,
            **values,
        )

    def _payment(self, reference, amount, status='approved', detail='accredited', **values):
        """A payment as Mercado Pago returns it (https://www.mercadopago.com/developers/en/reference/payments/_payments/post)."""
        return {
            'id': 1000 + len(self.api.calls),
            'status': status,
            'status_detail': detail,
            'external_reference': reference,
            'transaction_amount': amount,
            'currency_id': self.brl.name,
            'payment_type_id': 'credit_card',
            'payment_method_id': 'master',
            'issuer_id': '24',
            'card': {'last_four_digits': '5682', 'expiration_month': 11, 'expiration_year': 2030},
            **values,
        }


@tagged('post_install', '-at_install')
class TestMercadoPagoCardsOnFile(MercadoPagoCase):
    def _answer_payments(self, status='approved', detail='accredited'):
        self.api.answer('POST', r'/v1/card_tokens$', {'id': 'ONE_TIME_CARD_TOKEN'})
        self.api.answer(
            'POST',
            PAYMENTS_URL,
            lambda _url, kwargs: self._payment(
                kwargs['json']['external_reference'],
                kwargs['json']['transaction_amount'],
                status,
                detail,
            ),
            status=201,
        )

    def test_card_saved_at_checkout_gets_consent_and_expiry(self):
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.mercado_pago.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.brl.id,
                'reference': 'CHECKOUT-MP-1',
                'operation': 'online_direct',
                'tokenize': True,
            }
        )
        self.api.answer(
            'POST',
            PAYMENTS_URL,
            self._payment(
                tx.reference,
                50.0,
                payer={'email': self.customer.email},
                additional_info={'items': [{'unit_price': 50.0}]},
            ),
            status=201,
        )
        self.api.answer('GET', r'/v1/customers/search$', {'results': [{'id': 'CUSTOMER_9'}]})
        self.api.answer(
            'POST',
            r'/v1/customers/CUSTOMER_9/cards$',
            {
                'id': 'CARD_9',
                'last_four_digits': '5682',
                'expiration_month': 11,
                'expiration_year': 2030,
            },
        )
        with self.api.serving():
            self.make_jsonrpc_request(
                '/payment/mercado_pago/payments',
                {
                    'reference': tx.reference,
                    'transaction_amount': 50.0,
                    'token': 'CARD_FORM_TOKEN',
                    'installments': 1,
                    'payment_method_brand': 'master',
                    'issuer_id': '24',
                },
            )
        tx.invalidate_recordset()
        card = tx.token_id
        self.assertEqual(card.provider_ref, 'CARD_9')
        self.assertEqual((card.expiry_month, card.expiry_year), (11, 2030))
        self.assertFalse(
            self.env['payment.plan.consent'].search([('token_id', '=', card.id)]),
            "consented only once the payment is recorded as done",
        )
        tx._post_process()  # Odoo's status page or its post-processing cron.
        consent = self.env['payment.plan.consent'].search([('token_id', '=', card.id)])
        self.assertEqual(consent.channel, 'checkout')

    @freeze_time('2026-03-01')
    def test_the_cron_charges_the_saved_card(self):
        plan = self._mp_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_payments()
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'paid')
        [(_url, request)] = self.api.requests_to('POST', PAYMENTS_URL)
        self.assertEqual(request['json']['payer'], {'type': 'customer', 'id': 'CUSTOMER_1'})
        self.assertEqual(request['json']['transaction_amount'], 30.0)
        self.assertTrue(request['headers'].get('X-Idempotency-Key'))
        self.assertEqual(first.invoice_id.amount_residual, 60.0)

    @freeze_time('2026-03-01')
    def test_refusals_by_status_detail(self):
        plan = self._mp_plan(plan_type='subscription', amount=30.0, max_attempts=3)
        first, second, third = plan.installment_ids.sorted('sequence')[:3]
        cases = [
            (first, 'cc_rejected_insufficient_amount', 'soft', 'pending'),
            (second, 'cc_rejected_card_disabled', 'hard', 'denied'),
            (third, 'cc_rejected_3ds_mandatory', 'authentication', 'pending'),
        ]
        for installment, detail, kind, state in cases:
            with self.subTest(detail=detail), freeze_time(installment.due_date):
                self._answer_payments('rejected', detail)
                with self.api.serving():
                    installment._collect()
                self.assertEqual(installment.transaction_ids.payment_plan_decline_kind, kind)
                self.assertEqual(installment.state, state)
        self.assertTrue(first.next_attempt_date)
        self.assertTrue(third.authentication_required)

    @freeze_time('2026-03-01')
    @mute_logger('odoo.addons.payment_mercado_pago.controllers.payment')
    def test_an_in_process_charge_is_settled_by_the_webhook(self):
        plan = self._mp_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_payments('in_process', 'pending_contingency')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual((tx.state, first.state), ('pending', 'processing'))
        self.api.answer(
            'GET',
            rf'/v1/payments/{tx.provider_reference}$',
            self._payment(tx.reference, 30.0, id=int(tx.provider_reference)),
        )
        # Another customer's approved payment, named in a forged notification: read back, it is
        # not this charge's, and changes nothing.
        self.api.answer('GET', r'/v1/payments/999$', self._payment('INV/2026/00001', 30.0, id=999))
        with self.api.serving():
            self.url_open(
                f'/payment/mercado_pago/webhook/{tx.reference}',
                json={'action': 'payment.updated', 'data': {'id': '999'}},
            )
        self.assertEqual(tx.state, 'pending')
        with self.api.serving():
            self.url_open(
                f'/payment/mercado_pago/webhook/{tx.reference}',
                json={'action': 'payment.updated', 'data': {'id': tx.provider_reference}},
            )
        self._post_process_outcomes()
        self.assertEqual(first.state, 'paid')

    @freeze_time('2026-03-01 10:00:00')
    def test_a_refused_payment_request_after_the_card_token_is_a_provider_error(self):
        plan = self._mp_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', r'/v1/card_tokens$', {'id': 'ONE_TIME_CARD_TOKEN'}, status=201)
        self.api.answer(
            'POST',
            PAYMENTS_URL,
            {'message': 'invalid parameters', 'error': 'bad_request', 'status': 400, 'cause': []},
            status=400,
        )
        with self.api.serving(), mute_logger('odoo.addons.payment.models.payment_provider'):
            first._collect()
        tx = first.transaction_ids
        self.assertFalse(tx.payment_plan_outcome_unknown, "Mercado Pago answered: no look-up")
        self.assertEqual(tx.state, 'error')
        self.assertEqual(tx.payment_plan_decline_kind, 'provider')
        self.assertEqual(first.state, 'pending', "neither denied nor dunned")
        self.assertEqual(str(first.next_attempt_date), '2026-03-02', "tried again tomorrow")

    @freeze_time('2026-03-01 10:00:00')
    def test_a_timeout_is_looked_up_and_settled(self):
        plan = self._mp_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', r'/v1/card_tokens$', {'id': 'ONE_TIME_CARD_TOKEN'})
        self.api.answer('POST', PAYMENTS_URL, timeout=True)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertTrue(tx.payment_plan_outcome_unknown)
        self.assertEqual(tx.state, 'pending')
        self.api.answer(
            'GET', r'/v1/payments/search$', {'results': [self._payment(tx.reference, 30.0)]}
        )
        with self.api.serving():
            first.with_user(self.plan_user).action_check_payment_status()
        self.assertEqual(first.state, 'paid')
        [(_url, search)] = self.api.requests_to('GET', r'/v1/payments/search$')
        self.assertEqual(search['params']['external_reference'], tx.reference)
        self.assertEqual(len(self.api.requests_to('POST', PAYMENTS_URL)), 1)
