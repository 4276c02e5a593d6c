"""Cards on file with Adyen, end to end: Odoo's own `payment_adyen` installed, Adyen's Checkout
API answered at the boundary as Adyen documents it, and Adyen's webhook called with
notifications signed with the provider's HMAC key."""

import json
import unittest

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.fields import Command
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.payment_plan.tests.provider_api import ProviderAPI

HMAC_KEY = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056'
PAYMENTS_URL = r'adyen\.com/checkout/V\d+/payments$'


@tagged('post_install', '-at_install')
class TestAdyenCardsOnFile(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.env['ir.module.module']._get('payment_adyen').state != 'installed':
            raise unittest.SkipTest("payment_adyen is not installed")
        cls.adyen = cls.env.ref('payment.payment_provider_adyen')
        cls.card_method = cls.env.ref('payment.payment_method_card')
        cls.adyen.write(
            {
                'state': 'test',
                'is_published': True,  # offered to customers on the pages
                'company_id': cls.company.id,
                'adyen_merchant_account': 'PaymentPlanECOM',
                'adyen_api_key': 'AQE_test_key',
                'adyen_client_key': 'test_client_key',
                'adyen_hmac_key': HMAC_KEY,
                'adyen_api_url_prefix': 'checkout-test',
                'payment_method_ids': [Command.set(cls.card_method.ids)],
                'allow_tokenization': True,
            }
        )

    def setUp(self):
        super().setUp()
        self.api = ProviderAPI()

    def _adyen_plan(self, **values):
        return self._provider_card_plan(
            {
                'provider_id': self.adyen.id,
                'payment_method_id': self.card_method.id,
                'payment_details': '1111',
                'provider_ref': 'RECURRING_DETAIL_1',
                'adyen_shopper_reference': 'SHOPPER_1',
            },
            **values,
        )

    def _answer_payments(self, result_code, **values):
        """Answer /payments as Adyen does (https://docs.adyen.com/api-explorer/Checkout/71/post/payments):
        HTTP 200, the outcome in `resultCode`, a refusal's reason in `refusalReason(Code)`."""

        def answer(_url, kwargs):
            sent = kwargs['json']
            return {
                'pspReference': f"PSP{sent['reference'].replace('/', '').replace('-', '')}"[:16],
                'resultCode': result_code,
                'merchantReference': sent['reference'],
                'amount': sent['amount'],
                **values,
            }

        self.api.answer('POST', PAYMENTS_URL, answer)

    def _notify(self, tx, success=True, signed=True, **item):
        """Post a signed AUTHORISATION notification of `tx` to Adyen's webhook."""
        from odoo.addons.payment_adyen.controllers.main import AdyenController

        notification = {
            'additionalData': dict(item.pop('additionalData', {})),
            'amount': {'currency': tx.currency_id.name, 'value': round(tx.amount * 100)},
            'eventCode': 'AUTHORISATION',
            'merchantAccountCode': 'PaymentPlanECOM',
            'merchantReference': tx.reference,
            'pspReference': tx.provider_reference or 'PSPWEBHOOK000001',
            'success': 'true' if success else 'false',
            **item,
        }
        signature = AdyenController._compute_signature(notification, HMAC_KEY)
        notification['additionalData']['hmacSignature'] = signature if signed else 'forged'
        return self.url_open(
            '/payment/adyen/notification',
            data=json.dumps({'notificationItems': [{'NotificationRequestItem': notification}]}),
            headers={'Content-Type': 'application/json'},
        )

    @mute_logger('odoo.addons.payment_adyen.controllers.main')
    def test_card_saved_at_checkout_gets_consent_and_expiry(self):
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.adyen.id,
                'payment_method_id': self.card_method.id,
                'partner_id': self.customer.id,
                'amount': 50.0,
                'currency_id': self.currency.id,
                'reference': 'CHECKOUT-ADYEN-1',
                'operation': 'online_direct',
                'tokenize': True,
            }
        )
        saved_card = {
            'recurring.recurringDetailReference': 'RECURRING_DETAIL_9',
            'recurring.shopperReference': 'SHOPPER_9',
            'cardSummary': '1111',
            'expiryDate': '3/2030',
        }
        forged = self._notify(tx, signed=False, additionalData=saved_card)
        self.assertEqual(forged.status_code, 403)
        self.assertFalse(tx.token_id)
        self._notify(tx, additionalData=saved_card)
        tx.invalidate_recordset()
        self.assertEqual(tx.state, 'done')
        card = tx.token_id
        self.assertEqual((card.expiry_month, card.expiry_year), (3, 2030))
        self.assertEqual(card.provider_ref, 'RECURRING_DETAIL_9')
        self.assertFalse(
            self.env['payment.plan.consent'].search([('token_id', '=', card.id)]),
            "consented only once the payment is recorded as done",
        )
        tx._post_process()  # Odoo's status page or its post-processing cron.
        consent = self.env['payment.plan.consent'].search([('token_id', '=', card.id)])
        self.assertEqual(consent.channel, 'checkout')

    @freeze_time('2026-03-01')
    def test_contauth_charge_pays_the_installment(self):
        plan = self._adyen_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_payments('Authorised')
        with self.api.serving():
            first._collect()
        self.assertEqual(first.state, 'paid')
        [(_url, request)] = self.api.requests_to('POST', PAYMENTS_URL)
        sent = request['json']
        self.assertEqual(sent['shopperInteraction'], 'ContAuth')
        self.assertEqual(sent['recurringProcessingModel'], 'Subscription')
        self.assertEqual(sent['paymentMethod']['storedPaymentMethodId'], 'RECURRING_DETAIL_1')
        self.assertEqual(sent['amount']['value'], 3000)
        self.assertEqual(first.invoice_id.amount_residual, 60.0)

    @freeze_time('2026-03-01')
    def test_refusals_by_reason(self):
        plan = self._adyen_plan(plan_type='subscription', amount=30.0, max_attempts=3)
        first, second, third = plan.installment_ids.sorted('sequence')[:3]
        cases = [
            (first, 'Not enough balance', '12', 'soft', 'pending'),
            (second, 'Blocked Card', '5', 'hard', 'denied'),
            (third, 'Authentication required', '38', 'authentication', 'pending'),
        ]
        for installment, reason, code, kind, state in cases:
            with self.subTest(reason=reason), freeze_time(installment.due_date):
                self._answer_payments('Refused', refusalReason=reason, refusalReasonCode=code)
                with self.api.serving():
                    installment._collect()
                tx = installment.transaction_ids
                self.assertEqual(tx.state, 'error')
                self.assertEqual(tx.payment_plan_decline_kind, kind)
                self.assertEqual(installment.state, state)
        self.assertTrue(first.next_attempt_date, "not enough balance: retried")
        self.assertEqual(second.attempt_count, 1, "a blocked card is not tried again")
        self.assertTrue(third.authentication_required)
        self.assertFalse(third.next_attempt_date, "no blind retry")

    @freeze_time('2026-03-01')
    @mute_logger('odoo.addons.payment_adyen.controllers.main')
    def test_a_received_charge_is_settled_by_the_signed_notification(self):
        plan = self._adyen_plan()
        first = plan.installment_ids.sorted('sequence')[0]
        self._answer_payments('Received')
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual((tx.state, first.state), ('pending', 'processing'))
        self._notify(tx, signed=False)
        self.assertEqual(tx.state, 'pending', "a forged notification changes nothing")
        self._notify(tx)
        self._post_process_outcomes()
        self.assertEqual(first.state, 'paid')
        self.assertEqual(len(self.api.requests_to('POST', PAYMENTS_URL)), 1)

    @freeze_time('2026-03-01')
    def test_a_provider_error_is_unknown_never_sent_again(self):
        plan = self._adyen_plan(allow_card_fallback=True)
        first = plan.installment_ids.sorted('sequence')[0]
        self.api.answer('POST', PAYMENTS_URL, {'status': 500, 'errorCode': '905'}, status=500)
        with self.api.serving():
            first._collect()
        tx = first.transaction_ids
        self.assertEqual(tx.state, 'pending')
        self.assertTrue(tx.payment_plan_outcome_unknown)
        with self.api.serving():
            self.env['payment.plan.installment']._collect()
            first.action_check_payment_status()  # Adyen reports outcomes by webhook only.
        self.assertEqual(first.state, 'processing')
        self.assertEqual(len(self.api.requests_to('POST', PAYMENTS_URL)), 1)
        # Staff check Adyen's dashboard: not charged. Only an administrator may say so.
        with self.assertRaises(AccessError):
            first.with_user(self.plan_user).action_confirm_not_charged()
        first.with_user(self.plan_manager).action_confirm_not_charged()
        self.assertEqual(tx.state, 'error')
        self.assertEqual(tx.payment_plan_decline_kind, 'provider')
        self.assertEqual(first.state, 'pending', "charged again tomorrow, not denied")
        self.assertEqual(str(first.next_attempt_date), '2026-03-02')
        self.assertFalse(
            self.env['mail.mail'].search(
                [('model', '=', 'payment.plan.installment'), ('res_id', '=', first.id)]
            ),
            "the customer is not dunned for the provider's failure",
        )
