from odoo.fields import Command
from odoo.tests import HttpCase, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestBackendTours(PaymentPlanCommon, HttpCase):
    def test_mass_charge_from_the_customer_list(self):
        payer = self.env['res.partner'].create({'name': "Tara Tour"})
        self._create_card(partner=payer, details='7777')
        invoice = self.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': payer.id,
                'invoice_line_ids': [
                    Command.create({'name': "Field trip", 'price_unit': 35.0, 'tax_ids': []})
                ],
            }
        )
        invoice.action_post()
        self.plan_manager.write({'password': 'plan_manager'})
        # The app's customer list, showing only these customers (a list loads once: no search
        # reloading it under the tour's clicks).
        action = self.env.ref('payment_plan.res_partner_action_payment_plan').copy(
            {'domain': [('id', '=', payer.id)], 'context': {}}
        )
        self.start_tour(
            f'/odoo/action-{action.id}?view_type=list',
            'payment_plan_mass_charge_tour',
            login='plan_manager',
        )
        batch = self.env['payment.plan.charge.batch'].search(
            [('line_ids.partner_id', '=', payer.id)]
        )
        self.assertEqual(batch.user_id, self.plan_manager)
        # Nothing is charged inside the request: right after it, in a cursor of its own (the
        # test server never commits, so the collection runs here as the cron would).
        self.assertFalse(batch.line_ids.transaction_ids)
        with self.registry.cursor() as cr:
            self.env(cr=cr)['payment.plan.installment']._cron_collect_due()
        self.env.invalidate_all()
        self.assertEqual(batch.line_ids.state, 'done', "the batch did what the preview said")
        self.assertEqual(batch.state, 'done')
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_parallel_collection_settings_say_why_and_save(self):
        self.start_tour(
            '/odoo/settings#payment_plan',
            'payment_plan_parallel_collection_settings_tour',
            login='admin',
        )
        self.assertEqual(
            self.env['ir.config_parameter'].sudo().get_param('payment_plan.job_size'), '20'
        )

    def test_overview_figures_open_their_lists(self):
        plan = self._create_plan(
            date_start=self.env['payment.plan.installment']._get_collection_today()
        )
        plan.action_activate()
        self.plan_user.write({'password': 'plan_user'})
        self.start_tour(
            '/odoo/action-payment_plan.payment_plan_overview_action',
            'payment_plan_overview_tour',
            login='plan_user',
        )

    def test_customer_form_shows_cards_plans_payments_and_portal_access(self):
        customer = self.env['res.partner'].create(
            {'name': "Fiona Form", 'email': 'fiona.form@example.com'}
        )
        card = self._create_card(partner=customer, details='7777')
        plan = self._create_plan(
            partner_id=customer.id,
            description="Tour subscription",
            plan_type='subscription',
            amount=20.0,
            collection_mode='token',
            token_id=card.id,
            date_start=self.env['payment.plan.installment']._get_collection_today(),
        )
        plan.action_activate()
        plan.installment_ids._collect()
        self.env.ref('base.user_admin').write(
            {
                'password': 'admin',
                'group_ids': [Command.link(self.env.ref('payment_plan.group_manager').id)],
            }
        )
        self.start_tour(
            f'/odoo/action-payment_plan.res_partner_action_payment_plan/{customer.id}',
            'payment_plan_customer_form_tour',
            login='admin',
        )
        self.assertTrue(customer.user_ids._is_portal(), "Portal Access granted it")

    def test_subscription_quotation_reads_as_a_subscription(self):
        order = self._create_order(price=100.0)
        self.env.ref('base.user_admin').write({'password': 'admin'})
        self.start_tour(
            f'/odoo/sales/{order.id}', 'payment_plan_subscription_quotation_tour', login='admin'
        )

    def test_customer_list_reads_name_and_default_card_whole_on_a_laptop_screen(self):
        customer = self.env['res.partner'].create(
            {
                'name': "Maria Valentina Montenegro Albuquerque",
                'email': 'maria.valentina.montenegro@example.com',
                'phone': '+34 600 000 005',
            }
        )
        self._create_card(partner=customer, details='0005')
        self.assertIn("0005", customer.default_token_id.display_name)
        self.plan_user.write({'password': 'plan_user'})
        action = self.env.ref('payment_plan.res_partner_action_payment_plan').copy(
            {'domain': [('id', '=', customer.id)], 'context': {}}
        )
        # The browser of the tests is 1366px wide, as a laptop screen.
        self.start_tour(
            f'/odoo/action-{action.id}?view_type=list',
            'payment_plan_customer_list_fits_tour',
            login='plan_user',
        )

    def test_card_expiry_reads_month_and_year_without_separator(self):
        card = self._create_card(details='0005', expiry_month=12, expiry_year=2028)
        self.start_tour(
            f'/odoo/action-payment.action_payment_token/{card.id}',
            'payment_plan_card_expiry_tour',
            login='admin',
        )
