from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestManualPayment(PaymentPlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing_user = new_test_user(
            cls.env,
            login='plan_billing_user',
            groups='payment_plan.group_user,account.group_account_invoice',
        )
        cls.plan = cls._create_plan(collection_mode='manual', amount=100.0, installment_count=3)
        cls.plan.action_activate()
        cls.first, cls.second, cls.third = cls.plan.installment_ids.sorted('sequence')
        cls.bank = cls.env['account.journal'].search(
            [*cls.env['account.journal']._check_company_domain(cls.company), ('type', '=', 'bank')],
            limit=1,
        )

    def _register(self, installment, user=None, **values):
        user = user or self.billing_user
        action = installment.with_user(user).action_register_payment()
        wizard_form = Form(
            self.env[action['res_model']].with_user(user).with_context(**action['context'])
        )
        for field, value in values.items():
            setattr(wizard_form, field, value)
        return wizard_form.save().action_register()

    def test_registered_payment_pays_the_installment_and_reconciles(self):
        self._register(self.first, memo="Cheque 123")
        self.assertEqual(self.first.state, 'paid')
        payment = self.first.payment_ids
        self.assertEqual(
            (payment.amount, payment.memo, payment.journal_id), (33.33, "Cheque 123", self.bank)
        )
        self.assertEqual(payment.reconciled_invoice_ids, self.plan.invoice_id)
        self.assertEqual(self.plan.invoice_id.amount_residual, 66.67)
        self.assertTrue(self.plan.message_ids.filtered(lambda m: 'registered' in (m.body or '')))

    def test_every_installment_registered_closes_the_plan(self):
        for installment in (self.first, self.second, self.third):
            self._register(installment)
        self.assertEqual(self.plan.state, 'done')
        self.assertEqual(self.plan.invoice_id.amount_residual, 0)

    def test_wrong_amount_or_paid_installment_is_refused_and_nothing_written(self):
        with self.assertRaisesRegex(UserError, "must be what is still owed"):
            self._register(self.first, amount=10.0)
        self.assertEqual(self.first.state, 'pending')
        self.assertFalse(self.first.payment_ids)
        self._register(self.first)
        with self.assertRaisesRegex(UserError, "only a pending or denied installment"):
            self._register(self.first)
        self.assertEqual(len(self.first.payment_ids), 1)

    def test_only_billing_users_of_the_plan_company_can_register(self):
        with self.assertRaises(AccessError):
            self._register(self.first, user=self.plan_user)
        other_company = self._create_company("Elsewhere Ltd")
        self.billing_user.write(
            {'company_ids': [(6, 0, other_company.ids)], 'company_id': other_company.id}
        )
        with self.assertRaises(AccessError):
            self._register(self.first)
        self.assertEqual(self.first.state, 'pending')

    def test_first_registered_payment_closes_a_manual_order(self):
        order = self._create_installments_order('manual', price=90.0)
        order.action_payment_plan_request()
        self.assertEqual(order.payment_plan_status, 'pending')
        first = order.payment_plan_id.installment_ids.sorted('sequence')[0]
        self._register(first)
        self.assertEqual(order.state, 'sale')
        self.assertTrue(order.locked)
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertEqual(order.invoice_ids.amount_residual, 60.0)
