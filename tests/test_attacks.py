"""Attacks of the hostile review of the money-safety redesign (issue 13), as a payer, a
salesperson without the group, a careless operator, a killed request and tampered ids.

Each test asserts the correct behaviour: it FAILS while the hole it shows is open.
"""

import contextlib
import logging
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import SQL, mute_logger

from odoo.addons.payment_demo.models.payment_transaction import (
    PaymentTransaction as DemoTransaction,
)
from odoo.addons.payment_plan.tests.common import PaymentPlanCommon, WorkerKilled

REFUSED = (AccessError, UserError, ValidationError)


_logger = logging.getLogger(__name__)


@tagged('post_install', '-at_install')
class TestAttacks(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.payer = new_test_user(
            cls.env,
            login='attack_payer',
            password='attack_payer-password',
            groups='base.group_portal',
            name="Ada Attacker",
        )
        cls.salesperson = new_test_user(
            cls.env,
            login='attack_sales',
            password='attack_sales-password',
            groups='sales_team.group_sale_salesman',
            name="Sid Sales",
        )

    # === HELPERS (as in test_money_safety) === #

    def _run_killed_after_commit(self):
        try:
            self._run_after_commit()
        except WorkerKilled:
            self.env.invalidate_all()
        else:
            self.fail("The worker was not killed.")

    def _count_provider_calls(self, kill_after_answer=False):
        calls = []
        original = DemoTransaction._send_payment_request

        def send_payment_request(tx):
            calls.append(tx.reference)
            original(tx)
            if kill_after_answer:
                raise WorkerKilled()

        return calls, patch.object(DemoTransaction, '_send_payment_request', send_payment_request)

    def _provider_times_out(self, calls):
        """The provider takes the charge but its answer never comes back (a timeout)."""

        def send_payment_request(tx):
            calls.append(tx.reference)
            raise ValidationError(tx.env._("Could not establish the connection to the API."))

        return patch.object(DemoTransaction, '_send_payment_request', send_payment_request)

    def _age_transactions(self, transactions, hours=2):
        """Make the transactions as old as a claim interrupted `hours` ago."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE payment_transaction SET create_date = %s WHERE id = ANY(%s)",
                fields.Datetime.now() - timedelta(hours=hours),
                transactions.ids,
            )
        )
        self.env.invalidate_all()

    def _invoice(self, partner, amount):
        invoice = self.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': partner.id,
                'invoice_line_ids': [Command.create({'name': "Fee", 'price_unit': amount})],
            }
        )
        invoice.action_post()
        return invoice

    def _collected(self, partner):
        """What the provider confirmed or may have taken from `partner`'s cards (done charges,
        and charges whose outcome is unknown: sent, never answered)."""
        return self.env['payment.transaction'].search(
            [
                ('partner_id', '=', partner.id),
                ('operation', '!=', 'validation'),
                ('state', 'not in', ('error', 'cancel')),
            ]
        )

    def _denied_installment(self, partner, plan_partner=None, **values):
        with freeze_time('2026-03-01'):
            plan = self._create_card_plan(
                partner=plan_partner or partner,
                state='error',
                amount=90.0,
                date_start='2026-03-01',
                max_attempts=1,
                **values,
            )
            plan.installment_ids._collect()
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self.assertEqual(len(denied), 1)
        return plan, denied

    def _pay_now_and_confirm(self, plan, confirm=True):
        values = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            {
                'access_token': plan._portal_ensure_token(),
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': 0.0,
                'flow': 'direct',
                'tokenization_requested': True,
                'landing_route': plan.access_url,
            },
        )
        if confirm:
            self._simulate_done(values['reference'])
        return values['reference']

    def _simulate_done(self, reference):
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {'reference': reference, 'payment_details': '5555', 'simulated_state': 'done'},
        )
        # A failed post-processing answers an error: the states tell what happened.
        with (
            mute_logger('odoo.addons.payment.controllers.post_processing', 'odoo.http'),
            contextlib.suppress(JsonRpcException),
        ):
            self.make_jsonrpc_request('/payment/status/poll', {})
        self.env.invalidate_all()

    def _rpc(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            '/web/dataset/call_kw',
            {'model': model, 'method': method, 'args': args, 'kwargs': kwargs or {}},
        )

    # === STATE HAS ONE OWNER: NOT A CONTEXT KEY AWAY === #

    def test_rpc_user_marks_an_installment_paid_with_the_state_context_key(self):
        """A Payment Plans user, over RPC, passes the context key the `_set_*` methods use and
        writes `state = 'paid'`: the installment is paid with no payment at all."""
        plan = self._create_card_plan(
            date_start=self.env['payment.plan.installment']._get_collection_today()
        )
        installment = plan.installment_ids.sorted('sequence')[0]
        self.authenticate('plan_user', 'plan_user')
        # A refusal is the expected outcome.
        with mute_logger('odoo.http'), contextlib.suppress(Exception):
            self._rpc(
                'payment.plan.installment',
                'write',
                [installment.ids, {'state': 'paid'}],
                {'context': {'payment_plan_installment_state': True}},
            )
        self.env.invalidate_all()
        self.assertNotEqual(
            installment.state, 'paid', "paid without a transaction nor a registered payment"
        )
        self.assertFalse(installment.transaction_ids)
        self.assertFalse(installment.payment_ids)

    def test_rpc_manager_marks_a_batch_line_done_with_the_state_context_key(self):
        payer = self.env['res.partner'].create({'name': "Liam Line"})
        self._create_card(partner=payer, details='3131')
        invoice = self._invoice(payer, 40.0)
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'company_id': self.company.id,
                'charge_mode': 'open',
                'line_ids': [
                    Command.create(
                        {
                            'partner_id': payer.id,
                            'currency_id': self.currency.id,
                            'invoice_ids': [Command.set(invoice.ids)],
                            'amount': 40.0,
                        }
                    )
                ],
            }
        )
        line = batch.line_ids
        with contextlib.suppress(REFUSED):
            line.with_user(self.plan_manager).with_context(payment_plan_line_state=True).write(
                {'state': 'done'}
            )
        self.assertNotEqual(line.state, 'done', "a line marked charged, nothing was charged")

    # === READ-ONLY ONLY IN THE FORM: TAMPERED IDS OVER RPC === #

    def test_rpc_user_points_an_installment_at_a_paid_invoice_and_it_is_settled_unpaid(self):
        """A Payment Plans user writes the (form-read-only) `invoice_id` of a due installment to
        an invoice that is already paid (here another customer's): the next collection finds
        nothing open and marks the installment paid; its customer never paid it."""
        plan = self._create_card_plan(
            plan_type='subscription',
            amount=50.0,
            installment_count=1,
            date_start=self.env['payment.plan.installment']._get_collection_today(),
        )
        installment = plan.installment_ids
        paid_invoice = self._invoice(self.other_customer, 50.0)
        self.env['account.payment.register'].with_context(
            active_model='account.move', active_ids=paid_invoice.ids
        ).create({})._create_payments()
        self.assertEqual(paid_invoice.payment_state, 'paid')
        self.authenticate('plan_user', 'plan_user')
        # A refusal is the expected outcome.
        with mute_logger('odoo.http'), contextlib.suppress(Exception):
            self._rpc(
                'payment.plan.installment',
                'write',
                [installment.ids, {'invoice_id': paid_invoice.id}],
            )
        self.env.invalidate_all()
        self.assertNotEqual(installment.invoice_id, paid_invoice, "the write was refused")
        installment._collect()
        # Paid, if at all, by a charge of its own customer's card on its own invoice.
        if installment.state == 'paid':
            self.assertEqual(installment.transaction_ids.state, 'done')
            self.assertEqual(
                installment.invoice_id.commercial_partner_id, self.customer.commercial_partner_id
            )

    def test_pay_on_behalf_with_another_customers_invoice_charges_the_wrong_card(self):
        """Tampered ids: the Pay on Behalf wizard is posted with customer A and customer B's
        invoice (the field's domain is client-side only): A's card pays B's invoice."""
        card = self._create_card(details='1010')
        victim_invoice = self._invoice(self.other_customer, 40.0)
        wizard = (
            self.env['payment.plan.pay.behalf']
            .with_user(self.plan_manager)
            .create(
                {
                    'partner_id': self.customer.id,
                    'invoice_ids': [Command.set(victim_invoice.ids)],
                }
            )
        )
        calls, counting = self._count_provider_calls()
        with counting:
            with contextlib.suppress(REFUSED):
                wizard.action_confirm()
            self._run_after_commit()
        charged = self.env['payment.transaction'].search([('token_id', '=', card.id)])
        self.assertFalse(
            calls or charged.filtered(lambda tx: victim_invoice in tx.invoice_ids),
            "customer A's card was charged for customer B's invoice",
        )

    # === A SALESPERSON WITHOUT THE GROUP === #

    def test_salesperson_links_someone_elses_plan_to_a_quotation_and_cancels_it(self):
        """A salesperson (Sales only, refused read access to plans) writes `payment_plan_id` of
        their own quotation (read-only in the form) to another customer's running plan, then
        presses Cancel Payment Attempt, which acts as superuser: that plan is cancelled."""
        victim_plan = self._create_card_plan(
            partner=self.other_customer,
            plan_type='subscription',
            amount=30.0,
            installment_count=6,
            date_start=self.env['payment.plan.installment']._get_collection_today()
            + timedelta(days=10),
        )
        self.assertEqual(victim_plan.state, 'active')
        order = self._create_order(user_id=self.salesperson.id)
        self.authenticate('attack_sales', 'attack_sales-password')
        with mute_logger('odoo.http'):
            for method, args in (
                ('write', [order.ids, {'payment_plan_id': victim_plan.id}]),
                ('action_payment_plan_cancel_attempt', [order.ids]),
            ):
                try:
                    self._rpc('sale.order', method, args)
                except Exception:  # a refusal is the expected outcome
                    break
        self.env.invalidate_all()
        self.assertEqual(victim_plan.state, 'active', "another customer's plan was cancelled")
        self.assertNotIn('cancelled', victim_plan.installment_ids.mapped('state'))

    # === UNKNOWN IS NOT REFUSED: NOT EVEN BY "CANCEL PAYMENT ATTEMPT" === #

    def test_cancel_attempt_on_an_unknown_first_charge_then_confirm_again_charges_twice(self):
        """An order paid by plan, confirmed with the card on file: the provider takes the first
        charge but its answer never comes back (pending, outcome unknown). The operator presses
        Cancel Payment Attempt (the order is pending) and confirms again: a new plan, a new
        reference, and the card is charged a second time for the same order."""
        self._create_card(details='2020')
        order = self._create_installments_order(mode='token', price=300.0)
        order.action_payment_plan_request()
        calls = []
        with (
            self._provider_times_out(calls),
            mute_logger('odoo.addons.payment_plan.models.payment_transaction'),
        ):
            self._run_after_commit()
        first_tx = order.transaction_ids
        self.assertEqual(len(calls), 1)
        self.assertEqual(first_tx.state, 'pending')
        self.assertTrue(first_tx.payment_plan_outcome_unknown)
        self.assertEqual(order.payment_plan_status, 'pending')
        try:
            order.action_payment_plan_cancel_attempt()
            order.action_payment_plan_request()
        except REFUSED as error:
            _logger.info("Refused, as it should be: %s", error)
        calls, counting = self._count_provider_calls()
        with counting:
            self._run_after_commit()
        self.assertFalse(
            calls, "a second charge for the order while the first one's outcome is unknown"
        )
        self.assertEqual(first_tx.state, 'pending', "the unknown charge is still looked up")

    # === AN INTERRUPTED CLAIM IS NOT "UNDER WAY" FOR OTHER PATHS ONCE 30 MINUTES OLD === #

    def _interrupted_subscription_charge(self):
        """A subscription period charged by Retry Now; the worker dies right after the provider
        took the money: the claim (a draft transaction) is committed, the outcome is not."""
        plan = self._create_card_plan(
            plan_type='subscription',
            amount=50.0,
            installment_count=1,
            date_start=self.env['payment.plan.installment']._get_collection_today(),
        )
        installment = plan.installment_ids
        installment.with_user(self.plan_user).action_retry_now()
        calls, killing = self._count_provider_calls(kill_after_answer=True)
        with killing:
            self._run_killed_after_commit()
        self.assertEqual(len(calls), 1, "the provider took the money")
        self.assertEqual(installment.state, 'processing')
        self.assertEqual(installment.transaction_ids.state, 'draft')
        self.assertEqual(installment.invoice_id.payment_state, 'not_paid')
        # Two hours later (the cron flags it "interrupted" after one).
        self._age_transactions(installment.transaction_ids)
        return installment

    def test_mass_charge_after_an_interrupted_installment_charge_charges_its_invoice_again(self):
        installment = self._interrupted_subscription_charge()
        wizard = (
            self.env['payment.plan.mass.charge']
            .with_user(self.plan_manager)
            .create({'partner_ids': [Command.set(self.customer.ids)]})
        )
        calls, counting = self._count_provider_calls()
        with counting:
            with contextlib.suppress(REFUSED):
                wizard.action_charge()
            self._run_after_commit()
        self.assertFalse(
            calls,
            f"invoice {installment.invoice_id.name} (50.00) charged again while its interrupted "
            "charge may have been taken: up to 100.00 collected",
        )

    def test_pay_on_behalf_after_an_interrupted_installment_charge_charges_again(self):
        installment = self._interrupted_subscription_charge()
        calls, counting = self._count_provider_calls()
        with counting:
            try:
                wizard = (
                    self.env['payment.plan.pay.behalf']
                    .with_user(self.plan_manager)
                    .create(
                        {
                            'partner_id': self.customer.id,
                            'invoice_ids': [Command.set(installment.invoice_id.ids)],
                        }
                    )
                )
                wizard.action_confirm()
            except REFUSED as error:
                _logger.info("Refused, as it should be: %s", error)
            self._run_after_commit()
        self.assertFalse(calls, "the invoice of an interrupted charge was charged again")

    # === ONE PAYMENT AT A TIME: REGISTER PAYMENT DOES NOT LOOK === #

    def test_register_payment_while_the_payer_pays_online_collects_twice(self):
        """The payer starts paying the denied installment online (pay now); staff, a minute
        later, register the same installment as paid in cash. The online payment completes:
        the 90.00 subscription period (its own 90.00 invoice) is paid twice."""
        plan, denied = self._denied_installment(
            self.payer.partner_id, plan_type='subscription', installment_count=1
        )
        self.authenticate('attack_payer', 'attack_payer-password')
        reference = self._pay_now_and_confirm(plan, confirm=False)
        bank = self.env['account.journal'].search(
            [
                *self.env['account.journal']._check_company_domain(self.company),
                ('type', '=', 'bank'),
            ],
            limit=1,
        )
        try:
            wizard = (
                self.env['payment.plan.register.payment']
                .with_user(self.plan_manager)
                .create(
                    {
                        'installment_id': denied.id,
                        'amount': denied._get_open_amounts()[denied.id],
                        'journal_id': bank.id,
                    }
                )
            )
            wizard.action_register()
        except REFUSED as error:
            _logger.info("Refused, as it should be: %s", error)
        self._simulate_done(reference)
        received = sum(denied.payment_ids.mapped('amount')) + sum(
            denied.transaction_ids.filtered(
                lambda tx: tx.state == 'done' and tx.operation != 'validation'
            ).mapped('amount')
        )
        self.assertLessEqual(
            received,
            denied.invoice_id.amount_total,
            f"{received} received for a {denied.invoice_id.amount_total} invoice",
        )

    # === B2B: A CONTACT PAYS THEIR COMPANY'S OVERDUE INSTALLMENT === #

    def test_a_contact_paying_the_companys_overdue_installment_leaves_it_denied(self):
        """The plan is the company's; its employee (a portal user of a contact of the company)
        pays the overdue installment with "pay now". The card is saved on the contact, the plan
        is moved to it, `_check_token` refuses a contact's card: the whole post-processing rolls
        back, the money is taken and the installment stays denied (Retry Now is offered)."""
        company_customer = self.env['res.partner'].create(
            {'name': "Acme Clinic", 'is_company': True}
        )
        self.payer.partner_id.parent_id = company_customer
        plan, denied = self._denied_installment(
            self.payer.partner_id, plan_partner=company_customer
        )
        self.authenticate('attack_payer', 'attack_payer-password')
        reference = self._pay_now_and_confirm(plan)
        tx = self.env['payment.transaction'].search([('reference', '=', reference)])
        self.assertEqual(tx.state, 'done', "the money was taken")
        self.assertEqual(denied.state, 'paid', "a done payment covering it pays it")

    # === PAY NOW DOES NOT SEE A MASS CHARGE OF THE SAME INVOICE === #

    def test_pay_now_while_a_mass_charge_pays_the_same_invoice_collects_more_than_invoiced(self):
        """A manager's mass charge claims the payer's open invoice (90.00) and charges it; the
        provider took it, its answer is still awaited. The payer presses "pay now" on the
        denied installment of that invoice: the portal route checks only the installment's own
        transactions, not the invoice's charge under way, and takes 30.00 more."""
        plan, denied = self._denied_installment(self.payer.partner_id)
        plan.token_id.demo_simulated_state = 'done'
        invoice = denied.invoice_id
        self.assertEqual(invoice.amount_residual, 90.0)
        wizard = (
            self.env['payment.plan.mass.charge']
            .with_user(self.plan_manager)
            .create({'invoice_ids': [Command.set(invoice.ids)], 'settle_plans': True})
        )
        wizard.action_charge()
        calls, killing = self._count_provider_calls(kill_after_answer=True)
        with killing:
            self._run_killed_after_commit()
        self.assertEqual(len(calls), 1, "the mass charge took 90.00")
        self.assertEqual(invoice.payment_plan_charge_line_id.state, 'processing')
        self.authenticate('attack_payer', 'attack_payer-password')
        # "A payment is already under way" is the expected answer.
        with mute_logger('odoo.http'), contextlib.suppress(Exception):
            self._pay_now_and_confirm(plan)
        self.env.invalidate_all()
        paid_online = denied.transaction_ids.filtered(
            lambda tx: tx.operation.startswith('online') and tx.state == 'done'
        )
        self.assertFalse(
            paid_online,
            f"{sum(paid_online.mapped('amount'))} paid online on top of the 90.00 mass charge of "
            "a 90.00 invoice",
        )

    # === A CONSENT GIVEN TO ONE COMPANY === #

    def test_a_consent_recorded_in_one_company_lets_another_company_charge(self):
        """The customer signed a consent form for company A (no particular card). Company B,
        another merchant of the database, charges the customer's card it holds: the consent
        look-up ignores the company the consent was given to."""
        company_b = self._create_company("Merchant B")
        self.env['payment.plan.consent']._record(self.customer, 'paper')  # given to company A
        provider_b = self.provider.copy({'company_id': company_b.id, 'state': 'test'})
        card_b = self._create_card(provider=provider_b, details='4848', consent=False)
        self.assertEqual(card_b.company_id, company_b)
        refusal = card_b._payment_plan_get_charge_refusal(
            self.customer, company_b, company_b.currency_id
        )
        self.assertTrue(refusal, "company B may charge the card without any consent given to it")

    # === AN ORDER WHOSE FIRST CHARGE IS UNKNOWN STILL ASKS THE CUSTOMER TO PAY === #

    def test_order_link_paid_while_the_card_on_file_charge_is_unknown_collects_twice(self):
        """Confirmation charged the card on file; the provider's answer never came back (the
        charge is pending, outcome unknown). The order shows "Payment pending" with its link;
        the operator presses Re-send Payment Link and the customer pays the first installment
        again through Odoo's order page."""
        self._create_card(details='3030')
        order = self._create_installments_order(mode='token', price=300.0)
        order.action_payment_plan_request()
        calls = []
        with (
            self._provider_times_out(calls),
            mute_logger('odoo.addons.payment_plan.models.payment_transaction'),
        ):
            self._run_after_commit()
        unknown_tx = order.transaction_ids
        self.assertTrue(unknown_tx.payment_plan_outcome_unknown)
        with contextlib.suppress(REFUSED):
            order.action_payment_plan_send_link()
        self.authenticate(None, None)
        # A refusal is the expected outcome.
        with mute_logger('odoo.http'), contextlib.suppress(Exception):
            values = self.make_jsonrpc_request(
                f'/my/orders/{order.id}/transaction',
                {
                    'access_token': order.access_token,
                    'provider_id': self.provider.id,
                    'payment_method_id': self.payment_method.id,
                    'token_id': None,
                    'amount': 100.0,
                    'flow': 'direct',
                    'tokenization_requested': False,
                    'landing_route': order.get_portal_url(),
                },
            )
            self._simulate_done(values['reference'])
        self.env.invalidate_all()
        paid_by_link = order.transaction_ids.filtered(
            lambda tx: tx.state == 'done' and tx != unknown_tx
        )
        self.assertFalse(
            paid_by_link,
            "the first installment paid by link while its card charge (100.00) may have been taken",
        )
