"""Who may act, on the portal and public routes: a portal user acts on their own cards and the
plans they pay (their company's only where it lets its contacts), never a colleague's; a link's
holder pays with a card they type in, through a provider the page offered, a limited number of
times; staff act in their companies with the add-on's groups; collection references are the
collection's own."""

import re

from freezegun import freeze_time

from odoo.exceptions import AccessError, ValidationError
from odoo.fields import Command
from odoo.tests import JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tests.http_common import PayLinkCase, pay_token
from odoo.addons.payment_plan.tools import collection


@tagged('post_install', '-at_install')
class TestPortalAccess(PayLinkCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.acme, cls.alice, cls.bob = cls._create_company_contacts('acme')
        cls.alice_card = cls._create_card(partner=cls.alice.partner_id, details='1111')
        cls.bob_card = cls._create_card(partner=cls.bob.partner_id, details='2222')
        cls.bob_plan = cls._create_plan(
            partner_id=cls.bob.partner_id.id,
            collection_mode='token',
            token_id=cls.bob_card.id,
            allow_payer_cancel=True,
            date_start='2026-03-01',
        )
        cls.bob_plan.action_activate()
        cls.salesperson = new_test_user(
            cls.env, login='sales_only', groups='sales_team.group_sale_salesman', name="Sal Sales"
        )

    def _csrf_token(self):
        page = self.url_open('/web/activate').text
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def _post(self, url):
        data = {'csrf_token': self._csrf_token()}
        return self.url_open(url, data=data, allow_redirects=False)

    def _pay_error(self, plan, token, **values):
        with mute_logger('odoo.http'), self.assertRaises(JsonRpcException) as error:
            self.make_jsonrpc_request(
                f'/my/plans/{plan.id}/transaction', self._params(plan, token, **values)
            )
        return error.exception

    # === A COMPANY CONTACT AND A COLLEAGUE'S CARD === #

    def test_a_contact_cannot_use_delete_or_default_a_colleagues_card(self):
        self.authenticate('acme_alice', 'acme_alice-password')
        for action in ('use_for_plans', 'delete', 'default'):
            response = self._post(f'/my/cards/{self.bob_card.id}/{action}')
            self.assertEqual(response.status_code, 404, action)
        self.assertTrue(self.bob_card.active)
        self.assertEqual(self.bob_plan.token_id, self.bob_card)
        cards = self.url_open('/my/cards').text
        self.assertNotIn('2222', cards, "a colleague's card is not listed")

    def test_a_contact_moving_plans_to_her_card_never_takes_a_colleagues_plan(self):
        self.authenticate('acme_alice', 'acme_alice-password')
        response = self._post(f'/my/cards/{self.alice_card.id}/use_for_plans')
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.bob_plan.token_id, self.bob_card)

    def test_a_contact_cannot_see_or_cancel_a_colleagues_plan(self):
        self.authenticate('acme_alice', 'acme_alice-password')
        self.assertEqual(self.url_open(f'/my/plans/{self.bob_plan.id}').status_code, 404)
        with mute_logger('odoo.http'):
            self._post(f'/my/plans/{self.bob_plan.id}/cancel')
        self.assertEqual(self.bob_plan.state, 'active')
        self.assertNotIn(self.bob_plan.name, self.url_open('/my/plans').text)

    def test_the_companys_plans_are_managed_by_its_contacts_only_where_it_allows_it(self):
        company_card = self._create_card(partner=self.acme, details='3333')
        company_plan = self._create_plan(
            partner_id=self.acme.id,
            collection_mode='token',
            token_id=company_card.id,
            allow_payer_cancel=True,
            date_start='2026-03-01',
        )
        company_plan.action_activate()
        self.assertFalse(self.alice._payment_plan_may_act(company_plan))
        self.assertTrue(self.alice._payment_plan_may_act(self.alice_card))
        self.authenticate('acme_alice', 'acme_alice-password')
        self.assertEqual(self.url_open(f'/my/plans/{company_plan.id}').status_code, 200)
        with mute_logger('odoo.http'):
            self._post(f'/my/plans/{company_plan.id}/cancel')
        self.assertEqual(company_plan.state, 'active', "Acme does not let its contacts act")
        self.acme.payment_plan_contacts_manage = True
        self._post(f'/my/plans/{company_plan.id}/cancel')
        self.assertEqual(company_plan.state, 'cancelled')
        self.assertFalse(self.alice._payment_plan_may_act(self.bob_card), "never a colleague's")

    # === STAFF === #

    def test_a_salesperson_cannot_make_a_card_the_default_over_rpc(self):
        second = self._create_card(partner=self.bob.partner_id, details='4444')
        with self.assertRaises(AccessError):
            second.with_user(self.salesperson).action_set_default()
        self.assertFalse(second.is_default)
        self.assertEqual(self.bob_plan.token_id, self.bob_card)
        second.with_user(self.plan_user).action_set_default()
        self.assertTrue(second.is_default)

    def test_staff_of_another_company_cannot_act_on_a_card(self):
        other_company = self._create_company("Other Co")
        other_staff = new_test_user(
            self.env,
            login='other_staff',
            groups='payment_plan.group_user',
            company_id=other_company.id,
            company_ids=[Command.set(other_company.ids)],
        )
        self.assertFalse(other_staff._payment_plan_may_act(self.bob_card))
        self.assertTrue(self.plan_user._payment_plan_may_act(self.bob_card))

    # === A LINK'S HOLDER === #

    @freeze_time('2026-03-01')
    def test_the_signed_pay_link_never_charges_a_card_on_file(self):
        plan, denied = self._denied_plan(partner=self.alice.partner_id)
        token = pay_token(denied._get_payment_url())
        self.authenticate(None, None)
        self._pay_error(plan, token, flow='token', token_id=self.bob_card.id)
        self.assertFalse(denied.transaction_ids.filtered(lambda tx: tx.token_id == self.bob_card))
        self.assertNotEqual(plan.token_id, self.bob_card)
        self.assertEqual(denied.state, 'denied')

    @freeze_time('2026-03-01')
    def test_a_provider_the_page_does_not_offer_is_refused(self):
        plan, denied = self._denied_plan()
        token = pay_token(denied._get_payment_url())
        other_company = self._create_company("Company B")
        foreign = self.provider.copy({'name': "Demo B", 'company_id': other_company.id})
        disabled = self.provider.copy({'name': "Demo off", 'state': 'disabled'})
        self.authenticate(None, None)
        for provider in (foreign, disabled):
            self._pay_error(plan, token, provider_id=provider.id)
        self.assertFalse(
            denied.transaction_ids.filtered(lambda tx: tx.provider_id != self.provider)
        )
        self.assertEqual(denied.state, 'denied')

    @freeze_time('2026-03-01')
    def test_a_pay_link_with_nothing_left_to_pay_never_gives_the_portal_token(self):
        plan, denied = self._denied_plan()
        url = denied._get_payment_url()
        denied._register_external_payment(
            denied.amount,
            denied.due_date,
            self.env['account.journal'].search(
                [('type', '=', 'bank'), ('company_id', '=', self.company.id)], limit=1
            ),
        )
        plan.action_cancel()
        portal_token = plan._portal_ensure_token()
        self.authenticate(None, None)
        response = self.url_open(url, allow_redirects=False)
        self.assertEqual(response.status_code, 200)
        self.assertIn("Nothing to pay", response.text)
        self.assertNotIn(portal_token, response.text)
        self.assertNotIn('access_token', response.headers.get('Location', ''))

    @freeze_time('2026-03-01')
    def test_a_link_cannot_be_used_to_test_card_numbers(self):
        plan, denied = self._denied_plan()
        token = pay_token(denied._get_payment_url())
        self.authenticate(None, None)
        answers = []
        for _attempt in range(const.LINK_MAX_ATTEMPTS_PER_LINK + 2):
            try:
                with mute_logger('odoo.http'):
                    self.make_jsonrpc_request(
                        f'/my/plans/{plan.id}/transaction', self._params(plan, token)
                    )
                answers.append('created')
            except JsonRpcException:
                answers.append('refused')
            # Each try leaves the payment under way: the customer gave up on the form.
            denied.transaction_ids.filtered(lambda tx: tx.state == 'draft').state = 'cancel'
            denied.date_last_online_payment = False
        self.assertEqual(answers.count('created'), const.LINK_MAX_ATTEMPTS_PER_LINK, answers)
        self.assertEqual(answers[-1], 'refused')

    # === COLLECTION REFERENCES === #

    def test_a_collection_reference_cannot_be_taken_by_another_payment(self):
        installment = self.bob_plan.installment_ids.sorted('sequence')[0]
        reference = installment._get_next_reference()
        self.assertTrue(collection.is_attempt_reference(reference))
        Transaction = self.env['payment.transaction']
        computed = Transaction._compute_reference('demo', prefix=reference)
        self.assertNotEqual(computed, reference)
        self.assertFalse(collection.is_attempt_reference(computed))
        with self.assertRaises(ValidationError):
            Transaction.create(
                {
                    'provider_id': self.provider.id,
                    'payment_method_id': self.payment_method.id,
                    'partner_id': self.bob.partner_id.id,
                    'amount': 0.0,
                    'currency_id': self.currency.id,
                    'reference': reference,
                    'operation': 'validation',
                }
            )

    @freeze_time('2026-03-01')
    def test_an_installment_never_waits_on_a_transaction_that_is_not_its_own(self):
        installment = self.bob_plan.installment_ids.sorted('sequence')[0]
        reference = installment._get_next_reference()
        # Taken before references were reserved (written as the old code let it be).
        squatter = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': self.alice.partner_id.id,
                'amount': 0.0,
                'currency_id': self.currency.id,
                'reference': 'placeholder',
                'operation': 'validation',
            }
        )
        self.env.cr.execute(
            "UPDATE payment_transaction SET reference = %s WHERE id = %s", (reference, squatter.id)
        )
        self.env.invalidate_all()
        installment._collect()
        self.assertEqual(installment.state, 'paid', "charged with the next reference")
        self.assertEqual(
            installment.transaction_ids.reference,
            collection.attempt_reference(installment.name, 2),
        )
