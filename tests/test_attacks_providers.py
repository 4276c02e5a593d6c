"""Attacks on the provider profiles, the signed pay links and the outcome look-ups (review 14):
as a payer, a public visitor with a link, a salesperson without the group, a careless operator,
concurrent runs and killed requests.

Each test names the attack and asserts that it ends in a right state.
"""

import json
import re

import requests
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.http_common import PayLinkCase, pay_token
from odoo.addons.payment_plan.tests.provider_api import ProviderAPI
from odoo.addons.payment_plan.tests.test_provider_mercado_pago import MercadoPagoCase
from odoo.addons.payment_plan.tests.test_provider_stripe import StripeCase

MP_PAYMENTS_URL = r'api\.mercadopago\.com/v1/payments$'


class StatusAPI(ProviderAPI):
    """`ProviderAPI` whose answer may pick its HTTP status (`_status` in the body)."""

    def __call__(self, method, url, **kwargs):
        response = super().__call__(method, url, **kwargs)
        content = json.loads(response._content)
        if isinstance(content, dict) and '_status' in content:
            response.status_code = content.pop('_status')
            response.reason = 'Error'
            response._content = json.dumps(content).encode()
        return response


def _age(env, tx, minutes):
    """Make the transaction `minutes` old (its claim, or its creation by the pay page)."""
    env.flush_all()
    env.cr.execute(
        "UPDATE payment_transaction SET create_date = %s WHERE id = %s",
        [fields.Datetime.subtract(fields.Datetime.now(), minutes=minutes), tx.id],
    )
    tx.invalidate_recordset(['create_date'])


# ================================================================================================
# Demo provider: the pay links themselves.
# ================================================================================================


@tagged('post_install', '-at_install')
class TestPayLinkAttacks(PayLinkCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.payer = new_test_user(
            cls.env,
            login='attack14_payer',
            password='attack14_payer-password',
            groups='base.group_portal',
            name="Ada Attacker",
        )
        cls.salesperson = new_test_user(
            cls.env,
            login='attack14_sales',
            password='attack14_sales-password',
            groups='sales_team.group_sale_salesman',
            name="Sid Sales",
        )

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.http')
    def test_the_pay_link_page_hands_out_no_permanent_portal_token(self):
        """The 30-day signed link is the only secret a mail carries: the page it opens never
        renders the plan's permanent portal token, which would outlive the link."""
        plan, denied = self._denied_plan()
        pay_url = denied._get_payment_url()
        self.authenticate(None, None)
        page = self.url_open(pay_url)
        self.assertEqual(page.status_code, 200)
        self.assertFalse(
            re.findall(r'access_token=([0-9a-f-]{20,})', page.text),
            "the pay page shows no portal token",
        )
        self.assertNotIn(plan._portal_ensure_token(), page.text)
        with freeze_time('2026-05-01 10:00:00'):  # 61 days later: the signed link expired
            self.assertEqual(self.url_open(pay_url).status_code, 403)

    @freeze_time('2026-03-01 10:00:00')
    def test_a_second_tab_after_half_an_hour_cannot_pay_the_installment_twice(self):
        """Two tabs of the pay page (or a tab left on the bank's 3-D Secure page): half an hour
        later, the second payment is still refused; the installment is paid once."""
        plan, denied = self._denied_plan(plan_type='subscription', amount=30.0)
        token = pay_token(denied._get_payment_url())
        self.authenticate(None, None)
        first = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction', self._params(plan, token)
        )
        with self.assertRaisesRegex(JsonRpcException, 'UserError'), mute_logger('odoo.http'):
            self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', self._params(plan, token))
        with freeze_time('2026-03-01 10:31:00'):
            with self.assertRaisesRegex(JsonRpcException, 'UserError'), mute_logger('odoo.http'):
                self.make_jsonrpc_request(
                    f'/my/plans/{plan.id}/transaction', self._params(plan, token)
                )
            # The customer completes the first tab (its 3-D Secure page was still open).
            self._simulate(first['reference'])
        paid = denied.transaction_ids.filtered(
            lambda tx: tx.state == 'done' and tx.operation != 'validation'
        )
        self.assertEqual(denied.state, 'paid')
        self.assertEqual(
            len(paid),
            1,
            f"the customer paid {denied.name} {len(paid)} times "
            f"({', '.join(paid.mapped('reference'))}); its invoice {denied.invoice_id.name} "
            f"(residual {denied.invoice_id.amount_residual}) leaves "
            f"{sum(paid.payment_id.mapped('amount')) - denied.amount} as the customer's credit",
        )

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.http')
    def test_refused_retry_now_and_cron_while_the_customer_authenticates(self):
        """An installment waiting for the customer's authentication: the cron leaves it, and
        while the customer's on-session payment is under way, Retry Now and a second tab are
        refused."""
        card = self._create_card()
        plan = self._create_plan(
            collection_mode='token', token_id=card.id, amount=90.0, date_start='2026-03-01'
        )
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._register_failure("This transaction requires authentication.")
        self.assertEqual((first.state, first.authentication_required), ('pending', True))
        self.env['payment.plan.installment']._collect()
        self.assertFalse(first.transaction_ids, "the cron never charges it")
        token = pay_token(first._get_payment_url())
        self.authenticate(None, None)
        self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', self._params(plan, token))
        with self.assertRaisesRegex(UserError, 'already under way'):
            first.with_user(self.plan_user).action_retry_now()
        with self.assertRaisesRegex(JsonRpcException, 'UserError'):
            self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', self._params(plan, token))
        self.assertTrue(first.authentication_required)
        self.assertEqual(len(first.transaction_ids), 1)

    @freeze_time('2026-03-01')
    def test_refused_staff_reads_no_live_pay_link_in_messages(self):
        """The denial and authentication mails and the SMS carry the signed link; a salesperson
        reading messages does not get it (chatter copies are redacted). Note: plan users do
        read it in the outgoing mails' messages until the queue sends them (as for card
        requests)."""
        self.company.payment_plan_notify_sms = True
        self.customer.phone = '+32 470 12 34 56'
        _plan, denied = self._denied_plan()
        denied._notify_authentication_required()
        for user in (self.salesperson,):
            with self.subTest(user=user.login):
                messages = (
                    self.env['mail.message']
                    .with_user(user)
                    .search([('body', 'ilike', 'pay_token=')])
                )
                live = messages.sudo().filtered(
                    lambda m: not re.search(r'pay_token=(\*\*\*|%2A%2A%2A)', m.body)
                )
                self.assertFalse(
                    live, f"{user.login} reads {live.mapped('model')} {live.mapped('message_type')}"
                )

    @freeze_time('2026-03-01')
    @mute_logger('odoo.http')
    def test_refused_a_logged_in_customer_or_salesperson_on_another_customers_plan(self):
        plan, _denied = self._denied_plan()  # the plan of self.customer, not the payer's
        for login in ('attack14_payer', 'attack14_sales'):
            with self.subTest(login=login):
                self.authenticate(login, f'{login}-password')
                self.assertEqual(self.url_open(f'/my/plans/{plan.id}/pay').status_code, 403)
                with self.assertRaisesRegex(JsonRpcException, 'ValidationError'):
                    self.make_jsonrpc_request(
                        f'/my/plans/{plan.id}/transaction', self._params(plan, None)
                    )
                # Another plan's signed link on this plan.
                _own_plan, own_denied = self._denied_plan(self.other_customer)
                token = pay_token(own_denied._get_payment_url())
                with self.assertRaisesRegex(JsonRpcException, 'ValidationError'):
                    self.make_jsonrpc_request(
                        f'/my/plans/{plan.id}/transaction', self._params(plan, token)
                    )
        self.assertFalse(
            plan.installment_ids.transaction_ids.filtered(lambda t: t.state == 'draft')
        )

    @freeze_time('2026-03-01')
    @mute_logger('odoo.http')
    def test_refused_validation_with_another_customers_card(self):
        """Nothing due: a validation by token with another customer's card is refused (the page
        takes a card typed in, never a card on file), and the plan's card stays."""
        card = self._create_card()
        plan = self._create_plan(
            collection_mode='token', token_id=card.id, amount=90.0, date_start='2026-04-01'
        )
        plan.action_activate()
        foreign = self._create_card(partner=self.other_customer, details='6666')
        token = pay_token(card._payment_plan_get_update_url())
        self.authenticate(None, None)
        with self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self.make_jsonrpc_request(
                f'/my/plans/{plan.id}/transaction',
                self._params(plan, token, is_validation=True, flow='token', token_id=foreign.id),
            )
        self.assertEqual(plan.token_id, card)


# ================================================================================================
# Stripe.
# ================================================================================================


@tagged('post_install', '-at_install')
class TestStripeAttacks(StripeCase):
    def _listing(self, *intents, has_more=False):
        return {'object': 'list', 'data': list(intents), 'has_more': has_more}

    @freeze_time('2026-03-01 10:00:00')
    def test_the_stripe_lookup_reads_every_page_before_concluding(self):
        """A customer (a company with many subscriptions on one Stripe customer) has more than
        100 PaymentIntents since the charge: the look-up reads every page, finds the charge,
        and never charges it again."""
        plan = self._stripe_plan(max_attempts=3)
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', r'/v1/payment_intents$', timeout=True)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertTrue(tx.payment_plan_outcome_unknown)
        others = [
            dict(self._intent(tx), id=f'pi_other_{n}', description=f'SUB/2026/{n:05d}-01-A1')
            for n in range(100)
        ]

        def listing(_url, kwargs):
            if kwargs['params'].get('starting_after'):
                return self._listing(self._intent(tx))  # page 2: the charge, succeeded
            return self._listing(*others, has_more=True)

        self.api.answer('GET', r'/v1/payment_intents$', listing)
        _age(self.env, tx, 30)
        with self.api.serving():
            self.env['payment.plan.installment']._lookup_unknown_outcomes()
        retry_on = first.next_attempt_date
        if first.state == 'pending' and retry_on:
            self._answer_charges('succeeded')
            with freeze_time(f'{retry_on} 10:00:00'), self.api.serving():
                self.env['payment.plan.installment']._collect()
        sent = self.api.requests_to('POST', r'/v1/payment_intents$')
        self.assertEqual(
            (tx.state, len(sent)),
            ('done', 1),
            f"the charge Stripe had on page 2 was concluded '{tx.state}' and the installment "
            f"was charged {len(sent)} times",
        )

    @freeze_time('2026-03-01 10:00:00')
    def test_a_pay_page_payment_is_never_concluded_not_charged(self):
        """The customer pays a denied installment on the pay page: Stripe's module creates a new
        Customer for it. A customer's online payment is never concluded "never charged" by a
        look-up (they may still be on the provider's page); its webhook settles it."""
        plan = self._stripe_plan(max_attempts=1)
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges(
            http_status=402,
            error={'code': 'card_declined', 'decline_code': 'lost_card', 'message': "Lost."},
        )
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'denied')
        token = pay_token(first._get_payment_url())
        at_stripe = {}

        def create_intent(_url, kwargs):
            data = kwargs['data']
            tx = self.env['payment.transaction'].search([('reference', '=', data['description'])])
            at_stripe['intent'] = dict(
                self._intent(tx, 'requires_payment_method'),
                customer=data['customer'],
                client_secret='pi_secret_x',
            )
            return at_stripe['intent']

        self.api.answer('POST', r'/v1/customers$', {'id': 'cus_NewOnThePayPage'})
        self.api.answer('POST', r'/v1/payment_intents$', create_intent)
        self.authenticate(None, None)
        with self.api.serving():
            processing = self.make_jsonrpc_request(
                f'/my/plans/{plan.id}/transaction',
                {
                    'access_token': token,
                    'provider_id': self.stripe.id,
                    'payment_method_id': self.card_method.id,
                    'token_id': None,
                    'amount': None,
                    'flow': 'direct',
                    'tokenization_requested': True,
                    'landing_route': plan.access_url,
                },
            )
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        self.assertEqual(tx.installment_id, first)
        # The customer confirms on Stripe (3-D Secure); Stripe's event is late or missed.
        at_stripe['intent']['status'] = 'succeeded'

        def listing(_url, kwargs):
            customer = kwargs['params'].get('customer')
            found = [at_stripe['intent']] if customer == at_stripe['intent']['customer'] else []
            return self._listing(*found)

        self.api.answer('GET', r'/v1/payment_intents$', listing)
        _age(self.env, tx, 61)
        with self.api.serving():
            self.env['payment.plan.installment']._lookup_unknown_outcomes()
        asked = self.api.requests_to('GET', r'/v1/payment_intents$')
        self.assertNotEqual(
            tx.state,
            'error',
            f"Stripe has the succeeded PaymentIntent of {tx.reference} under "
            f"{at_stripe['intent']['customer']}; the look-up asked for customer="
            f"{asked and asked[0][1]['params'].get('customer')!r} and recorded: {tx.state_message}",
        )

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.addons.payment_plan.models.payment_transaction')
    def test_abandoned_pay_page_payments_do_not_starve_the_cron_lookup(self):
        """Payments customers start on the pay page and abandon are not the cron's to look up,
        and the charges it cannot settle are asked last: the real unknown outcomes are always
        looked up."""
        plan = self._stripe_plan()
        first, second = plan.installment_ids.sorted('sequence')[:2]
        Tx = self.env['payment.transaction']
        abandoned = Tx.create(
            [
                {
                    'provider_id': self.stripe.id,
                    'payment_method_id': self.card_method.id,
                    'partner_id': self.customer.id,
                    'amount': 30.0,
                    'currency_id': self.currency.id,
                    'reference': f'{second.name}-{n}',
                    'operation': 'online_direct',
                    'installment_id': second.id,
                    'payment_plan_card_plan_id': plan.id,
                }
                for n in range(100)
            ]
        )
        for tx in abandoned:
            _age(self.env, tx, 24 * 60)
        self.api.answer('POST', r'/v1/payment_intents$', timeout=True)
        with self.api.serving():
            first._collect()
        charge = first.transaction_ids
        self.assertTrue(charge.payment_plan_outcome_unknown)
        _age(self.env, charge, 30)

        def listing(_url, kwargs):
            if not kwargs['params'].get('customer'):
                return {
                    '_status': 400,
                    'error': {
                        'type': 'invalid_request_error',
                        'code': 'resource_missing',
                        'message': "No such customer: 'False'",
                    },
                }
            return self._listing(self._intent(charge))

        self.api = StatusAPI()
        self.api.answer('GET', r'/v1/payment_intents$', listing)
        for _day in range(3):  # three cron runs
            with self.api.serving():
                self.env['payment.plan.installment']._lookup_unknown_outcomes()
        self.assertEqual(
            (charge.state, first.state),
            ('done', 'paid'),
            f"after 3 cron runs the charge Stripe has is still '{charge.state}': the look-up "
            f"asked about {len(self.api.requests_to('GET', r'/v1/payment_intents'))} "
            f"abandoned pay-page payments instead",
        )

    @freeze_time('2026-03-01 10:00:00')
    def test_a_timeout_after_an_answered_request_is_unknown_not_a_refusal(self):
        """A card saved before Stripe's SCA API: the charge first reads its PaymentMethod (200),
        then the PaymentIntent request times out: the outcome is unknown (per request, not per
        last answer), never a refusal sent on to the customer's other card."""
        plan = self._provider_card_plan(
            {
                'provider_id': self.stripe.id,
                'payment_method_id': self.card_method.id,
                'payment_details': '4242',
                'provider_ref': 'cus_Legacy',
                'stripe_payment_method': False,
            },
            allow_card_fallback=True,
        )
        self._stripe_card()  # the customer's other card, consent recorded
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer(
            'GET', r'/v1/payment_methods$', {'object': 'list', 'data': [{'id': 'pm_Legacy'}]}
        )

        def charge(_url, kwargs):
            if kwargs['data']['payment_method'] == 'pm_Legacy':
                raise requests.exceptions.Timeout("Read timed out.")  # it may have gone through
            tx = self.env['payment.transaction'].search(
                [('reference', '=', kwargs['data']['description'])]
            )
            return self._intent(tx)

        self.api.answer('POST', r'/v1/payment_intents$', charge)
        with self.api.serving():
            first._collect()
        timed_out = first.transaction_ids.filtered(lambda t: t.token_id == plan.token_id)
        sent = self.api.requests_to('POST', r'/v1/payment_intents$')
        self.assertEqual(
            (timed_out.state, timed_out.payment_plan_outcome_unknown, len(sent)),
            ('pending', True, 1),
            f"the timed-out charge was recorded '{timed_out.state}' ({timed_out.state_message}) "
            f"and {len(sent)} charges were sent for {first.name}",
        )

    @freeze_time('2026-03-01 10:00:00')
    def test_a_rate_limited_charge_is_not_the_cards_refusal(self):
        """Stripe rate-limits a large batch (HTTP 429: the request was not processed), or a
        careless operator pasted a wrong secret key (401): not the card's refusal, the customer
        is neither denied nor dunned, and the card is tried again tomorrow."""
        plan = self._stripe_plan(max_attempts=1)
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer(
            'POST',
            r'/v1/payment_intents$',
            {
                'error': {
                    'type': 'invalid_request_error',
                    'code': 'rate_limit',
                    'message': "Too many requests hit the API too quickly.",
                }
            },
            status=429,
        )
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        mails = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan.installment'), ('res_id', '=', first.id)]
        )
        self.assertNotEqual(
            first.state,
            'denied',
            f"a request Stripe did not process (429) was recorded as a "
            f"'{tx.payment_plan_decline_kind}' decline of the card: {first.name} is "
            f"'{first.state}' and {len(mails)} mail(s) ask the customer to replace their card",
        )

    @freeze_time('2026-03-01 10:00:00')
    def test_a_requires_action_answer_asks_the_customer(self):
        """Stripe answers an off-session charge with a PaymentIntent in `requires_action`
        (Stripe's module leaves it draft): the charge is over, and the customer is asked to
        authenticate, instead of an installment processing for good."""
        plan = self._stripe_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges('requires_action')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.api.answer(
            'GET',
            rf'/v1/payment_intents/{tx.provider_reference}$',
            self._intent(tx, 'requires_action'),
        )
        _age(self.env, tx, 120)
        with self.api.serving():
            self.env['payment.plan.installment']._lookup_unknown_outcomes()
            first.action_check_payment_status()
        self.assertEqual(
            (first.state, first.authentication_required),
            ('pending', True),
            f"{first.name} is '{first.state}' with its charge '{tx.state}' "
            f"(decline kind {tx.payment_plan_decline_kind!r}) two hours later; "
            f"pay page offers: {plan._get_installments_to_pay_now()[:1].name!r}",
        )

    @mute_logger('odoo.addons.payment_stripe.models.payment_transaction')
    def test_refused_an_ordinary_checkout_timeout_is_still_an_error(self):
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.stripe.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.currency.id,
                'reference': 'CHECKOUT-TIMEOUT-1',
                'operation': 'online_token',
                'token_id': self._stripe_card().id,
            }
        )
        self.api.answer('POST', r'/v1/payment_intents$', timeout=True)
        with self.api.serving():
            tx._charge_with_token()
        self.assertEqual(tx.state, 'error')
        self.assertFalse(tx.payment_plan_outcome_unknown)

    @freeze_time('2026-03-01')
    @mute_logger(
        'odoo.addons.payment_stripe.controllers.main',
        'odoo.addons.payment.models.payment_transaction',
    )
    def test_refused_payment_failed_replayed_after_succeeded(self):
        plan = self._stripe_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_charges('succeeded')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual(first.state, 'paid')
        failed = self._intent(
            tx,
            'requires_payment_method',
            {'code': 'card_declined', 'decline_code': 'authentication_required', 'message': "3DS"},
        )
        with self.api.serving():
            self._post_webhook('payment_intent.payment_failed', failed)
        self._post_process_outcomes()
        self.assertEqual((tx.state, first.state), ('done', 'paid'))
        self.assertFalse(tx.payment_plan_decline_kind)
        self.assertFalse(first.authentication_required)


# ================================================================================================
# Mercado Pago.
# ================================================================================================


@tagged('post_install', '-at_install')
class TestMercadoPagoAttacks(MercadoPagoCase):
    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.addons.payment_mercado_pago.models.payment_transaction')
    def test_a_public_webhook_cannot_kill_a_checkout_payment(self):
        """Not a plan's transaction: an ordinary invoice payment (Checkout Pro, reference with
        slashes). Anyone POSTs the add-on's route with its (sequential) reference while the
        customer is still on Mercado Pago's page: nothing is concluded, and the real
        notification then settles the payment."""
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.mercado_pago.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.brl.id,
                'reference': 'INV/2026/00042',
                'operation': 'online_redirect',
            }
        )
        _age(self.env, tx, 15)
        self.api.answer('GET', r'/v1/payments/search$', {'results': []})
        with self.api.serving():
            self.url_open(
                f'/payment/mercado_pago/webhook/{tx.reference}',
                json={'action': 'payment.created', 'data': {'id': '1'}},
            )
        tx.invalidate_recordset()
        attacked = (tx.state, tx.payment_plan_decline_kind)
        # The customer pays on Mercado Pago; Mercado Pago notifies the reference's URL.
        paid = self._payment(
            tx.reference, 50.0, id=777, additional_info={'items': [{'unit_price': 50.0}]}
        )
        self.api.answer('GET', r'/v1/payments/777$', paid)
        self.api.answer('GET', r'/v1/payments/search$', {'results': [paid]})
        with self.api.serving():
            self.url_open(
                f'/payment/mercado_pago/webhook/{tx.reference}',
                json={'action': 'payment.updated', 'data': {'id': '777'}},
            )
        tx.invalidate_recordset()
        self.assertEqual(
            tx.state,
            'done',
            f"after an anonymous POST the checkout payment was {attacked}; Mercado Pago's own "
            f"notification of the approved payment then left it '{tx.state}'",
        )

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.addons.payment_mercado_pago.models.payment_transaction')
    def test_a_claimed_charge_not_yet_sent_is_not_concluded_nor_sent_twice(self):
        """A batch is claimed (drafts committed) and charged one by one; 11 minutes in, staff's
        Check Payment Status looks up a draft the worker has not sent yet: it is not concluded
        (a claimed draft waits an hour), and a charge no longer draft is never sent."""
        plan = self._mp_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        batch = first._lock_collectable(
            self.env['payment.plan.installment']._get_collection_today(), 10, ids=first.ids
        )
        claimed = batch._claim_attempts()
        self.assertEqual((claimed.state, first.state), ('draft', 'processing'))
        _age(self.env, claimed, 11)
        self.api.answer('GET', r'/v1/payments/search$', {'results': []})
        with self.api.serving():
            self.url_open(
                f'/payment/mercado_pago/webhook/{claimed.reference}',
                json={'action': 'payment.created', 'data': {'id': '1'}},
            )
        claimed.invalidate_recordset()
        concluded = claimed.state
        self.api.answer('POST', r'/v1/card_tokens$', {'id': 'ONE_TIME_CARD_TOKEN'})
        self.api.answer(
            'POST',
            MP_PAYMENTS_URL,
            lambda _url, kw: self._payment(
                kw['json']['external_reference'], kw['json']['transaction_amount']
            ),
            status=201,
        )
        with self.api.serving():
            self.env['payment.plan.installment']._charge_claimed(claimed)  # the worker reaches it
        sent = self.api.requests_to('POST', MP_PAYMENTS_URL)
        self.assertEqual(
            (concluded, len(sent)),
            ('draft', 1),
            f"a claimed charge not yet sent was concluded '{concluded}' (never charged), then "
            f"{len(sent)} charge(s) were sent for it",
        )

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.addons.payment_mercado_pago.controllers.payment')
    def test_a_pay_link_cannot_pay_an_installment_with_one_cent(self):
        """The pay page's amount is the server's, but Mercado Pago's inline card form sends its
        own `transaction_amount`, which is what Mercado Pago charges: a charged amount that is
        not the transaction's is an error, never a payment of the installment."""
        plan = self._mp_plan(max_attempts=1)
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', r'/v1/card_tokens$', {'id': 'ONE_TIME_CARD_TOKEN'})
        self.api.answer(
            'POST',
            MP_PAYMENTS_URL,
            lambda _url, kw: self._payment(
                kw['json']['external_reference'],
                kw['json']['transaction_amount'],
                'rejected',
                'cc_rejected_card_disabled',
            ),
            status=201,
        )
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'denied')
        token = pay_token(first._get_payment_url())
        self.authenticate(None, None)
        processing = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            {
                'access_token': token,
                'provider_id': self.mercado_pago.id,
                'payment_method_id': self.card_method.id,
                'token_id': None,
                'amount': None,
                'flow': 'direct',
                'tokenization_requested': False,
                'landing_route': plan.access_url,
            },
        )
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        self.assertEqual(tx.amount, 30.0, "the server's amount")

        def charge(_url, kw):  # Mercado Pago charges `transaction_amount`, echoes the rest
            sent = kw['json']
            return self._payment(
                sent['external_reference'],
                sent['transaction_amount'],
                additional_info=sent['additional_info'],
                payer={'email': self.customer.email},
            )

        self.api.answer('POST', MP_PAYMENTS_URL, charge, status=201)
        self.api.answer('GET', r'/v1/customers/search$', {'results': [{'id': 'CUSTOMER_9'}]})
        self.api.answer(
            'POST',
            r'/v1/customers/CUSTOMER_9/cards$',
            {'id': 'CARD_9', 'last_four_digits': '5682'},
        )
        with self.api.serving():
            self.make_jsonrpc_request(
                '/payment/mercado_pago/payments',
                {
                    'reference': tx.reference,
                    'transaction_amount': 0.01,
                    'token': 'CARD_FORM_TOKEN',
                    'installments': 1,
                    'payment_method_brand': 'master',
                    'issuer_id': '24',
                },
            )
        self._post_process_outcomes()
        [(_url, sent)] = self.api.requests_to('POST', MP_PAYMENTS_URL)[-1:]
        charged = sent['json']['transaction_amount']
        self.assertFalse(
            first.state == 'paid' and charged < tx.amount,
            f"Mercado Pago charged {charged} and {first.name} is '{first.state}', its "
            f"invoice residual {first.invoice_id.amount_residual}",
        )
