from datetime import date

from freezegun import freeze_time

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
@freeze_time('2026-02-15')
class TestPlanChange(PaymentPlanCommon):
    def _change(self, plan, **values):
        with Form(self.env['payment.plan.change'].with_context(default_plan_id=plan.id)) as wizard:
            for name, value in values.items():
                setattr(wizard, name, value)
        return wizard.record

    def test_installment_plan_spreads_the_rest_over_new_installments(self):
        plan = self._create_plan(amount=300, installment_count=3, date_start='2026-01-31')
        plan.action_activate()
        first = plan.installment_ids.filtered(lambda i: i.sequence == 1)
        first._set_paid()
        wizard = self._change(plan)
        self.assertEqual(wizard.amount, 200)
        self.assertEqual(wizard.remaining_count, 2)
        self.assertEqual(wizard.next_due_date, date(2026, 2, 28))

        wizard = self._change(
            plan, remaining_count=4, next_due_date=date(2026, 3, 31), reason="Agreed on the phone"
        )
        wizard.action_apply()

        pending = plan.installment_ids.filtered(lambda i: i.state == 'pending').sorted('sequence')
        self.assertEqual(pending.mapped('amount'), [50.0] * 4)
        self.assertEqual(pending.mapped('sequence'), [2, 3, 4, 5])
        self.assertEqual(
            pending.mapped('due_date'),
            [date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)],
        )
        self.assertEqual(first.state, 'paid')  # Paid installments are kept as they are.
        self.assertEqual((plan.amount, plan.installment_count), (300, 5))
        self.assertIn("Agreed on the phone", plan.message_ids[0].body)
        self.assertIn("4 unpaid installments", plan.message_ids[0].body)

    def test_a_change_of_the_total_is_invoiced_and_each_installment_charged_its_share(self):
        card = self._create_card()
        plan = self._create_plan(
            amount=300,
            installment_count=3,
            date_start='2026-02-15',
            collection_mode='token',
            token_id=card.id,
        )
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(first.state, 'paid')
        old_invoice = plan.invoice_id
        # The rest (200 in 2) becomes 600 in 2.
        self._change(plan, amount=600, remaining_count=2).action_apply()
        self.assertEqual(old_invoice.amount_residual, 0.0, "the old rest is credited")
        self.assertEqual(plan.invoice_id.amount_total, 600.0, "the new rest is invoiced")
        self.assertEqual(plan.amount, 700.0)
        with freeze_time('2026-05-01'):
            self.env['payment.plan.installment']._collect()
        charged = plan.installment_ids.transaction_ids.filtered(lambda tx: tx.state == 'done')
        self.assertEqual(sorted(charged.mapped('amount')), [100.0, 300.0, 300.0])
        self.assertEqual(
            set(plan.installment_ids.filtered('transaction_ids').mapped('state')), {'paid'}
        )
        self.assertEqual(plan.state, 'done')
        invoices = old_invoice | plan.invoice_id
        self.assertEqual(sum(invoices.mapped('amount_residual')), 0.0)

    def test_a_lower_total_credits_the_difference(self):
        plan = self._create_plan(amount=300, installment_count=3, date_start='2026-02-28')
        plan.action_activate()
        plan.installment_ids._ensure_invoices()
        old_invoice = plan.invoice_id
        self._change(plan, amount=150, remaining_count=3).action_apply()
        self.assertEqual(old_invoice.amount_residual, 0.0)
        self.assertEqual(plan.invoice_id.amount_residual, 150.0)
        pending = plan.installment_ids.filtered(lambda i: i.state == 'pending')
        self.assertEqual(sum(pending.mapped('amount')), 150.0)
        self.assertEqual(set(pending.mapped('invoice_id')), {plan.invoice_id})

    def test_a_change_while_a_charge_is_under_way_is_refused(self):
        plan = self._create_plan(amount=300, installment_count=3, date_start='2026-01-31')
        plan.action_activate()
        plan.installment_ids.sorted('sequence')[0]._set_processing()
        with self.assertRaises(UserError):
            self._change(plan, amount=600, remaining_count=2).action_apply()

    def test_subscription_changes_the_amount_of_coming_periods(self):
        plan = self._create_plan(
            plan_type='subscription', amount=30, installment_count=0, date_start='2026-01-31'
        )
        plan.action_activate()
        plan.installment_ids.filtered(lambda i: i.sequence == 1)._set_paid()
        self._change(plan, amount=35, next_due_date=date(2026, 3, 15)).action_apply()
        pending = plan.installment_ids.filtered(lambda i: i.state == 'pending').sorted('sequence')
        self.assertEqual(len(pending), 12)
        self.assertEqual(set(pending.mapped('amount')), {35})
        self.assertEqual(
            pending[:3].mapped('due_date'),
            [date(2026, 3, 15), date(2026, 4, 15), date(2026, 5, 15)],
        )
        self.assertEqual(plan.amount, 35)
        # Later periods continue from the new anchor.
        pending[:2]._set_paid()
        plan._extend_subscription_schedule()
        last = plan.installment_ids.sorted('sequence')[-1]
        self.assertEqual(last.due_date, date(2027, 4, 15))

    def test_bad_changes_are_refused(self):
        plan = self._create_plan()
        plan.action_activate()
        for values in (
            {'amount': 0},
            {'remaining_count': 0},
            {'next_due_date': date(2026, 1, 1)},
        ):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                self._change(plan, **values)
        with self.assertRaisesRegex(ValidationError, "at most 360"):
            self._change(plan, amount=100000, remaining_count=361, next_due_date=date(2026, 3, 1))
        plan.action_cancel()
        wizard = self.env['payment.plan.change'].create(
            {'plan_id': plan.id, 'amount': 10, 'remaining_count': 1}
        )
        with self.assertRaises(UserError):
            wizard.action_apply()

    def test_a_change_without_next_due_date_is_refused_clearly(self):
        plan = self._create_plan(date_start='2026-03-01')
        plan.action_activate()
        # As an RPC call may: the date emptied, not left to its default.
        wizard = self.env['payment.plan.change'].create(
            {'plan_id': plan.id, 'amount': 100, 'remaining_count': 3, 'next_due_date': False}
        )
        with self.assertRaisesRegex(UserError, "next due date"):
            wizard.action_apply()
        self.assertEqual(len(plan.installment_ids), 3, "nothing changed")


@tagged('post_install', '-at_install')
class TestSettings(PaymentPlanCommon):
    def test_retry_policy_settings_are_the_defaults_of_new_plans(self):
        settings = self.env['res.config.settings'].create(
            {
                'payment_plan_max_attempts': 5,
                'payment_plan_retry_interval_days': 2,
            }
        )
        settings.execute()
        plan = self._create_plan()
        self.assertEqual((plan.max_attempts, plan.retry_interval_days), (5, 2))

    def test_retry_policy_is_per_company(self):
        other = self._create_company("Policy Two Ltd")
        other.write({'payment_plan_max_attempts': 7, 'payment_plan_retry_interval_days': 4})
        self.company.payment_plan_max_attempts = 2
        plan = self._create_plan(company_id=other.id)
        self.assertEqual((plan.max_attempts, plan.retry_interval_days), (7, 4))
        self.assertEqual(self._create_plan().max_attempts, 2)
        self.assertEqual(self._create_plan(max_attempts=9).max_attempts, 9, "a plan's own wins")

    def test_settings_refuse_a_policy_that_never_charges(self):
        for field_name in (
            'payment_plan_max_attempts',
            'payment_plan_retry_interval_days',
            'payment_plan_batch_size',
        ):
            with self.subTest(field=field_name), self.assertRaises(ValidationError):
                self.env['res.config.settings'].create({field_name: 0}).execute()
