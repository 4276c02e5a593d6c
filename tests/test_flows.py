"""The flows of the systems this add-on replaces: the default card drives plans, cards deleted
from the back office, customers removed, payers' cancellation per company, the portal link."""

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.fields import Command
from odoo.tests import Form, HttpCase, new_test_user, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
@freeze_time('2026-03-01')
class TestFlows(PaymentPlanCommon):
    def _card_plan(self, card, **values):
        plan = self._create_plan(
            collection_mode='token',
            token_id=card.id,
            date_start='2026-04-01',
            **values,
        )
        plan.action_activate()
        return plan

    # === 1. THE DEFAULT CARD DRIVES THE PLANS === #

    def test_a_new_default_card_moves_the_plans_that_follow_it_not_the_pinned_ones(self):
        first = self._create_card(details='1111')
        following = self._card_plan(first)
        pinned = self._card_plan(first, card_pinned=True)
        second = self._create_card(details='2222')
        second.with_user(self.plan_user).action_set_default()
        self.assertEqual(following.token_id, second, "the plan follows the default card")
        self.assertEqual(pinned.token_id, first, "a pinned plan keeps its card")
        self.assertIn("default card", following.message_ids[0].body)

    # === 2. DELETE A CARD FROM THE BACK OFFICE === #

    def test_a_plan_user_deletes_a_card_with_the_warning_and_its_plans_move(self):
        first = self._create_card(details='1111')
        second = self._create_card(details='2222')
        plan = self._card_plan(first, card_pinned=True)
        wizard = (
            self.env['payment.plan.card.delete']
            .with_user(self.plan_user)
            .create({'token_id': first.id})
        )
        self.assertIn(plan.name, wizard.warning_html)
        self.assertIn("default card will pay them instead", wizard.warning_html)
        wizard.action_delete()
        self.assertFalse(first.active)
        self.assertEqual(plan.token_id, second, "moved to the customer's default card")

    def test_deleting_the_only_card_warns_that_the_next_charges_will_fail(self):
        card = self._create_card(details='1111')
        plan = self._card_plan(card)
        wizard = self.env['payment.plan.card.delete'].create({'token_id': card.id})
        self.assertIn("only card", wizard.warning_html)
        self.assertIn(plan.name, wizard.warning_html)

    def test_a_salesperson_without_the_group_cannot_delete_a_card(self):
        card = self._create_card(details='1111')
        salesperson = new_test_user(
            self.env, login='seller', groups='sales_team.group_sale_salesman_all_leads'
        )
        with self.assertRaises(AccessError):
            self.env['payment.plan.card.delete'].with_user(salesperson).create(
                {'token_id': card.id}
            ).action_delete()
        self.assertTrue(card.active)

    # === 3. REMOVE A CUSTOMER === #

    def test_removing_a_customer_with_plans_archives_it_and_cancels_its_subscriptions(self):
        card = self._create_card(details='1111')
        plan = self._card_plan(card, plan_type='subscription', amount=20.0)
        wizard = (
            self.env['payment.plan.customer.remove']
            .with_user(self.plan_manager)
            .with_context(active_model='res.partner', active_ids=self.customer.ids)
            .create({})
        )
        self.assertIn("archived", wizard.warning_html)
        self.assertIn(plan.name, wizard.warning_html)
        self.assertIn("cancelled", wizard.warning_html)
        wizard.action_remove()
        self.assertFalse(self.customer.active)
        self.assertEqual(plan.state, 'cancelled')

    def test_the_remove_dialog_says_for_each_customer_what_will_be_done_and_then_what_was(self):
        """The dialog's warning is computed before its records are saved (new records): it
        still names, for each customer, archived or deleted and the plans cancelled."""
        card = self._create_card(details='1111')
        plan = self._card_plan(card, plan_type='subscription', amount=20.0)
        newcomer = self.env['res.partner'].create({'name': "Nadia Newcomer"})
        form = Form(
            self.env['payment.plan.customer.remove']
            .with_user(self.plan_manager)
            .with_context(active_model='res.partner', active_ids=(self.customer | newcomer).ids)
        )
        warning = form.warning_html
        self.assertIn(f"{self.customer.display_name} will be archived", warning)
        self.assertIn(plan.name, warning)
        self.assertIn("Nadia Newcomer will be deleted.", warning)
        result = form.save().action_remove()
        message = result['params']['message']
        self.assertIn(
            f"{self.customer.display_name} archived (plans cancelled: {plan.name}).", message
        )
        self.assertIn("Nadia Newcomer deleted.", message)
        self.assertEqual(plan.state, 'cancelled')
        self.assertFalse(newcomer.exists())

    def test_removing_a_customer_without_history_deletes_it(self):
        newcomer = self.env['res.partner'].create({'name': "Nadia Newcomer"})
        wizard = self.env['payment.plan.customer.remove'].create(
            {'partner_ids': [Command.set(newcomer.ids)]}
        )
        self.assertIn("deleted", wizard.warning_html)
        wizard.action_remove()
        self.assertFalse(newcomer.exists())

    # === 4. PAYERS MAY CANCEL === #

    def test_payers_may_cancel_follows_the_company_per_kind_and_the_plan_may_override(self):
        subscription = self._create_plan(plan_type='subscription', amount=10.0)
        installments = self._create_plan()
        self.assertTrue(subscription.allow_payer_cancel, "subscriptions: on by default")
        self.assertFalse(installments.allow_payer_cancel, "installment plans: off by default")
        self.company.write(
            {
                'payment_plan_payer_cancel_subscriptions': False,
                'payment_plan_payer_cancel_installments': True,
            }
        )
        self.assertFalse(
            self._create_plan(plan_type='subscription', amount=10.0).allow_payer_cancel
        )
        self.assertTrue(self._create_plan().allow_payer_cancel)
        overridden = self._create_plan(
            plan_type='subscription', amount=10.0, allow_payer_cancel=True
        )
        self.assertTrue(overridden.allow_payer_cancel, "a plan may say otherwise")

    def test_plans_of_orders_follow_the_setting(self):
        order = self._create_order(
            payment_plan_kind='subscription', payment_plan_collection_mode='manual'
        )
        order.action_payment_plan_request()
        self.assertTrue(order.payment_plan_id.allow_payer_cancel)

    # === 8. THE PORTAL ENTRY LINK === #

    def test_settings_show_the_portal_link_to_share(self):
        settings = self.env['res.config.settings'].create({})
        self.assertTrue(settings.payment_plan_portal_url.endswith('/web/login?redirect=/my/plans'))


@tagged('post_install', '-at_install')
class TestFlowTours(PaymentPlanCommon, HttpCase):
    def test_tour_delete_a_card_from_the_back_office(self):
        card = self._create_card(details='3131')
        plan = self._create_plan(
            collection_mode='token',
            token_id=card.id,
            date_start=self.env['payment.plan.installment']._get_collection_today(),
        )
        plan.action_activate()
        self.plan_user.write({'password': 'plan_user'})
        self._let_open_customer_forms(self.plan_user)
        self.start_tour(
            f'/odoo/action-payment_plan.res_partner_action_payment_plan/{self.customer.id}',
            'payment_plan_delete_card_tour',
            login='plan_user',
        )
        self.assertFalse(card.active)
        self.assertTrue(plan.card_missing)
