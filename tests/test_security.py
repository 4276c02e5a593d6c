from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestPaymentPlanSecurity(PaymentPlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal_user = new_test_user(
            cls.env,
            login='payer',
            groups='base.group_portal',
            name="Paula Portal",
        )
        cls.portal_user.partner_id = cls.customer  # The payer is the customer.
        cls.own_plan = cls._create_plan()
        cls.own_plan.action_activate()
        cls.foreign_plan = cls._create_plan(partner_id=cls.other_customer.id)
        cls.foreign_plan.action_activate()

    def test_portal_user_reads_only_their_own_plans_and_installments(self):
        Plan = self.env['payment.plan'].with_user(self.portal_user)
        Installment = self.env['payment.plan.installment'].with_user(self.portal_user)
        self.assertEqual(Plan.search([]), self.own_plan)
        self.assertEqual(Installment.search([]), self.own_plan.installment_ids)
        self.assertEqual(self.own_plan.with_user(self.portal_user).amount, 100.0)
        with self.assertRaises(AccessError):
            self.foreign_plan.with_user(self.portal_user).read(['amount'])
        with self.assertRaises(AccessError):
            self.foreign_plan.installment_ids[:1].with_user(self.portal_user).read(['amount'])

    def test_portal_user_cannot_change_plans(self):
        with self.assertRaises(AccessError):
            self.own_plan.with_user(self.portal_user).action_cancel()
        with self.assertRaises(AccessError):
            self.env['payment.plan'].with_user(self.portal_user).create(
                {
                    'partner_id': self.customer.id,
                    'amount': 10,
                    'collection_mode': 'manual',
                }
            )
        self.assertEqual(self.own_plan.state, 'active')

    def test_plan_users_change_states_and_amounts_only_through_the_actions(self):
        """As an RPC call may: create and write, with any context, past the buttons."""
        plan = self.own_plan.with_user(self.plan_user)
        installment = plan.installment_ids.sorted('sequence')[0]
        for values in (
            {'state': 'done'},
            {'state': 'cancelled'},
            {'amount': 1.0},
            {'name': 'PLAN/FAKE'},
            {'gateway_payment_url': 'https://phishing.example.com/pay'},
            {'schedule_anchor_date': '2030-01-01'},
            {'invoice_id': False},
        ):
            with self.subTest(plan_values=values), self.assertRaises(UserError):
                plan.with_context(payment_plan_change=True).write(values)
        for values in ({'amount': 0.01}, {'state': 'paid'}):
            with self.subTest(installment_values=values), self.assertRaises(UserError):
                installment.write(values)
        # Staff move the dates of a pending installment (its form), told in its chatter; a paid
        # one's are history.
        installment.with_context(tracking_disable=False, mail_notrack=False).due_date = '2026-02-20'
        self.env.cr.precommit.run()  # Tracking is written when the transaction ends.
        tracked = installment.sudo().message_ids.tracking_value_ids.field_id.mapped('name')
        self.assertIn('due_date', tracked)
        installment.sudo()._set_paid()
        for values in ({'due_date': '2030-01-01'}, {'next_attempt_date': '2030-01-01'}):
            with self.subTest(installment_values=values), self.assertRaises(UserError):
                installment.write(values)
        with self.assertRaises(UserError):
            self.env['payment.plan.installment'].with_user(self.plan_user).create(
                {
                    'plan_id': plan.id,
                    'sequence': 9,
                    'name': f'{plan.name}-09',
                    'due_date': '2026-12-31',
                    'amount': 5000.0,
                }
            )
        with self.assertRaises(UserError):
            self.env['payment.plan'].with_user(self.plan_user).create(
                {
                    'partner_id': self.customer.id,
                    'amount': 10,
                    'installment_count': 1,
                    'collection_mode': 'manual',
                    'state': 'active',
                }
            )
        self.assertEqual(self.own_plan.state, 'active')
        self.assertEqual(len(self.own_plan.installment_ids), 3)
        self.assertEqual(
            self.own_plan.installment_ids.sorted('sequence').mapped('amount'),
            [33.33, 33.33, 33.34],
        )
        # The actions still work.
        plan.action_pause()
        plan.action_resume()
        self.assertEqual(self.own_plan.state, 'active')

    def test_user_of_another_company_sees_none_of_its_plans(self):
        company_b = self._create_company("Company B")
        user_b = new_test_user(
            self.env,
            login='user_b',
            groups='payment_plan.group_user',
            company_id=company_b.id,
            company_ids=[company_b.id],
        )
        Plan = self.env['payment.plan'].with_user(user_b)
        self.assertFalse(Plan.search([]))
        self.assertFalse(self.env['payment.plan.installment'].with_user(user_b).search([]))
        with self.assertRaises(AccessError):
            self.own_plan.with_user(user_b).read(['amount'])
        plan_b = Plan.create(
            {
                'partner_id': self.customer.id,
                'plan_type': 'installments',
                'amount': 60,
                'installment_count': 2,
                'collection_mode': 'manual',
            }
        )
        self.assertEqual(plan_b.company_id, company_b)
        self.assertEqual(Plan.search([]), plan_b)
        self.assertNotIn(plan_b, self.env['payment.plan'].with_user(self.plan_user).search([]))

    def test_employee_without_the_group_cannot_see_plans(self):
        employee = new_test_user(self.env, login='employee', groups='base.group_user')
        with self.assertRaises(AccessError):
            self.env['payment.plan'].with_user(employee).search([])

    def test_plan_user_manages_plans_and_sees_cards(self):
        card = self._create_card()
        Plan = self.env['payment.plan'].with_user(self.plan_user)
        plan = Plan.create(
            {
                'partner_id': self.customer.id,
                'plan_type': 'subscription',
                'amount': 15,
                'collection_mode': 'token',
            }
        )
        self.assertEqual(plan.token_id, card)
        plan.action_activate()
        self.assertEqual(len(plan.installment_ids), 12)
        self.assertEqual(self.customer.with_user(self.plan_user).payment_token_ids, card)

    def test_manager_implies_user(self):
        self.assertTrue(self.plan_manager.has_group('payment_plan.group_user'))
        self.assertFalse(self.plan_user.has_group('payment_plan.group_manager'))
