from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestCustomerCards(PaymentPlanCommon):
    def test_first_card_becomes_the_default(self):
        first = self._create_card(details='1111')
        second = self._create_card(details='2222')
        self.assertTrue(first.is_default)
        self.assertFalse(second.is_default)
        self.assertEqual(self.customer.default_token_id, first)

    def test_making_another_card_default_unmarks_the_previous_one(self):
        first = self._create_card(details='1111')
        second = self._create_card(details='2222')
        second.with_user(self.plan_user).action_set_default()
        self.assertFalse(first.is_default)
        self.assertTrue(second.is_default)
        self.customer.invalidate_recordset(['default_token_id'])
        self.assertEqual(self.customer.default_token_id, second)

    def test_default_card_can_be_chosen_from_the_customer(self):
        self._create_card(details='1111')
        second = self._create_card(details='2222')
        self.customer.with_user(self.plan_user).default_token_id = second
        self.assertTrue(second.is_default)
        self.assertEqual(self.customer.payment_token_ids.filtered('is_default'), second)

    def test_archiving_the_default_card_hands_it_to_the_newest_card(self):
        oldest = self._create_card(details='1111')
        newest = self._create_card(details='2222')
        default = self._create_card(details='3333')
        default.action_set_default()
        default.action_archive()
        self.assertFalse(default.is_default)
        self.assertTrue(newest.is_default)
        self.assertFalse(oldest.is_default)

    def test_archiving_another_card_keeps_the_default(self):
        default = self._create_card(details='1111')
        other = self._create_card(details='2222')
        other.action_archive()
        self.assertTrue(default.is_default)

    def test_archiving_the_only_card_leaves_no_default(self):
        card = self._create_card()
        card.action_archive()
        self.customer.invalidate_recordset(['default_token_id', 'has_saved_card'])
        self.assertFalse(self.customer.default_token_id)
        self.assertFalse(self.customer.has_saved_card)

    def test_each_company_has_its_own_default_card(self):
        company_b = self._create_company("Company B")
        provider_b = self.provider.copy({'company_id': company_b.id, 'state': 'test'})
        card_a = self._create_card(details='1111')
        card_b = self._create_card(details='2222', provider=provider_b)
        self.assertTrue(card_a.is_default)
        self.assertTrue(card_b.is_default)
        self.assertEqual(self.customer.with_company(company_b).default_token_id, card_b)
        self.assertEqual(self.customer.with_company(self.company).default_token_id, card_a)

    def test_expiry_date_is_the_last_day_of_the_month(self):
        card = self._create_card(expiry_month=2, expiry_year=2028)
        self.assertEqual(str(card.expiry_date), '2028-02-29')
        for month, year in ((13, 2028), (2, 0), (0, 2028), (5, 1999)):
            with self.subTest(month=month, year=year), self.assertRaises(ValidationError):
                card.write({'expiry_month': month, 'expiry_year': year})
                card.flush_recordset()

    def test_has_saved_card_filter(self):
        self._create_card()
        Partner = self.env['res.partner'].with_user(self.plan_user)
        with_card = Partner.search([('has_saved_card', '=', True)])
        without_card = Partner.search([('has_saved_card', '=', False)])
        self.assertIn(self.customer, with_card)
        self.assertNotIn(self.other_customer, with_card)
        self.assertIn(self.other_customer, without_card)
        self.assertNotIn(self.customer, without_card)
        self.assertTrue(self.customer.has_saved_card)
        self.assertFalse(self.other_customer.has_saved_card)

    def test_search_by_vat_and_phone(self):
        self.customer.write({'vat': 'BE0477472701', 'phone': '+32 470 12 34 56'})
        Partner = self.env['res.partner']
        self.assertEqual(Partner.search([('vat', 'ilike', '0477472701')]), self.customer)
        self.assertIn(self.customer, Partner.search([('phone', 'ilike', '470 12 34')]))


@tagged('post_install', '-at_install')
class TestCustomerLifecycle(PaymentPlanCommon):
    def test_archiving_a_customer_cancels_their_running_plans(self):
        running = self._create_plan(date_start='2027-01-01')
        running.action_activate()
        draft = self._create_plan()
        done = self._create_plan(installment_count=1)
        done.action_activate()
        done.installment_ids._set_paid()
        done._check_done()
        self.assertEqual(done.state, 'done')

        contact_manager = new_test_user(
            self.env,
            login='contact_manager',
            groups='base.group_user,base.group_partner_manager',
        )
        self.customer.with_user(contact_manager).action_archive()

        self.assertEqual(running.state, 'cancelled')
        self.assertEqual(draft.state, 'cancelled')
        self.assertEqual(done.state, 'done')
        self.assertEqual(set(running.installment_ids.mapped('state')), {'cancelled'})
        self.assertIn("customer was archived", running.message_ids[0].body)

    def test_closing_ones_portal_account_cancels_only_the_plans_the_payer_may_cancel(self):
        portal_user = new_test_user(
            self.env, login='closing_payer', groups='base.group_portal', name="Carla Closing"
        )
        payer = portal_user.partner_id
        cancellable, kept, kept_unassigned = (
            self._create_plan(
                partner_id=payer.id,
                date_start='2027-01-01',
                allow_payer_cancel=allow,
                user_id=user.id,
            )
            for allow, user in (
                (True, self.plan_user),
                (False, self.plan_user),
                (False, self.env['res.users']),
            )
        )
        (cancellable | kept | kept_unassigned).action_activate()

        # As /my/deactivate_account does, for the logged-in portal user.
        portal_user.with_user(portal_user).sudo()._deactivate_portal_user()

        self.assertFalse(payer.active, "the customer is archived with the account")
        self.assertEqual(cancellable.state, 'cancelled')
        self.assertIn("closed their portal account", cancellable.message_ids[0].body)
        self.assertEqual((kept.state, kept_unassigned.state), ('active', 'active'))
        self.assertEqual(
            set(kept.installment_ids.mapped('state')), {'pending'}, "its schedule stands"
        )
        activity = kept.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.plan_user, "the plan's responsible is told")
        self.assertIn("closed their account", activity.summary)
        self.assertEqual(
            kept_unassigned.activity_ids.user_id,
            self.env.ref('base.user_admin'),
            "without a responsible, the administrator is told",
        )
        self.assertFalse(cancellable.activity_ids)

    def test_archiving_by_staff_still_cancels_every_running_plan(self):
        plan = self._create_plan(date_start='2027-01-01', allow_payer_cancel=False)
        plan.action_activate()
        self.customer.action_archive()
        self.assertEqual(plan.state, 'cancelled')

    def test_archiving_a_shared_customer_cancels_only_the_plans_of_the_users_companies(self):
        company_b = self._create_company("Company B")
        plan_a = self._create_plan(date_start='2027-01-01')
        plan_b = self._create_plan(date_start='2027-01-01', company_id=company_b.id)
        (plan_a | plan_b).action_activate()
        contact_manager = new_test_user(
            self.env,
            login='contact_manager_a',
            groups='base.group_user,base.group_partner_manager',
            company_id=self.company.id,
            company_ids=[self.company.id],
        )
        self.assertFalse(self.customer.company_id, "the customer is shared by both companies")

        self.customer.with_user(contact_manager).action_archive()

        self.assertEqual(plan_a.state, 'cancelled')
        self.assertEqual(plan_b.state, 'active', "company B's plan is company B's call")
        self.assertEqual(set(plan_b.installment_ids.mapped('state')), {'pending'})

    def test_customer_with_plans_cannot_be_deleted(self):
        self._create_plan()
        with self.assertRaisesRegex(UserError, "has payment plans"):
            self.customer.unlink()
        self.other_customer.unlink()
        self.assertFalse(self.other_customer.exists())

    def test_plan_count_and_smart_button(self):
        self._create_plan()
        self._create_plan()
        self.assertEqual(self.customer.payment_plan_count, 2)
        action = self.customer.action_view_payment_plans()
        self.assertEqual(
            self.env['payment.plan'].search(action['domain']), self.customer.payment_plan_ids
        )

    def test_metadata_of_another_companys_customer_is_not_readable(self):
        company_b = self._create_company("Company B")
        customer_b = self.env['res.partner'].create(
            {
                'name': "Bea Other Company",
                'company_id': company_b.id,
                'payment_metadata_ids': [Command.create({'key': 'gw_id', 'value': 'cus_B'})],
            }
        )
        self.customer.payment_metadata_ids = [Command.create({'key': 'gw_id', 'value': 'cus_A'})]
        salesperson = new_test_user(
            self.env,
            login='salesperson_a',
            groups='sales_team.group_sale_salesman',
            company_id=self.company.id,
            company_ids=[self.company.id],
        )
        Metadata = self.env['payment.plan.metadata'].with_user(salesperson)
        self.assertEqual(
            Metadata.search([('key', '=', 'gw_id')]).mapped('value'),
            ['cus_A'],
            "a shared customer's metadata is read, another company's is not",
        )
        with self.assertRaises(AccessError):
            customer_b.payment_metadata_ids.with_user(salesperson).read(['value'])
        salesperson.company_ids = [Command.link(company_b.id)]
        self.assertEqual(
            sorted(
                Metadata.with_context(allowed_company_ids=[self.company.id, company_b.id])
                .search([('key', '=', 'gw_id')])
                .mapped('value')
            ),
            ['cus_A', 'cus_B'],
        )

    def test_metadata_keys_are_unique_per_customer(self):
        self.customer.payment_metadata_ids = [(0, 0, {'key': 'crm_id', 'value': '42'})]
        self.assertEqual(self.customer.payment_metadata_ids.value, '42')
        with self.assertRaises(IntegrityError), self.cr.savepoint(), mute_logger('odoo.sql_db'):
            self.env['payment.plan.metadata'].create(
                {
                    'partner_id': self.customer.id,
                    'key': 'crm_id',
                    'value': '43',
                }
            )
