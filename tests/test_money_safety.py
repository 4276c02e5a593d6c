"""The attacks of the money-safety review, each against the path it used: a payer, a
salesperson without the group, a careless operator, a killed request, a provider that never
answers. Each test ends by checking that nothing was charged twice and nothing paid that was not.
"""

from unittest.mock import patch

import requests
from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_demo.models.payment_transaction import (
    PaymentTransaction as DemoTransaction,
)
from odoo.addons.payment_plan.tests.common import PaymentPlanCommon, WorkerKilled


@tagged('post_install', '-at_install')
class TestMoneySafety(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.payer = new_test_user(
            cls.env,
            login='safe_payer',
            password='safe_payer-password',
            groups='base.group_portal',
            name="Sam Safe",
        )
        cls.salesperson = new_test_user(
            cls.env,
            login='salesperson',
            groups='sales_team.group_sale_salesman',
            name="Sally Sales",
        )

    # === HELPERS === #

    def _denied_installment(self):
        """A payer's plan whose first installment was denied after its only attempt."""
        with freeze_time('2026-03-01'):
            plan = self._create_card_plan(
                partner=self.payer.partner_id,
                state='error',
                amount=90.0,
                date_start='2026-03-01',
                max_attempts=1,
            )
            plan.installment_ids._collect()
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self.assertEqual(len(denied), 1)
        return plan, denied

    def _pay_now_error(self, plan, **values):
        """Call the portal's "pay now" route and return the error it answers."""
        with mute_logger('odoo.http'):
            response = self.opener.post(
                f'{self.base_url()}/my/plans/{plan.id}/transaction',
                json={
                    'jsonrpc': '2.0',
                    'method': 'call',
                    'id': 0,
                    'params': self._pay_now_params(plan, **values),
                },
                timeout=30,
            )
        return response.json()['error']['data']['message']

    def _pay_now_params(self, plan, **values):
        return {
            'access_token': plan._portal_ensure_token(),
            'provider_id': self.provider.id,
            'payment_method_id': self.payment_method.id,
            'token_id': None,
            'amount': 0.0,
            'flow': 'direct',
            'tokenization_requested': False,
            'landing_route': plan.access_url,
            **values,
        }

    def _pay_now(self, plan, **values):
        return self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction', self._pay_now_params(plan, **values)
        )

    def _run_cron(self):
        """Run the collection cron as the server does: in a cursor of its own."""
        self.env.flush_all()
        with self.registry.cursor() as cr:
            self.env(cr=cr)['payment.plan.installment']._cron_collect_due()
        self.env.invalidate_all()

    def _run_killed_after_commit(self):
        """Run the work left after the request, which the worker's death interrupts (not
        `assertRaises`: its savepoint would roll back what the killed cursor committed)."""
        try:
            self._run_after_commit()
        except WorkerKilled:
            self.env.invalidate_all()
        else:
            self.fail("The worker was not killed.")

    def _count_provider_calls(self, kill_after_answer=False):
        """Count the charges that reach the (demo) provider; optionally kill the worker right
        after the provider answered, before anything is committed."""
        calls = []
        original = DemoTransaction._send_payment_request

        def send_payment_request(tx):
            calls.append(tx.reference)
            original(tx)
            if kill_after_answer:
                raise WorkerKilled()

        return calls, patch.object(DemoTransaction, '_send_payment_request', send_payment_request)

    # === 1. A VALIDATION NEVER PAYS === #

    def test_pay_now_refuses_a_card_validation(self):
        plan, denied = self._denied_installment()
        self.authenticate('safe_payer', 'safe_payer-password')
        self.assertIn("paid, not validated", self._pay_now_error(plan, is_validation=True))
        self.assertEqual(denied.state, 'denied')
        self.assertEqual(len(denied.transaction_ids), 1, "no transaction was created")

    def test_a_done_validation_linked_to_an_installment_pays_nothing(self):
        plan, denied = self._denied_installment()
        denied._ensure_invoices()
        validation = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': self.payer.partner_id.id,
                'amount': 0.0,
                'currency_id': plan.currency_id.id,
                'operation': 'validation',
                'reference': f'{denied.name}-validation',
                'installment_id': denied.id,
                'invoice_ids': [Command.set(denied.invoice_id.ids)],
            }
        )
        validation._set_done()
        validation._post_process()
        self.assertEqual(denied.state, 'denied')
        self.assertEqual(denied.invoice_id.amount_residual, 90.0)

    def test_pay_now_charges_what_is_open_whatever_amount_is_sent(self):
        plan, _denied = self._denied_installment()
        self.authenticate('safe_payer', 'safe_payer-password')
        values = self._pay_now(plan, amount=0.01)
        tx = self.env['payment.transaction'].search([('reference', '=', values['reference'])])
        self.assertEqual((tx.amount, tx.operation), (30.0, 'online_direct'))

    # === 2. AN ORDER'S FIRST PAYMENT MUST COVER IT === #

    def test_a_tampered_small_payment_does_not_close_the_order(self):
        order = self._create_installments_order(mode='token', price=300.0)
        order.action_payment_plan_request()
        self.authenticate(None, None)
        processing_values = self.make_jsonrpc_request(
            f'/my/orders/{order.id}/transaction',
            {
                'access_token': order.access_token,
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': 0.01,
                'flow': 'direct',
                'tokenization_requested': False,
                'landing_route': order.get_portal_url(),
            },
        )
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {
                'reference': processing_values['reference'],
                'payment_details': '4242',
                'simulated_state': 'done',
            },
        )
        self.make_jsonrpc_request('/payment/status/poll', {})
        tx = self.env['payment.transaction'].search(
            [('reference', '=', processing_values['reference'])]
        )
        self.assertEqual((tx.state, tx.amount), ('done', 0.01))
        self.assertEqual(order.state, 'sent', "the order is not confirmed")
        self.assertFalse(order.locked)
        self.assertFalse(order.payment_plan_paid_date)
        self.assertEqual(order.payment_plan_status, 'pending')
        self.assertIn("does not cover", order.payment_plan_error)
        self.assertNotIn('paid', order.payment_plan_id.installment_ids.mapped('state'))

    # === 3. ONLY THE GROUP CHARGES A CARD ON FILE === #

    @freeze_time('2026-03-01')
    def test_a_salesperson_without_the_group_cannot_charge_a_saved_card(self):
        self._create_card()
        order = self._create_installments_order(
            mode='token', price=999.0, user_id=self.salesperson.id
        )
        order_as_sales = order.with_user(self.salesperson)
        order_as_sales.action_payment_plan_request()
        self._run_after_commit()
        plan = order.payment_plan_id
        self.assertFalse(plan.token_id, "the plan waits for the card the customer saves")
        self.assertFalse(
            self.env['payment.transaction'].search([('partner_id', '=', self.customer.id)]),
            "the card was not charged",
        )
        self.assertEqual(order.payment_plan_status, 'pending')
        self.assertTrue(order.payment_plan_link, "the customer pays by link instead")
        # Nor can they reach the buttons that charge.
        with self.assertRaises(AccessError):
            self.env['payment.plan.installment'].with_user(self.salesperson)._check_charge_rights()
        with self.assertRaises(AccessError):
            self.env['payment.plan.pay.behalf'].with_user(self.salesperson).create(
                {'partner_id': self.customer.id}
            )

    @freeze_time('2026-03-01')
    def test_a_card_without_consent_is_never_charged(self):
        card = self._create_card(consent=False)
        plan = self._create_plan(collection_mode='token', token_id=card.id)
        with self.assertRaisesRegex(UserError, "consent"):
            plan.action_activate()
        # A consent revoked after the plan started: the next charge is refused, nothing is sent.
        consent = self.env['payment.plan.consent']._record(self.customer, 'paper', token=card)
        plan.action_activate()
        consent.action_revoke()
        plan.installment_ids._collect()
        first = plan.installment_ids.sorted('sequence')[0]
        self.assertFalse(first.transaction_ids)
        self.assertEqual(first.state, 'denied')
        self.assertIn("consent", first.last_error)

    def test_a_consent_is_evidence_never_edited(self):
        consent = self.env['payment.plan.consent']._record(self.customer, 'paper')
        with self.assertRaises(UserError):
            consent.channel = 'link'
        with self.assertRaises(UserError):
            consent.unlink()
        consent.with_user(self.plan_manager).action_revoke()
        self.assertTrue(consent.revoked_date)
        self.assertFalse(self.customer.card_consent_date)
        with self.assertRaises(AccessError):
            self.env['payment.plan.consent'].with_user(self.plan_user).create(
                {'partner_id': self.customer.id, 'channel': 'paper'}
            )

    # === 4. INVOICES ARE THE LEDGER === #

    @freeze_time('2026-03-01')
    def test_an_invoice_paid_by_a_mass_charge_settles_the_installments_without_a_charge(self):
        plan = self._create_card_plan(
            amount=1200.0, installment_count=6, date_start='2026-03-01', interval_unit='day'
        )
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        invoice = first.invoice_id
        self.assertEqual((first.state, invoice.amount_residual), ('paid', 1000.0))
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'company_id': self.company.id,
                'charge_mode': 'open',
                'settle_plans': True,  # The user chose to settle the plan early.
                'line_ids': [
                    Command.create(
                        {
                            'partner_id': self.customer.id,
                            'currency_id': self.currency.id,
                            'invoice_ids': [Command.set(invoice.ids)],
                            'amount': 1000.0,
                        }
                    )
                ],
            }
        )
        batch.line_ids._collect()
        self.assertEqual(batch.line_ids.state, 'done')
        self.assertEqual(invoice.amount_residual, 0.0)
        # The ledger paid every installment: neither Retry Now nor the cron charges again.
        self.assertEqual(set(plan.installment_ids.mapped('state')), {'paid'})
        with freeze_time('2026-03-10'):
            self.env['payment.plan.installment']._collect()
        charged = self.env['payment.transaction'].search(
            [('partner_id', '=', self.customer.id), ('state', '=', 'done')]
        )
        self.assertEqual(sum(charged.mapped('amount')), 1200.0, "1,200 collected, not 1,600")
        self.assertEqual(plan.state, 'done')

    @freeze_time('2026-03-01')
    def test_a_partial_payment_of_the_invoice_is_not_charged_again(self):
        plan = self._create_card_plan(
            plan_type='subscription', amount=50.0, installment_count=1, date_start='2026-03-01'
        )
        installment = plan.installment_ids
        installment._ensure_invoices()
        self.env['account.payment.register'].with_context(
            active_model='account.move', active_ids=installment.invoice_id.ids
        ).create({'amount': 20.0})._create_payments()
        installment._collect()
        self.assertEqual(installment.transaction_ids.amount, 30.0, "only what is open is charged")
        self.assertEqual(installment.state, 'paid')
        self.assertEqual(installment.invoice_id.amount_residual, 0.0)

    # === 5. CLAIM, COMMIT, THEN CHARGE: A KILLED REQUEST NEVER CHARGES TWICE === #

    def test_a_mass_charge_killed_after_the_provider_answered_is_not_charged_again(self):
        payer = self.env['res.partner'].create({'name': "Kim Killed"})
        self._create_card(partner=payer, details='6666')
        invoice = self.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': payer.id,
                'invoice_line_ids': [Command.create({'name': "Fee", 'price_unit': 40.0})],
            }
        )
        invoice.action_post()
        wizard = (
            self.env['payment.plan.mass.charge']
            .with_user(self.plan_manager)
            .create({'partner_ids': [Command.set(payer.ids)]})
        )
        action = wizard.action_charge()
        batch = self.env['payment.plan.charge.batch'].browse(action['res_id'])
        self.assertFalse(batch.line_ids.transaction_ids, "nothing is charged inside the request")
        calls, killing = self._count_provider_calls(kill_after_answer=True)
        with killing:
            self._run_killed_after_commit()
        self.env.invalidate_all()
        self.assertEqual(len(calls), 1, "the provider charged the card once")
        line = batch.line_ids
        self.assertEqual(line.state, 'processing', "the claim was committed before the charge")
        self.assertEqual(line.transaction_id.state, 'draft')
        # The operator runs it again, the cron runs: the claimed attempt is never sent again.
        calls, counting = self._count_provider_calls()
        with counting:
            with self.assertRaises(UserError):
                batch.action_rerun_failed()
            self._run_cron()
        # The cron may charge other due installments of the database: none of this batch's.
        self.assertFalse(
            [ref for ref in calls if ref.startswith(line.name)],
            "nothing was charged a second time",
        )
        self.assertEqual(len(line.transaction_ids), 1)

    @freeze_time('2026-03-01')
    def test_retry_now_killed_after_the_provider_answered_is_not_charged_again(self):
        plan = self._create_card_plan(state='error', max_attempts=1, date_start='2026-03-01')
        installment = plan.installment_ids.sorted('sequence')[0]
        installment._collect()
        plan.token_id.demo_simulated_state = 'done'
        installment.with_user(self.plan_user).action_retry_now()
        calls, killing = self._count_provider_calls(kill_after_answer=True)
        with killing:
            self._run_killed_after_commit()
        self.env.invalidate_all()
        self.assertEqual((len(calls), installment.state), (1, 'processing'))
        calls, counting = self._count_provider_calls()
        with counting:
            with self.assertRaisesRegex(UserError, "already under way"):
                installment.with_user(self.plan_user).action_retry_now()
            self._run_cron()
        self.assertFalse(calls)
        self.assertEqual(len(installment.transaction_ids), 2, "the denied attempt and the claim")

    # === 6. ONE CHARGE AT A TIME PER INSTALLMENT === #

    def test_pay_now_in_two_tabs_or_with_retry_now_makes_one_payment(self):
        plan, denied = self._denied_installment()
        plan.token_id.demo_simulated_state = 'done'
        self.authenticate('safe_payer', 'safe_payer-password')
        self._pay_now(plan)
        self.assertIn("already under way", self._pay_now_error(plan))  # the second tab
        self.env.invalidate_all()
        with self.assertRaisesRegex(UserError, "already under way"):
            denied.with_user(self.plan_user).action_retry_now()
        self._run_after_commit()
        self.assertEqual(len(denied.transaction_ids), 2, "the denied attempt and one payment")

    # === 7. UNKNOWN IS NOT REFUSED === #

    def _provider_fails(self, status=None):
        """Make the demo provider's charge fail as a real provider's HTTP call does: no answer
        (a timeout), or an answer with `status`."""

        def send_payment_request(tx):
            if status:
                response = requests.Response()
                response.status_code = status
                response._content = b'{}'
                tx.provider_id._log_response(response, reference=tx.reference)
            raise ValidationError(tx.env._("The payment provider rejected the request."))

        return patch.object(DemoTransaction, '_send_payment_request', send_payment_request)

    @freeze_time('2026-03-01')
    def test_a_timeout_or_a_provider_error_leaves_the_attempt_pending_never_sent_again(self):
        plan = self._create_card_plan(
            plan_type='subscription',
            amount=30.0,
            installment_count=2,
            allow_card_fallback=True,
            max_attempts=3,
            date_start='2026-03-01',
        )
        self._create_card(details='7777')  # another card the fallback could try
        first, second = plan.installment_ids.sorted('sequence')[:2]
        with self._provider_fails(None):  # no answer: a timeout, a connection error
            first._collect()
        with freeze_time(second.due_date), self._provider_fails(503):
            second._collect()
        for installment in first | second:
            tx = installment.transaction_ids
            self.assertEqual(len(tx), 1, "no retry under a new reference, no fallback card")
            self.assertEqual(tx.state, 'pending')
            self.assertTrue(tx.payment_plan_outcome_unknown)
            self.assertEqual(installment.state, 'processing')
            self.assertIn("outcome is unknown", installment.last_error)
        with freeze_time('2026-06-01'):
            self._run_cron()
        self.assertEqual(len((first | second).transaction_ids), 2, "never sent again")

    @freeze_time('2026-03-01')
    def test_a_refusal_the_provider_answered_is_a_refusal(self):
        plan = self._create_card_plan(max_attempts=3, date_start='2026-03-01')
        installment = plan.installment_ids.sorted('sequence')[0]
        with self._provider_fails(402):
            installment._collect()
        self.assertEqual(installment.transaction_ids.state, 'error')
        self.assertEqual(installment.state, 'pending', "retried later per the policy")
        self.assertTrue(installment.next_attempt_date)

    # === CONSENT AT CHECKOUT === #

    def test_a_card_saved_at_checkout_comes_with_the_customers_consent(self):
        order = self._create_installments_order(mode='token', price=300.0)
        order.action_payment_plan_request()
        self.authenticate(None, None)
        processing_values = self.make_jsonrpc_request(
            f'/my/orders/{order.id}/transaction',
            {
                'access_token': order.access_token,
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': 100.0,
                'flow': 'direct',
                'tokenization_requested': True,
                'landing_route': order.get_portal_url(),
            },
        )
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {
                'reference': processing_values['reference'],
                'payment_details': '4242',
                'simulated_state': 'done',
            },
        )
        self.make_jsonrpc_request('/payment/status/poll', {})
        plan = order.payment_plan_id
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertTrue(plan.token_id, "the card saved at checkout pays the plan")
        consent = self.env['payment.plan.consent'].search([('token_id', '=', plan.token_id.id)])
        self.assertEqual(consent.channel, 'checkout')
        self.assertIsNone(
            plan.token_id._payment_plan_get_charge_refusal(
                plan.partner_id, plan.company_id, plan.currency_id
            ),
            "the following installments may be charged to it",
        )

    # === DIRECT WRITES BY STAFF === #

    def test_staff_cannot_point_an_installment_or_a_batch_line_at_anothers_invoice(self):
        plan = self._create_card_plan(date_start='2026-03-01')
        installment = plan.installment_ids.sorted('sequence')[0]
        theirs = self.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': self.other_customer.id,
                'invoice_line_ids': [Command.create({'name': "Theirs", 'price_unit': 70.0})],
            }
        )
        theirs.action_post()
        with self.assertRaisesRegex(UserError, "not by editing them"):
            installment.with_user(self.plan_user).invoice_id = theirs
        with self.assertRaisesRegex(UserError, "not by editing them"):
            installment.with_user(self.plan_user).state = 'paid'
        with self.assertRaisesRegex(ValidationError, "only be paid on an invoice of"):
            installment._write_internal({'invoice_id': theirs.id})
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'company_id': self.company.id,
                'charge_mode': 'open',
                'line_ids': [
                    Command.create(
                        {
                            'partner_id': self.customer.id,
                            'currency_id': self.currency.id,
                            'invoice_ids': [Command.set(theirs.ids)],
                            'amount': 70.0,
                        }
                    )
                ],
            }
        )
        batch.line_ids._collect()
        self.assertEqual(batch.line_ids.state, 'skipped')
        self.assertFalse(batch.line_ids.transaction_ids, "the customer's card paid nobody else's")
        self.assertEqual(theirs.amount_residual, 70.0)
