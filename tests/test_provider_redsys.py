"""Cards on file with Redsys, end to end: Odoo's own `payment_redsys` installed, its redirect
asked for a credential-on-file reference, its signed notifications posted to its webhook, and
Redsys's REST endpoint (trataPeticionREST) answered at the boundary with parameters shaped and
signed as Redsys documents them (HMAC-SHA256 with the 3DES-derived key of the order)."""

import base64
import json
import re
import unittest
from datetime import timedelta

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import HttpCase, JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.payment_plan.tests.http_common import pay_token
from odoo.addons.payment_plan.tests.provider_api import ProviderAPI
from odoo.addons.payment_plan.tools import providers

# Redsys's public test key (the SHA-256 key of its test merchant 999008881).
SECRET_KEY = 'sq7HjrUOBfKmC576ILgskD5srU870gJ7'
REST_URL = r'sis-t\.redsys\.es:25443/sis/rest/trataPeticionREST$'
SAVED_CARD = {
    'Ds_Merchant_Identifier': 'f00dbabe' * 5,
    'Ds_Card_Number': '454881******0004',
    'Ds_ExpiryDate': '3012',
    'Ds_Merchant_Cof_Txnid': '2006189999999999',
}


def encode(parameters):
    return base64.b64encode(json.dumps(parameters).encode()).decode()


def decode(encoded):
    return json.loads(base64.b64decode(encoded))


class RedsysCase(PaymentPlanCommon, HttpCase):
    """A Redsys provider in test mode with Redsys's test key, and Redsys at the boundary."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.env['ir.module.module']._get('payment_redsys').state != 'installed':
            raise unittest.SkipTest("Odoo's payment_redsys is not installed")
        cls.redsys = cls.env.ref('payment.payment_provider_redsys')
        cls.card_method = cls.env.ref('payment.payment_method_card')
        cls.redsys.write(
            {
                'state': 'test',
                'is_published': True,  # offered to customers on the pages
                'company_id': cls.company.id,
                'redsys_merchant_code': '999008881',
                'redsys_merchant_terminal': '1',
                'redsys_secret_key': SECRET_KEY,
                'payment_method_ids': [Command.set(cls.card_method.ids)],
                'allow_tokenization': True,
            }
        )

    def setUp(self):
        super().setUp()
        self.api = ProviderAPI()

    def _sign(self, encoded, order):
        return self.redsys._redsys_calculate_signature(encoded, order, SECRET_KEY)

    def _redsys_plan(self, **values):
        return self._provider_card_plan(
            {
                'provider_id': self.redsys.id,
                'payment_method_id': self.card_method.id,
                'payment_details': '0004',
                'provider_ref': 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0',
                'redsys_cof_txnid': '2006181234567890',
            },
            **values,
        )

    def _answer_rest(self, response='0000', signed=True, **values):
        """Answer trataPeticionREST as Redsys does: HTTP 200, the outcome in the signed
        parameters' `Ds_Response` (0000 to 0099 authorise)."""

        def answer(_url, kwargs):
            sent = decode(kwargs['json']['Ds_MerchantParameters'])
            parameters = {
                'Ds_Amount': sent['DS_MERCHANT_AMOUNT'],
                'Ds_Currency': sent['DS_MERCHANT_CURRENCY'],
                'Ds_Order': sent['DS_MERCHANT_ORDER'],
                'Ds_MerchantCode': sent['DS_MERCHANT_MERCHANTCODE'],
                'Ds_Terminal': sent['DS_MERCHANT_TERMINAL'],
                'Ds_Response': response,
                'Ds_AuthorisationCode': '694432' if response == '0000' else '',
                'Ds_TransactionType': '0',
                'Ds_SecurePayment': '0',
                'Ds_Language': '1',
                'Ds_MerchantData': '',
                'Ds_Card_Country': '724',
                'Ds_Card_Brand': '1',
                **values,
            }
            encoded = encode(parameters)
            return {
                'Ds_SignatureVersion': 'HMAC_SHA256_V1',
                'Ds_MerchantParameters': encoded,
                'Ds_Signature': self._sign(encoded, sent['DS_MERCHANT_ORDER'])
                if signed
                else 'forged-signature',
            }

        self.api.answer('POST', REST_URL, answer)

    def _sent_parameters(self):
        [(_url, request)] = self.api.requests_to('POST', REST_URL)
        body = request['json']
        sent = decode(body['Ds_MerchantParameters'])
        self.assertEqual(body['Ds_SignatureVersion'], 'HMAC_SHA256_V1')
        self.assertEqual(
            body['Ds_Signature'],
            self._sign(body['Ds_MerchantParameters'], sent['DS_MERCHANT_ORDER']),
            "the request is signed with the key derived from its order number",
        )
        return sent

    def _notify(self, tx, signed=True, **values):
        """Post Redsys's signed notification about `tx` to Odoo's Redsys webhook."""
        order = tx.provider_reference or tx.reference
        parameters = {
            'Ds_Date': '01/03/2026',
            'Ds_Hour': '10:00',
            'Ds_Amount': str(round(tx.amount * 100)),
            'Ds_Currency': tx.currency_id.iso_numeric,
            'Ds_Order': order,
            'Ds_MerchantCode': '999008881',
            'Ds_Terminal': '1',
            'Ds_Response': '0000',
            'Ds_TransactionType': '0',
            'Ds_SecurePayment': '1',
            'Ds_AuthorisationCode': '123456',
            'Ds_Card_Brand': '1',
            **values,
        }
        encoded = encode(parameters)
        return self.url_open(
            '/payment/redsys/webhook',
            data={
                'Ds_SignatureVersion': 'HMAC_SHA256_V1',
                'Ds_MerchantParameters': encoded,
                'Ds_Signature': self._sign(encoded, order) if signed else 'forged-signature',
            },
        )

    def _checkout_tx(self, **values):
        return self.env['payment.transaction'].create(
            {
                'provider_id': self.redsys.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.currency.id,
                'operation': 'online_redirect',
                'tokenize': True,
                **values,
            }
        )

    def _redirected(self, tx):
        """Return the parameters of the form that redirects the customer to Redsys, checking
        its signature."""
        form = tx._get_processing_values()['redirect_form_html']
        fields = dict(re.findall(r'name="(Ds_\w+)" value="([^"]*)"', form))
        self.assertEqual(
            fields['Ds_Signature'], self._sign(fields['Ds_MerchantParameters'], tx.reference)
        )
        return decode(fields['Ds_MerchantParameters'])


@tagged('post_install', '-at_install')
class TestRedsysCardsOnFile(RedsysCase):
    def test_the_redirect_asks_redsys_to_save_the_card_only_when_it_is_saved(self):
        saving = self._checkout_tx()
        sent = self._redirected(saving)
        self.assertEqual(sent['DS_MERCHANT_IDENTIFIER'], 'REQUIRED')
        self.assertEqual(sent['DS_MERCHANT_COF_INI'], 'S')
        self.assertEqual(sent['DS_MERCHANT_COF_TYPE'], 'C')
        self.assertNotIn('DS_MERCHANT_DIRECTPAYMENT', sent, "the customer authenticates")
        plain = self._checkout_tx(tokenize=False)
        sent = self._redirected(plain)
        self.assertFalse({'DS_MERCHANT_IDENTIFIER', 'DS_MERCHANT_COF_INI'} & set(sent))
        # A new card for a subscription: a recurring credential on file.
        plan = self._create_plan(plan_type='subscription')
        for_plan = self._checkout_tx(
            payment_plan_card_plan_id=plan.id, operation='validation', amount=0.0
        )
        sent = self._redirected(for_plan)
        self.assertEqual((sent['DS_MERCHANT_COF_TYPE'], sent['DS_MERCHANT_AMOUNT']), ('R', '0'))

    @mute_logger('odoo.addons.payment_redsys.controllers.main')
    def test_the_signed_notification_saves_the_card_with_expiry_and_consent(self):
        tx = self._checkout_tx()
        saved_card = {
            'Ds_Merchant_Identifier': 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0',
            'Ds_Card_Number': '454881******0004',
            'Ds_ExpiryDate': '3012',
            'Ds_Merchant_Cof_Txnid': '2006181234567890',
        }
        forged = self._notify(tx, signed=False, **saved_card)
        self.assertEqual(forged.status_code, 403)
        tx.invalidate_recordset()
        self.assertEqual((tx.state, tx.token_id.id), ('draft', False))
        self.assertEqual(self._notify(tx, **saved_card).status_code, 200)
        tx.invalidate_recordset()
        self.assertEqual(tx.state, 'done')
        card = tx.token_id
        self.assertEqual(card.provider_ref, saved_card['Ds_Merchant_Identifier'])
        self.assertEqual(card.payment_details, '0004')
        self.assertEqual((card.expiry_month, card.expiry_year), (12, 2030))
        self.assertEqual(card.redsys_cof_txnid, '2006181234567890')
        self.assertNotIn('454881', json.dumps(card.read()[0], default=str), "no card number")
        self.assertFalse(
            self.env['payment.plan.consent'].search([('token_id', '=', card.id)]),
            "consented only once the payment is recorded as done",
        )
        tx._post_process()  # Odoo's status page or its post-processing cron.
        consent = self.env['payment.plan.consent'].search([('token_id', '=', card.id)])
        self.assertEqual(consent.channel, 'checkout')

    @freeze_time('2026-03-01')
    def test_the_cron_charges_the_saved_card_merchant_initiated(self):
        plan = self._redsys_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_rest('0000')
        with self.api.serving():
            self.env['payment.plan.installment']._collect()
        self.assertEqual(first.state, 'paid')
        tx = first.transaction_ids
        self.assertEqual(tx.state, 'done')
        sent = self._sent_parameters()
        self.assertRegex(sent['DS_MERCHANT_ORDER'], r'^[0-9A-Za-z]{4,12}$')
        self.assertEqual(sent['DS_MERCHANT_ORDER'], tx.provider_reference)
        self.assertEqual(sent['DS_MERCHANT_AMOUNT'], '3000')
        self.assertEqual(sent['DS_MERCHANT_IDENTIFIER'], plan.token_id.provider_ref)
        self.assertEqual(sent['DS_MERCHANT_DIRECTPAYMENT'], 'true')
        self.assertEqual(sent['DS_MERCHANT_EXCEP_SCA'], 'MIT')
        self.assertEqual(sent['DS_MERCHANT_COF_INI'], 'N')
        self.assertEqual(sent['DS_MERCHANT_COF_TYPE'], 'I')
        self.assertEqual(sent['DS_MERCHANT_COF_TXNID'], '2006181234567890')
        self.assertEqual(first.invoice_id.amount_residual, 60.0)

    @freeze_time('2026-03-01')
    def test_refusals_by_response_code(self):
        plan = self._redsys_plan(plan_type='subscription', amount=30.0, max_attempts=3)
        installments = plan.installment_ids.sorted('sequence')[:3]
        cases = [
            ('0116', 'soft', 'pending'),  # insufficient funds
            ('0202', 'hard', 'denied'),  # card lost or stolen
            ('0195', 'authentication', 'pending'),  # SCA required
        ]
        for installment, (code, kind, state) in zip(installments, cases, strict=True):
            with self.subTest(code=code), freeze_time(installment.due_date):
                self._answer_rest(code)
                with self.api.serving():
                    installment._collect()
                tx = installment.transaction_ids
                self.assertEqual(tx.state, 'error')
                self.assertIn(code, tx.state_message)
                self.assertEqual(tx.payment_plan_decline_kind, kind)
                self.assertEqual(installment.state, state)
        first, second, third = installments
        self.assertTrue(first.next_attempt_date, "insufficient funds: retried")
        self.assertEqual(second.attempt_count, 1, "a lost card is not tried again")
        self.assertTrue(third.authentication_required)
        self.assertFalse(third.next_attempt_date, "no blind retry")

    @freeze_time('2026-03-01')
    @mute_logger('odoo.addons.payment_redsys.controllers.main')
    def test_a_timeout_is_unknown_until_the_signed_notification_settles_it(self):
        plan = self._redsys_plan(allow_card_fallback=True)
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', REST_URL, timeout=True)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual((tx.state, first.state), ('pending', 'processing'))
        self.assertTrue(tx.payment_plan_outcome_unknown)
        with self.api.serving():
            self.env['payment.plan.installment']._collect()
        self.assertEqual(len(self.api.requests_to('POST', REST_URL)), 1, "never sent again")
        forged = self._notify(tx, signed=False)
        self.assertEqual(forged.status_code, 403)
        tx.invalidate_recordset()
        self.assertEqual(tx.state, 'pending', "a forged notification changes nothing")
        self.assertEqual(self._notify(tx).status_code, 200)
        self._post_process_outcomes()
        self.assertEqual(first.state, 'paid')
        self.assertFalse(tx.payment_plan_outcome_unknown)

    @freeze_time('2026-03-01')
    def test_an_answer_with_a_forged_signature_is_not_believed(self):
        plan = self._redsys_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_rest('0000', signed=False)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual(tx.state, 'pending')
        self.assertTrue(tx.payment_plan_outcome_unknown, "to be checked, never charged again")
        self.assertNotEqual(first.state, 'paid')

    @freeze_time('2026-03-01')
    def test_a_tampered_amount_in_a_signed_answer_pays_nothing(self):
        plan = self._redsys_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_rest('0000', Ds_Amount='1')
        with self.api.serving():
            first._collect()
        self.assertNotEqual(first.state, 'paid')
        self.assertNotEqual(first.transaction_ids.state, 'done')

    @freeze_time('2026-03-01')
    def test_a_request_redsys_refused_is_the_providers_failure_not_the_cards(self):
        plan = self._redsys_plan()
        first, second = plan.installment_ids.sorted('sequence')[:2]
        self.api.answer('POST', REST_URL, {'errorCode': 'SIS0042'})
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual(tx.state, 'error')
        self.assertEqual(tx.payment_plan_decline_kind, 'provider')
        self.assertEqual(first.state, 'pending', "charged again tomorrow, not denied")
        # A repeated order number: the first sending may have charged. Unknown, not refused.
        with freeze_time(second.due_date):
            self.api.answer('POST', REST_URL, {'errorCode': 'SIS0051'})
            with self.api.serving():
                second._collect()
        self.assertEqual(second.transaction_ids.state, 'pending')
        self.assertTrue(second.transaction_ids.payment_plan_outcome_unknown)

    def test_moto_where_the_terminal_allows_it(self):
        self.assertNotIn(
            self.redsys, self.env['payment.provider']._payment_plan_get_moto_providers(self.company)
        )
        self.redsys.redsys_allow_moto = True
        self.assertIn(
            self.redsys, self.env['payment.provider']._payment_plan_get_moto_providers(self.company)
        )
        request = self.env['payment.plan.card.request'].create(
            {'partner_id': self.customer.id, 'channel': 'moto', 'reason': 'other'}
        )
        tx = self._checkout_tx(
            payment_plan_card_request_id=request.id, operation='validation', amount=0.0
        )
        sent = self._redirected(tx)
        self.assertEqual(sent['DS_MERCHANT_DIRECTPAYMENT'], 'MOTO')
        self.assertEqual(sent['DS_MERCHANT_IDENTIFIER'], 'REQUIRED')
        self.redsys.redsys_allow_moto = False
        sent = self._redirected(tx)
        self.assertNotIn('DS_MERCHANT_DIRECTPAYMENT', sent)

    def test_order_numbers_are_ones_redsys_accepts_and_unique(self):
        plan = self._redsys_plan()
        installments = plan.installment_ids
        txs = self.env['payment.transaction'].create(
            [
                {
                    'provider_id': self.redsys.id,
                    'payment_method_id': self.card_method.id,
                    'partner_id': self.customer.id,
                    'amount': 30.0,
                    'currency_id': self.currency.id,
                    'reference': f'{installment.name}-A1',
                    'operation': 'offline',
                    'token_id': plan.token_id.id,
                    'installment_id': installment.id,
                }
                for installment in installments
            ]
        )
        orders = txs.mapped('provider_reference')
        self.assertEqual(len(set(orders)), len(txs))
        self.assertTrue(all(re.fullmatch(r'[0-9A-Za-z]{4,12}', order) for order in orders))

    def test_the_customer_is_not_offered_a_redsys_card_to_pay_with(self):
        """A payment the customer makes needs their authentication: they use Redsys's form. A
        saved Redsys card is charged merchant-initiated only; their cards page still lists it."""
        plan = self._redsys_plan()
        card = plan.token_id
        Token = self.env['payment.token']
        self.assertNotIn(card, Token._get_available_tokens(self.redsys.ids, self.customer.id))
        self.assertIn(
            card, Token._get_available_tokens(self.redsys.ids, self.customer.id, is_validation=True)
        )
        # A request naming the card anyway (a tampered form) charges nothing.
        tx = self._checkout_tx(operation='online_token', token_id=card.id, tokenize=False)
        with self.api.serving():
            tx._charge_with_token()
        self.assertEqual(tx.state, 'error')
        self.assertFalse(self.api.calls, "nothing is sent to Redsys")


@tagged('post_install', '-at_install')
class TestRedsysAttacks(RedsysCase):
    """The attacks of the review of the Redsys cards on file, as a payer, a salesperson without
    the manager group and a careless operator: each asserts the right end state."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesperson = new_test_user(
            cls.env,
            login='rs_attack_sales',
            password='rs_attack_sales-password',
            groups='sales_team.group_sale_salesman',
            name="Sid Sales",
        )

    def _order_tx(self, order):
        """The order's first payment started on Redsys's page (a draft redirect)."""
        values = self.make_jsonrpc_request(
            f'/my/orders/{order.id}/transaction',
            {
                'access_token': order.access_token,
                'provider_id': self.redsys.id,
                'payment_method_id': self.card_method.id,
                'token_id': None,
                'amount': order._get_payment_plan_first_amount(),
                'flow': 'redirect',
                'tokenization_requested': False,
                'landing_route': order.get_portal_url(),
            },
        )
        return self.env['payment.transaction'].search([('reference', '=', values['reference'])])

    def _confirm_order_payment(self, tx, order):
        """Redsys confirms the payment (signed notification, card saved if asked): the
        transaction is done and the order paid."""
        with mute_logger('odoo.addons.payment_redsys.controllers.main'):
            self.assertEqual(self._notify(tx, **SAVED_CARD).status_code, 200)
        self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(tx.state, 'done')
        self.assertEqual(order.payment_plan_status, 'paid')

    @freeze_time('2026-03-01 10:00:00')
    @mute_logger('odoo.http')
    def test_attack_payer_naming_their_redsys_card_on_the_pay_page(self):
        """Asked to authenticate (0195), the payer posts their own saved Redsys card (hidden
        from the form) to the pay page's route: refused (the page takes a card typed in), nothing
        is sent, and nothing is left "under way": they can still pay on Redsys's page, and the
        plan goes on."""
        plan = self._redsys_plan()
        first, second = plan.installment_ids.sorted('sequence')[:2]
        self._answer_rest('0195')
        with self.api.serving():
            first._collect()
        self.assertTrue(first.authentication_required)
        self.authenticate(None, None)
        params = {
            'access_token': pay_token(first._get_payment_url()),
            'provider_id': self.redsys.id,
            'payment_method_id': self.card_method.id,
            'token_id': plan.token_id.id,
            'amount': 30.0,
            'flow': 'token',
            'tokenization_requested': False,
            'landing_route': plan.access_url,
        }
        with (
            self.api.serving(),
            mute_logger('odoo.http'),
            self.assertRaisesRegex(JsonRpcException, 'Forbidden'),
        ):
            self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', params)
        self.assertEqual(len(self.api.requests_to('POST', REST_URL)), 1, "nothing more sent")
        self.assertFalse(first.transaction_ids.filtered(lambda t: t.operation == 'online_token'))
        # The payer pays the right way; the next installment is charged when due.
        self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            {**params, 'token_id': None, 'flow': 'redirect', 'tokenization_requested': True},
        )
        with freeze_time(second.due_date):
            self._answer_rest('0000')
            with self.api.serving():
                self.env['payment.plan.installment']._collect()
        self.assertEqual(second.state, 'paid', second.last_error)

    @freeze_time('2026-03-01')
    def test_attack_a_signed_authorisation_of_another_amount_is_never_charged_again(self):
        """Redsys authorises (signed 0000) another amount, or in another currency, than the
        charge's: not a refusal to retry, an outcome for staff to check."""
        plan = self._redsys_plan(plan_type='subscription', amount=30.0, max_attempts=3)
        first, second = plan.installment_ids.sorted('sequence')[:2]
        for installment, answer in (
            (first, {'Ds_Amount': '2999'}),
            (second, {'Ds_Currency': '978'}),
        ):
            with self.subTest(answer=answer), freeze_time(installment.due_date):
                sent_before = len(self.api.requests_to('POST', REST_URL))
                self._answer_rest('0000', **answer)
                with self.api.serving():
                    installment._collect()
                tx = installment.transaction_ids
                self.assertEqual((tx.state, tx.payment_plan_outcome_unknown), ('pending', True))
                self.assertEqual(installment.state, 'processing')
                with freeze_time(installment.due_date + timedelta(days=1)):
                    self._answer_rest('0000')
                    with self.api.serving():
                        self.env['payment.plan.installment']._collect()
                self.assertEqual(
                    len(self.api.requests_to('POST', REST_URL)), sent_before + 1, "charged twice"
                )

    @freeze_time('2026-03-01')
    def test_attack_a_repeated_order_number_is_unknown_not_refused(self):
        """Ds_Response 0913 (order number repeated), like errorCode SIS0051: the order was
        received before and may be charged. Never sent again."""
        plan = self._redsys_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_rest('0913')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual((tx.state, tx.payment_plan_outcome_unknown), ('pending', True))
        with freeze_time('2026-03-02'), self.api.serving():
            self.env['payment.plan.installment']._collect()
        self.assertEqual(len(self.api.requests_to('POST', REST_URL)), 1)
        # Order numbers of merchant charges do not repeat across copies of the database.
        self.assertNotEqual(providers.redsys_order_number(tx.id), tx.provider_reference)

    @mute_logger('odoo.addons.payment.models.payment_transaction')
    def test_attack_salesperson_cancels_the_attempt_while_the_customer_pays(self):
        """The customer is on Redsys's page; the order's salesperson presses Cancel Payment
        Attempt: refused, and the customer's payment, once Redsys confirms it, is recorded."""
        order = self._create_installments_order(user_id=self.salesperson.id)
        order.action_payment_plan_request()
        self.authenticate(None, None)
        tx = self._order_tx(order)
        self.assertEqual((tx.state, tx.operation), ('draft', 'online_redirect'))
        with self.assertRaisesRegex(UserError, "started paying online"):
            order.with_user(self.salesperson).action_payment_plan_cancel_attempt()
        self._confirm_order_payment(tx, order)

    @mute_logger('odoo.addons.payment.models.payment_transaction')
    def test_attack_a_logged_in_user_pays_the_customers_order_link(self):
        """The salesperson, logged in, pays the customer's link with a card read out on the
        phone: the payment is recorded and the order closes; the card is not saved as theirs
        for the plan, which waits for the customer's card."""
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.authenticate('rs_attack_sales', 'rs_attack_sales-password')
        tx = self._order_tx(order)
        self.assertFalse(tx.tokenize, "the customer's plan does not need the payer's card")
        self._confirm_order_payment(tx, order)
        self.assertFalse(order.payment_plan_id.token_id)
        self.assertTrue(
            any(
                "waits for the customer's card" in body for body in order.message_ids.mapped('body')
            )
        )

    @mute_logger('odoo.addons.payment_redsys.controllers.main')
    @freeze_time('2026-03-01')
    def test_attack_a_notification_of_one_charge_replayed_for_another(self):
        """Redsys's notification of charge A posted again with its order rewritten to charge
        B's: refused."""
        plan = self._redsys_plan(plan_type='subscription', amount=30.0)
        first, second = plan.installment_ids.sorted('sequence')[:2]
        self.api.answer('POST', REST_URL, timeout=True)
        with self.api.serving():
            first._collect()
            with freeze_time(second.due_date):
                second._collect()
        tx_a, tx_b = first.transaction_ids, second.transaction_ids
        parameters = {
            'Ds_Amount': '3000',
            'Ds_Currency': tx_a.currency_id.iso_numeric,
            'Ds_Order': tx_b.provider_reference,
            'Ds_Response': '0000',
        }
        # Redsys's notification of A (signed with A's key), its order rewritten to B's.
        encoded = encode({**parameters, 'Ds_Order': tx_b.provider_reference})
        answer = self.url_open(
            '/payment/redsys/webhook',
            data={
                'Ds_SignatureVersion': 'HMAC_SHA256_V1',
                'Ds_MerchantParameters': encoded,
                'Ds_Signature': self._sign(
                    encode({**parameters, 'Ds_Order': tx_a.provider_reference}),
                    tx_a.provider_reference,
                ),
            },
        )
        self.assertEqual(answer.status_code, 403)
        tx_b.invalidate_recordset()
        self.assertEqual(tx_b.state, 'pending')
