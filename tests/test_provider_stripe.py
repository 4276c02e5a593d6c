"""Cards on file with Stripe, end to end: Odoo's own `payment_stripe` installed, Stripe's HTTP API
answered at the boundary with the objects Stripe documents, and Stripe's webhook called with
correctly signed events."""

import hashlib
import hmac
import json
import time
import unittest

from freezegun import freeze_time

from odoo import fields
from odoo.fields import Command
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon, WorkerKilled
from odoo.addons.payment_plan.tests.provider_api import ProviderAPI

WEBHOOK_SECRET = 'whsec_test_payment_plan'


class StripeCase(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.env['ir.module.module']._get('payment_stripe').state != 'installed':
            raise unittest.SkipTest("payment_stripe is not installed")
        cls.stripe = cls.env.ref('payment.payment_provider_stripe')
        cls.card_method = cls.env.ref('payment.payment_method_card')
        cls.stripe.write(
            {
                'state': 'test',
                'is_published': True,  # offered to customers on the pages
                'company_id': cls.company.id,
                'stripe_secret_key': 'sk_test_payment_plan',
                'stripe_publishable_key': 'pk_test_payment_plan',
                'stripe_webhook_secret': WEBHOOK_SECRET,
                'payment_method_ids': [Command.set(cls.card_method.ids)],
                'allow_tokenization': True,
            }
        )
        cls.api = ProviderAPI()

    def setUp(self):
        super().setUp()
        self.api = ProviderAPI()

    # === HELPERS === #

    def _stripe_card(self, partner=None, consent=True):
        partner = partner or self.customer
        card = self.env['payment.token'].create(
            {
                'provider_id': self.stripe.id,
                'payment_method_id': self.card_method.id,
                'partner_id': partner.id,
                'payment_details': '4242',
                'provider_ref': 'cus_PaymentPlan',
                'stripe_payment_method': 'pm_PaymentPlan',
            }
        )
        if consent:
            self.env['payment.plan.consent']._record(partner, 'link', token=card)
        return card

    def _stripe_plan(self, **values):
        return self._provider_card_plan(
            {
                'provider_id': self.stripe.id,
                'payment_method_id': self.card_method.id,
                'payment_details': '4242',
                'provider_ref': 'cus_PaymentPlan',
                'stripe_payment_method': 'pm_PaymentPlan',
            },
            **values,
        )

    def _intent(self, tx, status='succeeded', error=None, **values):
        """A PaymentIntent of `tx` as Stripe returns it (https://docs.stripe.com/api/payment_intents)."""
        return {
            'id': f'pi_{tx.id:08d}',
            'object': 'payment_intent',
            'amount': round(tx.amount * 100),
            'currency': tx.currency_id.name.lower(),
            'customer': 'cus_PaymentPlan',
            'description': tx.reference,
            'status': status,
            'last_payment_error': error,
            'payment_method': {
                'id': 'pm_PaymentPlan',
                'type': 'card',
                'card': {'brand': 'visa', 'last4': '4242', 'exp_month': 8, 'exp_year': 2031},
            },
            'charges': {'data': [{'payment_method_details': {'type': 'card', 'card': {}}}]},
            **values,
        }

    def _answer_charges(self, status='succeeded', error=None, http_status=200):
        """Answer PaymentIntent creations with `status`, or with Stripe's error object (HTTP
        402, https://docs.stripe.com/error-codes) when `http_status` says so."""

        def intent_of_request(_url, kwargs):
            data = kwargs.get('data') or {}
            tx = self.env['payment.transaction'].search([('reference', '=', data['description'])])
            if http_status >= 400:
                return {
                    'error': {
                        'type': 'card_error',
                        **error,
                        'payment_intent': self._intent(tx, 'requires_payment_method'),
                    }
                }
            return self._intent(tx, status, error)

        self.api.answer('POST', r'/v1/payment_intents$', intent_of_request, http_status)

    def _post_webhook(self, event_type, stripe_object, secret=WEBHOOK_SECRET):
        payload = json.dumps({'type': event_type, 'data': {'object': stripe_object}})
        timestamp = int(time.time())
        signature = hmac.new(
            secret.encode(), f'{timestamp}.{payload}'.encode(), hashlib.sha256
        ).hexdigest()
        return self.url_open(
            '/payment/stripe/webhook',
            data=payload,
            headers={
                'Content-Type': 'application/json',
                'Stripe-Signature': f't={timestamp},v1={signature}',
            },
        )


@tagged('post_install', '-at_install')
class TestStripeCardsOnFile(StripeCase):
    # === SAVED AT CHECKOUT === #

    @mute_logger('odoo.addons.payment_stripe.controllers.main')
    def test_card_saved_at_checkout_gets_consent_and_expiry(self):
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.stripe.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.currency.id,
                'reference': 'CHECKOUT-1',
                'operation': 'online_direct',
                'tokenize': True,
            }
        )
        intent = self._intent(tx)
        intent['payment_method'] = 'pm_PaymentPlan'  # Webhook events carry the id only.
        self.api.answer(
            'GET', r'/v1/payment_methods/pm_PaymentPlan', self._intent(tx)['payment_method']
        )
        with self.api.serving():
            forged = self._post_webhook('payment_intent.succeeded', intent, secret='whsec_forged')
            self.assertEqual(forged.status_code, 403)
            self.assertFalse(tx.token_id, "a forged event saves no card")
            self._post_webhook('payment_intent.succeeded', intent)
        tx.invalidate_recordset()
        card = tx.token_id
        self.assertTrue(card, "the card is saved")
        self.assertEqual((card.expiry_month, card.expiry_year), (8, 2031))
        self.assertEqual(card.expiry_date, fields.Date.to_date('2031-08-31'))
        self.assertFalse(
            self.env['payment.plan.consent'].search([('token_id', '=', card.id)]),
            "consented only once the payment is recorded as done",
        )
        tx._post_process()  # Odoo's status page or its post-processing cron.
        consent = self.env['payment.plan.consent'].search([('token_id', '=', card.id)])
        self.assertEqual(consent.channel, 'checkout')
        self.assertTrue(self.customer.card_consent_date)
        self.assertIn(
            card.id,
            self.env['payment.plan.consent']._get_consented_token_ids(card),
            "mass charge and Pay on Behalf may charge a card saved at checkout",
        )

    # === OFF-SESSION CHARGES === #

    @freeze_time('2026-03-01')
    def test_a_succeeded_charge_of_another_amount_is_never_charged_again(self):
        """Stripe says "succeeded" for another amount than the charge's: the collection does
        not take it as a refusal to retry (a second charge), but as an outcome for staff."""
        plan = self._stripe_plan(max_attempts=3)
        first = plan.installment_ids.sorted('sequence')[0]

        def other_amount(_url, kwargs):
            tx = self.env['payment.transaction'].search(
                [('reference', '=', kwargs['data']['description'])]
            )
            return self._intent(tx, 'succeeded', amount=round(tx.amount * 100) - 1)

        self.api.answer('POST', r'/v1/payment_intents$', other_amount)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual((tx.state, tx.payment_plan_outcome_unknown), ('pending', True))
        self.assertEqual(first.state, 'processing')
        self.assertIn("Check the payment with the provider", first.last_error)
        with freeze_time('2026-03-02'), self.api.serving():
            self.env['payment.plan.installment']._collect()
        self.assertEqual(len(self.api.requests_to('POST', r'/v1/payment_intents$')), 1)

    @freeze_time('2026-03-01')
    def test_the_cron_charges_off_session_and_reconciles(self):
        plan = self._stripe_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges('succeeded')
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'paid')
        self.assertIn(f"{first.name} paid: ", plan.message_ids[0].body)
        [(_url, request)] = self.api.requests_to('POST', r'/v1/payment_intents$')
        sent = request['data']
        self.assertEqual(sent['off_session'], True)
        self.assertEqual(sent['confirm'], True)
        self.assertEqual(sent['payment_method'], 'pm_PaymentPlan')
        self.assertEqual(sent['customer'], 'cus_PaymentPlan')
        self.assertEqual(sent['amount'], 3000)
        self.assertTrue(request['headers'].get('Idempotency-Key'), "Stripe refuses a second charge")
        tx = first.transaction_ids
        self.assertEqual(tx.provider_reference, f'pi_{tx.id:08d}')
        self.assertEqual(tx.payment_id.amount, 30.0)
        self.assertEqual(first.invoice_id.amount_residual, 60.0, "the payment is reconciled")

    @freeze_time('2026-03-01')
    @mute_logger('odoo.addons.payment_stripe.controllers.main')
    def test_a_processing_charge_is_settled_by_the_signed_webhook(self):
        plan = self._stripe_plan()
        first, second = plan.installment_ids.sorted('sequence')[:2]
        self._answer_charges('processing')
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'processing')
        self.assertEqual(first.transaction_ids.state, 'pending')
        with self.api.serving():
            self._post_webhook('payment_intent.succeeded', self._intent(first.transaction_ids))
        self._post_process_outcomes()
        self.assertEqual(first.state, 'paid')
        self.assertEqual(first.invoice_id.amount_residual, 60.0, "the payment is reconciled")

        with freeze_time(second.due_date):
            with self.api.serving():
                first._collect()
                second._collect()
            self.assertEqual(second.state, 'processing')
            failed = self._intent(
                second.transaction_ids,
                'requires_payment_method',
                {
                    'code': 'card_declined',
                    'decline_code': 'insufficient_funds',
                    'message': "Your card has insufficient funds.",
                },
            )
            with self.api.serving():
                self._post_webhook('payment_intent.payment_failed', failed)
            self._post_process_outcomes()
        self.assertEqual(second.state, 'pending', "insufficient funds: retried")
        self.assertTrue(second.next_attempt_date)
        self.assertEqual(second.transaction_ids.payment_plan_decline_kind, 'soft')
        self.assertEqual(len(first.transaction_ids), 1, "nothing charged twice")

    # === DECLINES === #

    def _decline_first(self, decline_code, message):
        """Charge the first installment of a new plan; Stripe declines it with `decline_code`."""
        plan = self._stripe_plan(max_attempts=3)
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges(
            http_status=402,
            error={'code': 'card_declined', 'decline_code': decline_code, 'message': message},
        )
        with self.api.serving():
            first._collect()
        self.assertEqual(first.transaction_ids.state, 'error')
        self.assertFalse(first.transaction_ids.payment_plan_outcome_unknown)
        return plan, first

    @freeze_time('2026-03-01')
    def test_insufficient_funds_is_retried(self):
        plan, first = self._decline_first('insufficient_funds', "Your card has insufficient funds.")
        self.assertEqual(first.state, 'pending')
        self.assertEqual(str(first.next_attempt_date), '2026-03-04')
        self.assertEqual(first.transaction_ids.payment_plan_decline_kind, 'soft')
        story = plan.message_ids[0].body
        self.assertIn(f"{first.name} declined", story, "the plan's chatter tells the charge")
        self.assertIn("insufficient funds", story)
        self.assertIn("Next attempt", story)

    @freeze_time('2026-03-01')
    def test_a_lost_card_is_not_retried_and_the_customer_asked_for_another(self):
        plan, first = self._decline_first('lost_card', "Your card was declined.")
        self.assertEqual(first.state, 'denied', "a lost card is never tried again")
        self.assertEqual(first.attempt_count, 1)
        self.assertEqual(first.transaction_ids.payment_plan_decline_kind, 'hard')
        mail = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan.installment'), ('res_id', '=', first.id)]
        )
        self.assertTrue(mail, "the customer is asked to update their card")
        self.assertIn(f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html)

    @freeze_time('2026-03-01')
    def test_authentication_required_waits_for_the_customer(self):
        plan = self._stripe_plan(max_attempts=3)
        self.company.payment_plan_notify_sms = True
        self.customer.phone = '+32 470 12 34 56'
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges(
            http_status=402,
            error={
                'code': 'authentication_required',
                'decline_code': 'authentication_required',
                'message': "Your card was declined. This transaction requires authentication.",
            },
        )
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'pending')
        self.assertTrue(first.authentication_required)
        self.assertFalse(first.next_attempt_date)
        mail = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan.installment'), ('res_id', '=', first.id)]
        )
        self.assertIn(f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html)
        sms = self.env['sms.sms'].search([('partner_id', '=', self.customer.id)])
        self.assertIn('pay_token=', sms.body)
        self.assertFalse(
            self.customer.message_ids.filtered(
                lambda m: 'pay_token=' in (m.body or '') and '***' not in m.body
            ),
            "the chatter keeps the text without the link's secret",
        )
        # No blind retry: the cron leaves it to the customer, day after day.
        with freeze_time('2026-03-10'), self.api.serving():
            self.env['payment.plan.installment']._collect()
        self.assertEqual(len(first.transaction_ids), 1)
        # Staff may decide to charge it anyway.
        self.assertTrue(first in plan._get_installments_to_pay_now())

    # === UNKNOWN OUTCOMES, LOOKED UP === #

    @freeze_time('2026-03-01 10:00:00')
    def test_a_timeout_is_looked_up_with_stripe_and_settled(self):
        plan = self._stripe_plan()
        first, second = plan.installment_ids.sorted('sequence')[:2]
        self.api.answer('POST', r'/v1/payment_intents$', timeout=True)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual(tx.state, 'pending', "Stripe's module would record a refusal")
        self.assertTrue(tx.payment_plan_outcome_unknown)
        self.assertEqual(first.state, 'processing')
        # The charge did reach Stripe: the look-up finds it by its reference and settles it.
        self.api.answer(
            'GET',
            r'/v1/payment_intents$',
            lambda _url, _kw: {'object': 'list', 'data': [self._intent(tx)], 'has_more': False},
        )
        with self.api.serving():
            first.with_user(self.plan_user).action_check_payment_status()
        self.assertEqual(first.state, 'paid')
        self.assertFalse(tx.payment_plan_outcome_unknown)
        self.assertEqual(len(self.api.requests_to('POST', r'/v1/payment_intents$')), 1)

        # A charge that never reached Stripe: concluded only once it cannot land any more.
        with freeze_time(f'{second.due_date} 10:00:00'):
            with self.api.serving():
                second._collect()
            tx = second.transaction_ids
            self.api.answer(
                'GET', r'/v1/payment_intents$', {'object': 'list', 'data': [], 'has_more': False}
            )
            with self.api.serving():
                second.action_check_payment_status()
            self.assertEqual(tx.state, 'pending', "too early to tell")
            # Half an hour later, nothing at Stripe still: the request never reached them.
            self.env.cr.execute(
                "UPDATE payment_transaction SET create_date = %s, last_state_change = %s "
                "WHERE id = %s",
                [fields.Datetime.subtract(fields.Datetime.now(), minutes=30)] * 2 + [tx.id],
            )
            tx.invalidate_recordset(['create_date', 'last_state_change'])
            with self.api.serving():
                self.env['payment.plan.installment']._lookup_unknown_outcomes()
        self.assertEqual(tx.state, 'error')
        self.assertEqual(second.state, 'pending', "retried per the plan's policy")
        self.assertEqual(len(self.api.requests_to('POST', r'/v1/payment_intents$')), 2)

    @freeze_time('2026-03-01 10:00:00')
    def test_an_interrupted_charge_is_looked_up_by_the_cron_never_sent_again(self):
        plan = self._stripe_plan()
        first = plan.installment_ids.sorted('sequence')[0]

        def killed_after_stripe_answered(_url, kwargs):
            self.charged = kwargs['data']['description']
            raise WorkerKilled()

        self.api.answer('POST', r'/v1/payment_intents$', killed_after_stripe_answered)
        # Not `assertRaises`: its savepoint would roll back what the dead worker committed.
        try:
            with self.api.serving():
                first._collect()
        except WorkerKilled:
            self.env.invalidate_all()
        tx = first.transaction_ids
        self.assertEqual((tx.state, first.state), ('draft', 'processing'), "claimed, no outcome")
        # An hour later the collection cron finds it, asks Stripe, and settles it.
        self.env.cr.execute(
            "UPDATE payment_transaction SET create_date = %s WHERE id = %s",
            [fields.Datetime.subtract(fields.Datetime.now(), minutes=90), tx.id],
        )
        tx.invalidate_recordset(['create_date'])
        self.api.answer(
            'GET',
            r'/v1/payment_intents$',
            {'object': 'list', 'data': [self._intent(tx)], 'has_more': False},
        )
        with self.api.serving():
            self.env['payment.plan.installment']._lookup_unknown_outcomes()
            self.env['payment.plan.installment']._collect()
        self.assertEqual(first.state, 'paid')
        self.assertEqual(len(self.api.requests_to('POST', r'/v1/payment_intents$')), 1)

    # === REFUNDS === #

    @freeze_time('2026-03-01')
    def test_a_refund_from_odoo_shows_on_the_installment(self):
        plan = self._stripe_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges('succeeded')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.api.answer(
            'POST',
            r'/v1/refunds$',
            {
                'id': 're_PaymentPlan',
                'object': 'refund',
                'amount': 1000,
                'currency': tx.currency_id.name.lower(),
                'payment_intent': tx.provider_reference,
                'status': 'succeeded',
            },
        )
        with self.api.serving():
            tx.action_refund(amount_to_refund=10.0)
        self._post_process_outcomes()
        self.assertEqual(first.amount_refunded, 10.0)
        self.assertEqual(first.state, 'paid', "a refund does not pay, nor unpay, by itself")
        self.assertIn('was refunded', plan.message_ids[0].body)
