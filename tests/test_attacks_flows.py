"""Attacks on the payment links, the back-office card deletion, the customer removal and the
default card that drives the plans (review 16): each test names the attack and asserts that it
ends in a safe state."""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import HttpCase, JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon

REFUSED = (AccessError, UserError, ValidationError)


@tagged('post_install', '-at_install')
class TestAttacksFlows(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'is_published': True})
        cls.invoice = cls._make_invoice(cls.customer, 80.0)
        cls.other_invoice = cls._make_invoice(cls.other_customer, 900.0)
        cls.biller = new_test_user(
            cls.env,
            login='biller',
            password='biller',
            groups='payment_plan.group_user,account.group_account_invoice',
            name="Bea Biller",
        )

    @classmethod
    def _make_invoice(cls, partner, price):
        invoice = cls.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': partner.id,
                'invoice_line_ids': [
                    Command.create({'name': "Fee", 'price_unit': price, 'tax_ids': []})
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _send(self, user=None, partner=None, **values):
        user = user or self.biller
        partner = partner or self.customer
        action = partner.with_user(user).action_payment_plan_send_payment_link()
        wizard = (
            self.env['payment.plan.payment.link.wizard']
            .with_user(user)
            .with_context(**action['context'])
            .create(values)
        )
        result = wizard.action_send()
        return self.env['payment.plan.payment.link'].browse(result['res_id'])

    def _start(self, link, provider=None):
        url = f'/payment_plan/pay/{link.id}/{link.sudo().access_token}'
        processing = self.make_jsonrpc_request(
            f'{url}/transaction',
            {
                'access_token': 'ignored',
                'provider_id': (provider or self.provider).id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': 0.01,
                'flow': 'direct',
                'tokenization_requested': False,
                'landing_route': url,
            },
        )
        return processing['reference']

    def _complete(self, reference, state='done'):
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {'reference': reference, 'payment_details': '5555', 'simulated_state': state},
        )
        tx = self.env['payment.transaction'].search([('reference', '=', reference)])
        tx._post_process()
        return tx

    # === PAYMENT LINKS === #

    @mute_logger('odoo.http')
    def test_link_paid_twice_from_two_tabs(self):
        """Two tabs of the same link: the second payment must be refused while the first is
        under way, else the customer pays the invoice twice."""
        link = self._send()
        first = self._start(link)
        try:
            second = self._start(link)
        except JsonRpcException:
            return  # Refused: safe.
        tx1 = self._complete(first)
        tx2 = self._complete(second)
        paid = (tx1 | tx2).filtered(lambda tx: tx.state == 'done')
        self.assertEqual(
            sum(paid.mapped('amount')),
            80.0,
            f"the customer was charged {sum(paid.mapped('amount'))} for a link of 80 "
            f"(invoice residual {self.invoice.amount_residual})",
        )

    @mute_logger('odoo.http')
    def test_link_of_a_cancelled_invoice_is_not_payable(self):
        """The invoice was cancelled after the link was sent: nothing is owed any more."""
        link = self._send()
        self.invoice.button_draft()
        self.invoice.button_cancel()
        self.assertEqual(self.invoice.state, 'cancel')
        try:
            reference = self._start(link)
        except JsonRpcException:
            return
        tx = self._complete(reference)
        self.assertNotEqual(
            tx.state, 'done', f"{tx.amount} collected for the cancelled invoice {self.invoice.name}"
        )

    def test_wizard_refuses_an_invoice_of_another_customer(self):
        """A plan user forges the wizard (RPC, or changes the customer after picking the
        invoice): a link for Paula on Oscar's invoice."""
        try:
            link = self._send(invoice_id=self.other_invoice.id, amount=900.0, reason="Forged")
        except REFUSED:
            return
        tx = self._complete(self._start(link))
        self.assertEqual(
            link.invoice_id.commercial_partner_id,
            link.partner_id.commercial_partner_id,
            f"link for {link.partner_id.name} pays {link.invoice_id.partner_id.name}'s invoice: "
            f"{tx.partner_id.name} charged {tx.amount}, {self.other_invoice.partner_id.name}'s "
            f"invoice now open {self.other_invoice.amount_residual} ({self.other_invoice.payment_state})",
        )

    def test_wizard_refuses_a_company_the_user_is_not_in(self):
        """A plan user of company A only sends a link in the name of company B."""
        company_b = self._create_company("Company B")
        self.assertNotIn(company_b, self.plan_user.company_ids)
        try:
            link = self._send(
                user=self.plan_user,
                company_id=company_b.id,
                invoice_id=False,
                amount=500.0,
                reason="Fee",
            )
        except REFUSED:
            return
        self.assertNotEqual(link.sudo().company_id, company_b, "link created in company B")

    @mute_logger('odoo.http')
    def test_link_paid_with_a_provider_of_another_company(self):
        """The visitor posts the provider id of another company: the payment must be refused
        (it is not among the providers the page offers)."""
        company_b = self._create_company("Company B")
        provider_b = self.provider.copy({'company_id': company_b.id, 'state': 'test'})
        link = self._send()
        try:
            reference = self._start(link, provider=provider_b)
        except JsonRpcException:
            return
        tx = self.env['payment.transaction'].search([('reference', '=', reference)])
        self.assertEqual(
            tx.company_id, link.company_id, "link of company A paid to company B's provider"
        )

    @mute_logger('odoo.http')
    def test_link_paid_with_a_disabled_provider(self):
        """The visitor posts the id of a disabled provider."""
        link = self._send()
        self.provider.state = 'disabled'  # The merchant switched it off after sending.
        try:
            reference = self._start(link)
        except JsonRpcException:
            return
        tx = self._complete(reference)
        self.assertNotEqual(tx.state, 'done', "a disabled provider settled the link's invoice")

    def test_salesperson_without_the_group_cannot_send_links(self):
        salesperson = new_test_user(
            self.env, login='seller', groups='sales_team.group_sale_salesman', name="Sam Seller"
        )
        with self.assertRaises(AccessError):
            self.env['payment.plan.payment.link.wizard'].with_user(salesperson).create(
                {'partner_id': self.customer.id, 'amount': 10.0, 'reason': "x"}
            ).action_send()
        with self.assertRaises(AccessError):
            self.env['payment.plan.customer.remove'].with_user(salesperson).create(
                {'partner_ids': [Command.set(self.customer.ids)]}
            ).action_remove()
        card = self._create_card()
        with self.assertRaises(AccessError):
            self.env['payment.plan.card.delete'].with_user(salesperson).create(
                {'token_id': card.id}
            ).action_delete()
        self.assertTrue(card.active)
        self.assertTrue(self.customer.active)

    # === REMOVE CUSTOMERS === #

    def test_customer_removal_spares_plans_of_other_companies(self):
        """A plan user of company A removes a shared customer: the customer's plan in company B,
        which the user cannot see, must not be cancelled."""
        company_b = self._create_company("Company B")
        plan_b = (
            self.env['payment.plan']
            .with_company(company_b)
            .create(
                {
                    'partner_id': self.customer.id,
                    'company_id': company_b.id,
                    'plan_type': 'installments',
                    'amount': 100.0,
                    'installment_count': 3,
                    'date_start': '2026-01-31',
                    'collection_mode': 'manual',
                }
            )
        )
        plan_b.action_activate()
        state = plan_b.state
        self.assertNotIn(company_b, self.plan_user.company_ids)
        try:
            self.env['payment.plan.customer.remove'].with_user(self.plan_user).create(
                {'partner_ids': [Command.set(self.customer.ids)]}
            ).action_remove()
        except REFUSED:
            return
        self.assertEqual(
            plan_b.state, state, "company B's plan cancelled by a user of company A only"
        )

    # === DEFAULT CARD DRIVES THE PLANS === #

    def test_a_contacts_new_card_does_not_take_over_a_colleagues_plan(self):
        """ACME's contacts John and Mary: Mary's plan is charged to Mary's card. John saves his
        first card (it becomes his default): Mary's plan must stay on Mary's card."""
        acme = self.env['res.partner'].create({'name': "ACME", 'is_company': True})
        mary = self.env['res.partner'].create(
            {'name': "Mary", 'parent_id': acme.id, 'email': 'mary@acme.example'}
        )
        john = self.env['res.partner'].create(
            {'name': "John", 'parent_id': acme.id, 'email': 'john@acme.example'}
        )
        mary_card = self._create_card(partner=mary, details='1111')
        plan = self._create_plan(partner_id=mary.id, collection_mode='token', token_id=mary_card.id)
        plan.action_activate()
        self.assertEqual(plan.token_id, mary_card)
        john_card = self._create_card(partner=john, details='2222')
        self.assertTrue(john_card.is_default)
        self.assertEqual(plan.token_id, mary_card, "Mary's plan now charges John's personal card")

    # === MORE === #

    @mute_logger('odoo.http')
    def test_link_refused_while_another_payment_of_its_invoice_is_under_way(self):
        """A charge of the invoice (a plan's card charge, a pay-now) is pending at the bank: the
        plan side refuses a second charge of such an invoice; the link must too."""
        link = self._send()
        pending = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'reference': 'PENDING-CHARGE-1',
                'amount': 80.0,
                'currency_id': self.currency.id,
                'partner_id': self.customer.id,
                'operation': 'offline',
                'invoice_ids': [Command.set(self.invoice.ids)],
            }
        )
        pending._set_pending()
        self.assertTrue(self.invoice._payment_plan_get_charges_under_way())
        try:
            reference = self._start(link)
        except JsonRpcException:
            return
        self._complete(reference)
        pending._set_done()
        pending._post_process()
        self.assertEqual(
            self.invoice.amount_residual,
            0.0,
        )
        paid = self.env['payment.transaction'].search(
            [('invoice_ids', 'in', self.invoice.ids), ('state', '=', 'done')]
        )
        self.assertEqual(sum(paid.mapped('amount')), 80.0, "the invoice of 80 was paid twice")

    def test_a_card_of_another_company_cannot_be_deleted(self):
        company_b = self._create_company("Company B")
        provider_b = self.provider.copy({'company_id': company_b.id, 'state': 'test'})
        card_b = self._create_card(provider=provider_b, details='9999')
        self.assertEqual(card_b.company_id, company_b)
        with self.assertRaises(AccessError):
            self.env['payment.plan.card.delete'].with_user(self.plan_user).create(
                {'token_id': card_b.id}
            ).action_delete()
        self.assertTrue(card_b.active)

    def test_b2b_activation_creates_no_account_for_a_colleague_of_a_payer(self):
        """Sign-up on invitation only: Mary of ACME pays by plan. John, another ACME contact the
        merchant never invited, asks for an account with his email: he gets none (a colleague's
        plan does not make him a payer)."""
        self.env['ir.config_parameter'].sudo().set_param('auth_signup.invitation_scope', 'b2b')
        acme = self.env['res.partner'].create({'name': "ACME", 'is_company': True})
        mary = self.env['res.partner'].create(
            {'name': "Mary", 'parent_id': acme.id, 'email': 'mary@acme.example'}
        )
        self.env['res.partner'].create(
            {'name': "John", 'parent_id': acme.id, 'email': 'john@acme.example'}
        )
        self._create_plan(partner_id=mary.id).action_activate()
        user = self.env['payment.plan.activation']._activate('john@acme.example')
        self.assertFalse(user, "an account was created for an ACME contact never invited")

    def test_link_currency_other_than_its_invoice(self):
        """The operator (multi-currency: the field is on the form) picks EUR for a link on an
        invoice in the company's currency: the invoice's currency is used, never the form's."""
        eur = self.env.ref('base.EUR')
        other = eur if self.currency != eur else self.env.ref('base.USD')
        other.active = True
        self.env['res.currency.rate'].create(
            {
                'currency_id': other.id,
                'rate': 2.0 / (self.currency.rate or 1.0),
                'name': '2000-01-01',
                'company_id': self.company.id,
            }
        )
        try:
            link = self._send(currency_id=other.id)
        except REFUSED:
            return
        self.assertEqual(link.currency_id, self.invoice.currency_id, "the invoice's currency")
        tx = self._complete(self._start(link))
        self.assertFalse(
            link.status == 'paid' and self.invoice.amount_residual > 0,
            f"link paid with {tx.amount} {tx.currency_id.name}, invoice still open "
            f"{self.invoice.amount_residual} {self.invoice.currency_id.name}",
        )

    def test_link_capped_by_a_partly_paid_invoice_ends_paid(self):
        """Half of the invoice was paid another way after the link was sent: the customer pays
        the rest (40) by the link, which must then read 'paid', not stay open and expire."""
        link = self._send()
        self.env['account.payment.register'].with_context(
            active_model='account.move', active_ids=self.invoice.ids
        ).create({'amount': 40.0})._create_payments()
        self.assertEqual(self.invoice.amount_residual, 40.0)
        tx = self._complete(self._start(link))
        self.assertEqual((tx.amount, self.invoice.amount_residual), (40.0, 0.0))
        self.assertEqual(link.status, 'paid', "the link paid in full is left open")

    @mute_logger('odoo.http')
    def test_link_holder_cannot_charge_the_card_on_file(self):
        """The link page never shows the cards on file; whoever holds the link (a forwarded SMS)
        posts flow 'token' with the id of the customer's saved card (ids are sequential): it is
        refused, the card is never charged without the customer entering it."""
        card = self._create_card()
        link = self._send()
        url = f'/payment_plan/pay/{link.id}/{link.sudo().access_token}'
        try:
            processing = self.make_jsonrpc_request(
                f'{url}/transaction',
                {
                    'provider_id': self.provider.id,
                    'payment_method_id': None,
                    'token_id': card.id,
                    'amount': 80.0,
                    'flow': 'token',
                    'tokenization_requested': False,
                    'landing_route': url,
                },
            )
        except JsonRpcException:
            return
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        self.assertNotEqual(
            (tx.token_id, tx.state),
            (card, 'done'),
            "the customer's card on file was charged through the link",
        )
