"""Invoices are the ledger, on every path: money received online but not yet recorded counts as
paid (nothing charges it again), and invoices that a running plan collects are left to the plan
unless the user chooses to settle the plan early."""

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestLedger(PaymentPlanCommon):
    def _card_plan(self, **values):
        card = self._create_card()
        plan = self._create_plan(collection_mode='token', token_id=card.id, **values)
        plan.action_activate()
        return plan

    def _invoice(self, amount, partner=None):
        invoice = self.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': (partner or self.customer).id,
                'invoice_line_ids': [
                    Command.create({'name': "Registration fee", 'price_unit': amount})
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _paid_online(self, invoice, amount):
        """The customer paid `amount` of the invoice online (payment link, Odoo's invoice page):
        the transaction is done, its post-processing (the payment) not run yet."""
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': invoice.partner_id.id,
                'amount': amount,
                'currency_id': invoice.currency_id.id,
                'reference': f'ONLINE-{invoice.id}-{amount}',
                'operation': 'online_direct',
                'invoice_ids': [Command.set(invoice.ids)],
            }
        )
        tx._set_done()
        self.assertFalse(tx.payment_id)
        return tx

    def _charged(self, partner=None):
        return self.env['payment.transaction'].search(
            [
                ('partner_id', '=', (partner or self.customer).id),
                ('state', '=', 'done'),
                ('operation', '=', 'offline'),
            ]
        )

    def _mass_charge(self, **values):
        return (
            self.env['payment.plan.mass.charge']
            .with_context(active_model='res.partner', active_ids=self.customer.ids)
            .create(values)
        )

    # === MONEY RECEIVED BUT NOT YET RECORDED === #

    def test_an_invoice_paid_online_is_not_charged_again_by_a_mass_charge(self):
        self._create_card()
        invoice = self._invoice(100.0)
        self._paid_online(invoice, 100.0)
        self.assertEqual(invoice._payment_plan_get_open_amounts(), {invoice.id: 0.0})
        wizard = self._mass_charge()
        self.assertEqual((wizard.charge_count, wizard.amount_total), (0, 0.0))
        self.assertIn("Already paid", wizard.summary)
        with self.assertRaises(UserError):
            self.env['payment.plan.pay.behalf'].create(
                {'partner_id': self.customer.id, 'invoice_ids': [Command.set(invoice.ids)]}
            ).action_confirm()
        self.assertFalse(self._charged(), "200 collected on a 100 invoice")

    def test_a_partial_online_payment_leaves_only_the_rest_to_charge(self):
        self._create_card()
        invoice = self._invoice(100.0)
        self._paid_online(invoice, 60.0)
        wizard = self._mass_charge()
        self.assertEqual((wizard.charge_count, wizard.amount_total), (1, 40.0))
        link_wizard = self.env['payment.plan.payment.link.wizard'].create(
            {'partner_id': self.customer.id, 'invoice_id': invoice.id}
        )
        self.assertEqual(link_wizard.amount, 40.0, "a payment link asks only what is open")

    @freeze_time('2026-03-01')
    def test_the_next_installment_paid_online_is_not_charged_by_the_cron(self):
        plan = self._card_plan(amount=200.0, installment_count=2, date_start='2026-03-01')
        first, second = plan.installment_ids.sorted('sequence')
        first._collect()
        self.assertEqual(first.state, 'paid')
        invoice = first.invoice_id
        self.assertEqual(invoice.amount_residual, 100.0)
        # The customer pays the rest of the invoice online; post-processing has not run yet.
        self._paid_online(invoice, 100.0)
        with freeze_time('2026-04-02'):
            self.env['payment.plan.installment']._collect()
        self.assertEqual(second.state, 'paid')
        self.assertEqual(sum(self._charged().mapped('amount')), 100.0, "not 300 on a 200 plan")
        self.assertEqual(plan.state, 'done')

    # === INVOICES A RUNNING PLAN COLLECTS === #

    @freeze_time('2026-03-01')
    def test_a_mass_charge_leaves_a_running_plans_invoice_to_the_plan(self):
        plan = self._card_plan(amount=300.0, installment_count=3, date_start='2026-03-01')
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        wizard = self._mass_charge()
        self.assertEqual(wizard.charge_count, 0)
        self.assertIn("Collected by a running payment plan", wizard.summary)
        behalf = self.env['payment.plan.pay.behalf'].create({'partner_id': self.customer.id})
        self.assertFalse(behalf.invoice_ids, "Pay on Behalf does not preselect it")
        self.assertEqual(behalf.open_amount, 0.0)
        self.assertEqual(sum(self._charged().mapped('amount')), 100.0)

    @freeze_time('2026-03-01')
    def test_settling_a_plan_early_charges_its_invoice_and_closes_the_plan(self):
        plan = self._card_plan(amount=300.0, installment_count=3, date_start='2026-03-01')
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        wizard = self._mass_charge(settle_plans=True)
        self.assertEqual((wizard.charge_count, wizard.amount_total), (1, 200.0))
        wizard.action_charge()
        self._run_after_commit()
        self.assertEqual(set(plan.installment_ids.mapped('state')), {'paid'})
        self.assertEqual(plan.state, 'done')
        self.assertEqual(sum(self._charged().mapped('amount')), 300.0)
        with freeze_time('2026-06-01'):
            self.env['payment.plan.installment']._collect()
        self.assertEqual(sum(self._charged().mapped('amount')), 300.0, "nothing charged twice")
