"""The second pass's attack review, each attack against the path it used: Odoo's own invoice and
order payment routes under the add-on's rules, a company contact without the company's
permission, payments that arrived and are not yet recorded (plan change, payment link, Cancel
Payment Attempt), an order edited after its plan was set up, a gateway plan moved to the card."""

import contextlib
import re
from unittest.mock import patch

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import Form, HttpCase, JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_demo.models.payment_transaction import (
    PaymentTransaction as DemoTransaction,
)
from odoo.addons.payment_plan.models.payment_plan_gateway import PaymentPlanGateway
from odoo.addons.payment_plan.tests.common import PaymentPlanCommon, WorkerKilled


@tagged('post_install', '-at_install')
class TestAttackReview(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'allow_tokenization': True, 'is_published': True})
        cls.env['ir.config_parameter'].sudo().set_param(
            'account_payment.enable_portal_payment', True
        )
        cls.acme, cls.alice, cls.bob = cls._create_company_contacts('rv')
        cls.bob_card = cls._create_card(partner=cls.bob.partner_id, details='2222')
        cls.salesperson = new_test_user(
            cls.env, login='rv_sales', groups='sales_team.group_sale_salesman', name="Sue Sales"
        )
        cls.customer.phone = '+32 470 12 34 56'

    # === HELPERS === #

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

    def _params(self, access_token, landing_route, **values):
        return {
            'access_token': access_token,
            'provider_id': self.provider.id,
            'payment_method_id': self.payment_method.id,
            'token_id': None,
            'amount': None,
            'flow': 'direct',
            'tokenization_requested': False,
            'landing_route': landing_route,
            **values,
        }

    def _try(self, route, params):
        """Post a transaction route; return its processing values, or None when refused."""
        with mute_logger('odoo.http'), contextlib.suppress(JsonRpcException):
            return self.make_jsonrpc_request(route, params)
        return None

    def _simulate(self, reference, state='done'):
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {'reference': reference, 'payment_details': '5555', 'simulated_state': state},
        )

    def _done(self, domain):
        self.env.invalidate_all()
        return self.env['payment.transaction'].search([*domain, ('state', '=', 'done')])

    # === ODOO'S OWN INVOICE ROUTE === #

    def _assert_bobs_card_refused_for(self, invoice):
        """Pay `invoice` on Odoo's invoice route with Bob's card on file: refused, not charged."""
        params = self._params(
            invoice._portal_ensure_token(),
            '/my/invoices',
            token_id=self.bob_card.id,
            amount=100.0,
            flow='token',
        )
        self.assertIsNone(self._try(f'/invoice/transaction/{invoice.id}', params))
        self.assertFalse(self._done([('token_id', '=', self.bob_card.id)]))

    def test_a_contact_cannot_pay_her_invoice_with_a_colleagues_card(self):
        invoice = self._invoice(self.alice.partner_id, 100.0)
        self.authenticate('rv_alice', 'rv_alice-password')
        self._assert_bobs_card_refused_for(invoice)

    def test_an_invoice_links_holder_never_charges_a_card_on_file(self):
        invoice = self._invoice(self.acme, 100.0)
        self.authenticate(None, None)
        self._assert_bobs_card_refused_for(invoice)

    def test_an_invoice_is_paid_through_an_enabled_provider_of_its_company(self):
        invoice = self._invoice(self.alice.partner_id, 100.0)
        company_b = self._create_company("Company B")
        foreign = self.provider.copy({'name': "Demo B", 'company_id': company_b.id})
        disabled = self.provider.copy({'name': "Demo off", 'state': 'disabled'})
        self.authenticate('rv_alice', 'rv_alice-password')
        token = invoice._portal_ensure_token()
        route = f'/invoice/transaction/{invoice.id}'
        for provider in (foreign, disabled):
            params = self._params(token, '/my/invoices', amount=100.0, provider_id=provider.id)
            self.assertIsNone(self._try(route, params), provider.name)
        self.assertFalse(invoice.transaction_ids)
        self.assertTrue(self._try(route, self._params(token, '/my/invoices', amount=100.0)))

    def test_an_invoice_is_not_paid_online_while_its_collection_charge_is_under_way(self):
        payer = self.alice.partner_id
        card = self._create_card(partner=payer, details='7777')
        plan = self._create_plan(
            partner_id=payer.id,
            collection_mode='token',
            token_id=card.id,
            plan_type='subscription',
            amount=50.0,
            installment_count=1,
            date_start=self.env['payment.plan.installment']._get_collection_today(),
        )
        plan.action_activate()
        installment = plan.installment_ids
        installment.with_user(self.plan_user).action_retry_now()
        original = DemoTransaction._send_payment_request

        def send_and_die(tx):
            original(tx)
            raise WorkerKilled()

        with patch.object(DemoTransaction, '_send_payment_request', send_and_die):
            try:
                self._run_after_commit()
            except WorkerKilled:
                self.env.invalidate_all()
        self.assertEqual(installment.state, 'processing', "the provider took 50.00")
        invoice = installment.invoice_id
        self.authenticate('rv_alice', 'rv_alice-password')
        params = self._params(invoice._portal_ensure_token(), '/my/invoices', amount=50.0)
        self.assertIsNone(self._try(f'/invoice/transaction/{invoice.id}', params))
        self.assertFalse(
            self._done([('invoice_ids', 'in', invoice.ids), ('operation', '!=', 'offline')])
        )

    # === ODOO'S OWN ORDER ROUTE === #

    def test_an_order_links_holder_never_charges_a_colleagues_card(self):
        self.customer.parent_id = self.acme
        order = self._create_installments_order(
            mode='token', price=300.0, user_id=self.salesperson.id
        )
        order.with_user(self.salesperson).action_payment_plan_request()
        self.assertEqual(order.payment_plan_status, 'pending')
        self.authenticate(None, None)
        params = self._params(
            order.access_token,
            order.get_portal_url(),
            token_id=self.bob_card.id,
            amount=100.0,
            flow='token',
        )
        self.assertIsNone(self._try(f'/my/orders/{order.id}/transaction', params))
        self._post_process_outcomes()
        self.assertFalse(self._done([('token_id', '=', self.bob_card.id)]))
        self.assertNotEqual(order.payment_plan_id.token_id, self.bob_card)

    # === A CONTACT WITHOUT THE COMPANY'S PERMISSION === #

    def _company_plans(self, count=2):
        company_card = self._create_card(partner=self.acme, details='3333')
        plans = self.env['payment.plan']
        for _n in range(count):
            plan = self._create_plan(
                partner_id=self.acme.id,
                collection_mode='token',
                token_id=company_card.id,
                amount=90.0,
                date_start='2030-01-01',
            )
            plan.action_activate()
            plans |= plan
        return company_card, plans

    def test_a_contact_cannot_replace_the_companys_card_from_its_plans_pay_page(self):
        company_card, plans = self._company_plans()
        self.assertFalse(self.alice._payment_plan_may_act(plans[0]))
        self.authenticate('rv_alice', 'rv_alice-password')
        params = self._params(
            None,
            plans[0].access_url,
            is_validation=True,
            payment_plan_make_default=True,
            tokenization_requested=True,
        )
        processing = self._try(f'/my/plans/{plans[0].id}/transaction', params)
        if processing:
            self._simulate(processing['reference'])
            self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(plans.token_id, company_card)
        self.assertTrue(company_card.is_default)

    @freeze_time('2026-03-01')
    def test_a_contact_paying_the_companys_overdue_installment_pays_as_herself(self):
        refused_card = self._create_card(partner=self.acme, details='3939', state='error')
        plan = self._create_plan(
            partner_id=self.acme.id,
            collection_mode='token',
            token_id=refused_card.id,
            amount=90.0,
            date_start='2026-03-01',
            max_attempts=1,
        )
        plan.action_activate()
        plan.installment_ids._collect()
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self.assertEqual(len(denied), 1)
        cards_before = self.env['payment.token'].search([('partner_id', '=', self.acme.id)])
        self.authenticate('rv_alice', 'rv_alice-password')
        processing = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            self._params(None, plan.access_url, tokenization_requested=True),
        )
        self._simulate(processing['reference'])
        self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(denied.state, 'paid', "her payment counts")
        self.assertEqual(
            self.env['payment.token'].search([('partner_id', '=', self.acme.id)]),
            cards_before,
            "her card is not saved as the company's, nor given the company's consent",
        )
        self.assertEqual(plan.token_id, refused_card)

    def test_a_contact_cannot_delete_the_companys_card_through_odoos_route(self):
        company_card, _plans = self._company_plans(count=1)
        self.authenticate('rv_alice', 'rv_alice-password')
        page = self.url_open('/web/login').text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        refused = self.url_open(
            f'/my/cards/{company_card.id}/delete',
            data={'csrf_token': csrf},
            allow_redirects=False,
        )
        self.assertEqual(refused.status_code, 404)
        self.make_jsonrpc_request('/payment/archive_token', {'token_id': company_card.id})
        self.env.invalidate_all()
        self.assertTrue(company_card.active)
        # Her own card, she may delete.
        own = self._create_card(partner=self.alice.partner_id, details='4444')
        self.make_jsonrpc_request('/payment/archive_token', {'token_id': own.id})
        self.env.invalidate_all()
        self.assertFalse(own.active)

    # === PAID, NOT YET RECORDED === #

    @freeze_time('2026-03-01')
    def test_a_plan_change_waits_for_a_payment_that_arrived(self):
        payer = self.alice.partner_id
        card = self._create_card(partner=payer, details='8181')
        plan = self._create_plan(
            partner_id=payer.id,
            collection_mode='token',
            token_id=card.id,
            amount=90.0,
            installment_count=3,
            date_start='2026-03-01',
        )
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._ensure_invoices()
        first._write_internal({'authentication_required': True})
        self.authenticate('rv_alice', 'rv_alice-password')
        processing = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            self._params(plan._portal_ensure_token(), plan.access_url, tokenization_requested=True),
        )
        self._simulate(processing['reference'])
        self.env.invalidate_all()
        early = Form(self.env['payment.plan.change'].with_context(default_plan_id=plan.id)).save()
        with self.assertRaisesRegex(UserError, "arrived and is being recorded"):
            early.action_apply()
        self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(first.state, 'paid')
        wizard = Form(self.env['payment.plan.change'].with_context(default_plan_id=plan.id))
        self.assertEqual(wizard.amount, 60.0, "the rest is what is still owed")
        wizard.save().action_apply()
        still_owed = sum(
            plan.installment_ids.filtered(lambda i: i.state == 'pending')
            ._get_open_amounts()
            .values()
        )
        self.assertEqual(still_owed, 60.0)

    def test_a_payment_link_of_an_amount_is_not_paid_twice(self):
        link = self.env['payment.plan.payment.link'].browse(
            self.env['payment.plan.payment.link.wizard']
            .create(
                {
                    'partner_id': self.customer.id,
                    'amount': 50.0,
                    'reason': "Registration fee",
                    'channel': 'email',
                }
            )
            .action_send()['res_id']
        )
        url = f'/payment_plan/pay/{link.id}/{link.sudo().access_token}'
        self.authenticate(None, None)
        paid = []
        for _attempt in range(2):
            processing = self._try(f'{url}/transaction', self._params('ignored', url, amount=50.0))
            if processing:
                self._simulate(processing['reference'])
                paid.append(processing['reference'])
        self._post_process_outcomes()
        self.assertEqual(len(paid), 1, "a link of 50.00 collects 50.00")
        self.assertEqual(link.state, 'paid')

    def test_cancel_payment_attempt_is_refused_once_the_customer_paid(self):
        order = self._create_installments_order(
            mode='token', price=300.0, user_id=self.salesperson.id
        )
        order.with_user(self.salesperson).action_payment_plan_request()
        self.authenticate(None, None)
        processing = self.make_jsonrpc_request(
            f'/my/orders/{order.id}/transaction',
            self._params(
                order.access_token,
                order.get_portal_url(),
                amount=order._get_payment_plan_first_amount(),
                tokenization_requested=True,
            ),
        )
        self._simulate(processing['reference'])
        self.env.invalidate_all()
        with self.assertRaises(UserError):
            order.with_user(self.salesperson).action_payment_plan_cancel_attempt()
        self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertEqual(order.payment_plan_id.state, 'active')

    # === AN ORDER EDITED AFTER ITS PLAN WAS SET UP === #

    def test_an_order_awaiting_its_first_payment_cannot_be_changed(self):
        order = self._create_installments_order(
            mode='token', price=300.0, user_id=self.salesperson.id
        )
        order.with_user(self.salesperson).action_payment_plan_request()
        self.assertTrue(order.payment_plan_id)
        with self.assertRaisesRegex(UserError, "awaits the first payment"):
            order.with_user(self.salesperson).order_line.write({'price_unit': 30.0})
        delivered = self.env['product.product'].create(
            {'name': "Boxes", 'type': 'consu', 'invoice_policy': 'delivery'}
        )
        with self.assertRaisesRegex(UserError, "awaits the first payment"):
            self.env['sale.order.line'].with_user(self.salesperson).create(
                {'order_id': order.id, 'product_id': delivered.id, 'product_uom_qty': 1}
            )
        self.assertEqual(order.amount_total, 300.0)
        # Once the attempt is cancelled, the order is the salesperson's to change again.
        order.with_user(self.salesperson).action_payment_plan_cancel_attempt()
        order.with_user(self.salesperson).order_line.write({'price_unit': 30.0})
        self.assertEqual(order.amount_total, 30.0)

    # === A GATEWAY PLAN MOVED TO THE CARD === #

    @freeze_time('2026-03-01')
    def test_a_gateway_plan_moved_to_the_card_tells_the_gateway_to_stop(self):
        gateway = self._create_gateway(schedule_url='https://gateway.example.com/schedules')
        sent = []

        def send_event(gateway_self, event_type, data):
            sent.append((gateway_self.id, event_type))
            return {}

        with patch.object(PaymentPlanGateway, '_send_event', send_event):
            plan = self._create_plan(
                collection_mode='gateway',
                gateway_id=gateway.id,
                amount=90.0,
                installment_count=3,
                date_start='2026-03-01',
            )
            plan.action_activate()
            self._run_after_commit()
            card = self._create_card(details='4545')
            plan.with_user(self.plan_user).write({'collection_mode': 'token', 'token_id': card.id})
            self._run_after_commit()
        self.assertEqual(
            sent, [(gateway.id, 'schedule.created'), (gateway.id, 'schedule.cancelled')]
        )

    @freeze_time('2026-03-01')
    def test_a_gateway_plan_whose_gateway_cannot_be_told_is_not_moved(self):
        gateway = self._create_gateway()
        plan = self._create_plan(
            collection_mode='gateway',
            gateway_id=gateway.id,
            amount=90.0,
            installment_count=3,
            date_start='2026-03-01',
        )
        plan.action_activate()
        card = self._create_card(details='4646')
        with self.assertRaisesRegex(UserError, "cannot be told to stop"):
            plan.with_user(self.plan_user).write({'collection_mode': 'token', 'token_id': card.id})
        self.env.invalidate_all()
        self.assertEqual(plan.collection_mode, 'gateway')
