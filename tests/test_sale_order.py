import html
import re
from unittest.mock import patch

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import JsonRpcException, new_test_user, tagged
from odoo.tools import format_date, mute_logger

from odoo.addons.payment_plan.tests.http_common import PaymentPlanHttpCommon

# A 1x1 PNG, as the portal's signature pad sends it.
SIGNATURE = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='


@tagged('post_install', '-at_install')
class TestSaleOrderPaidByPlan(PaymentPlanHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.phone = '+32 470 12 34 56'
        cls.company.payment_plan_notify_sms = True

    def test_the_order_page_shows_the_schedule_and_the_consent_before_paying(self):
        """Before paying, the payer reads the first payment, the dates and amounts their card
        will be charged and the statement they agree to (kept with their consent); after it,
        the plan and its next charge. No "Full amount", no odd percentage."""
        order = self._create_installments_order(price=320.0)
        order.action_payment_plan_request()
        plan = order.payment_plan_id
        first = order._get_payment_plan_first_amount()
        self.authenticate(None, None)
        page = self.url_open(order.get_portal_url()).text
        self.assertIn('First payment', page)
        self.assertNotIn('Full amount', page)
        self.assertNotIn('%)', page, "no down payment percentage")
        self.assertRegex(page, rf'o_payment_plan_first_amount">\$\s{first:.2f}<')
        preview = plan._get_schedule_preview()
        self.assertEqual([amount for _date, amount in preview], [106.66, 106.66, 106.68])
        rows = re.findall(
            r'<tr>\s*<td>\s*(.*?)\s*</td>\s*<td class="text-end">(.*?)</td>', page, flags=re.S
        )
        self.assertEqual(
            [(date_, amount.replace('\xa0', ' ')) for date_, amount in rows],
            [('Today', '$ 106.66')]
            + [(format_date(self.env, due), f'$ {amount:.2f}') for due, amount in preview[1:]],
        )
        consent_text = plan._get_consent_text()
        self.assertIn('$\xa0106.68 on ', consent_text)
        self.assertIn(html.escape(consent_text), page)
        tx = self._pay_from_link(order)
        self.assertEqual(tx.state, 'done')
        consent = self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        self.assertEqual(consent.channel, 'checkout')
        self.assertEqual(consent.text, consent_text, "the statement shown is the one kept")
        page = self.url_open(order.get_portal_url()).text
        self.assertIn(plan.name, page)
        self.assertIn('Next charge:', page)
        self.assertIn(format_date(self.env, plan.next_charge_date), page)

    def test_an_order_of_products_invoiced_on_delivery_is_refused_for_a_plan(self):
        order = self._create_installments_order(mode='manual')
        order.order_line.product_id.write({'type': 'consu', 'invoice_policy': 'delivery'})
        with self.assertRaisesRegex(UserError, "invoiced on delivered quantities"):
            order.action_payment_plan_request()
        self.assertEqual(order.state, 'draft')
        self.assertFalse(order.payment_plan_id)

    def test_the_order_page_refuses_a_provider_it_does_not_offer(self):
        order = self._create_installments_order(mode='manual')
        order.action_payment_plan_request()
        other_company = self._create_company("Company B")
        foreign = self.provider.copy({'name': "Demo B", 'company_id': other_company.id})
        self.authenticate(None, None)
        with mute_logger('odoo.http'), self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request(
                f'/my/orders/{order.id}/transaction',
                {
                    'access_token': order._portal_ensure_token(),
                    'provider_id': foreign.id,
                    'payment_method_id': self.payment_method.id,
                    'token_id': None,
                    'amount': order._get_payment_plan_first_amount(),
                    'flow': 'direct',
                    'tokenization_requested': False,
                    'landing_route': order.get_portal_url(),
                },
            )
        self.assertFalse(order.transaction_ids)

    def test_confirming_an_order_without_card_sends_the_payment_link_by_mail_and_sms(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        plan = order.payment_plan_id
        self.assertEqual(order.state, 'sent', "the order waits for its first payment")
        self.assertEqual(order.payment_plan_status, 'pending')
        self.assertEqual((plan.sale_order_id, plan.state), (order, 'draft'))
        self.assertEqual(
            (plan.plan_type, plan.amount, plan.installment_count), ('installments', 300, 3)
        )
        link = order.payment_plan_link
        self.assertIn(f'/my/orders/{order.id}?access_token={order.access_token}', link)
        self.assertIn('payment_amount=100.0', link)
        mail = self.env['mail.mail'].search(
            [('model', '=', 'sale.order'), ('res_id', '=', order.id)]
        )
        self.assertTrue(mail.filtered(lambda m: link.replace('&', '&amp;') in m.body_html))
        self.assertIn(self.customer, mail.recipient_ids)
        # One amount to pay: the first installment's, never a button of the order's total.
        body = mail.filtered(lambda m: 'Pay now' in m.body_html).body_html
        # What the reader sees: without the inbox preview, hidden, that repeats the text.
        body = re.sub(r'<div style="display: none;.*?</div>', '', body, count=1, flags=re.S)
        self.assertEqual(body.count('Pay now'), 1)
        self.assertIn('100.00', body)
        self.assertEqual(body.count('300.00'), 1, "the order's total only in the sentence")
        self.assertIn(f'<b>{self.env.company.name}</b>', body, "the company's footer")
        sms = self.env['sms.sms'].search([('partner_id', '=', self.customer.id)])
        self.assertTrue(sms.filtered(lambda s: link in s.body))
        # Re-sending sends the same link again.
        order.action_payment_plan_send_link()
        self.assertEqual(
            self.env['sms.sms'].search_count([('partner_id', '=', self.customer.id)]), 2
        )

    def test_paying_the_link_closes_the_order_by_itself(self):
        order = self._create_installments_order(user_id=self.plan_user.id)
        order.action_payment_plan_request()
        tx = self._pay_from_link(order)
        plan = order.payment_plan_id
        self.assertEqual(tx.state, 'done')
        self.assertEqual(order.state, 'sale')
        self.assertTrue(order.locked)
        self.assertEqual(order.payment_plan_status, 'paid')
        invoice = order.invoice_ids
        self.assertEqual((invoice.state, invoice.amount_total), ('posted', 300))
        self.assertEqual(invoice.amount_residual, 200, "the first installment is reconciled")
        self.assertEqual(tx.payment_id.reconciled_invoice_ids, invoice)
        # The plan runs on the card the payment saved, and pays shares of the order's invoice.
        self.assertEqual(plan.state, 'active')
        self.assertEqual(plan.token_id, tx.token_id)
        self.assertTrue(tx.token_id, "the card was saved for the following installments")
        self.assertEqual(plan.invoice_id, invoice)
        first = plan.installment_ids.sorted('sequence')[0]
        self.assertEqual((first.state, first.transaction_ids), ('paid', tx))
        self.assertEqual(
            plan.installment_ids.sorted('sequence').mapped('state'), ['paid', 'pending', 'pending']
        )
        self.assertTrue(
            order.message_ids.filtered(lambda m: 'first payment arrived' in (m.body or ''))
        )
        # Made in the public visitor's request: no mail from them (they have no address).
        self.assertFalse(
            self.env['mail.mail']
            .search([('model', '=', 'account.move'), ('res_id', '=', invoice.id)])
            .filtered(lambda mail: not mail.email_from),
        )
        self.assertEqual(
            self.env['sale.order'].search(
                [('payment_plan_status', '=', 'paid'), ('id', '=', order.id)]
            ),
            order,
        )

    def test_the_down_payment_reads_its_percentage_with_two_decimals(self):
        order = self._create_installments_order(price=100.0)
        order.action_payment_plan_request()
        self.assertAlmostEqual(order.prepayment_percent, 33.33 / 100.0)
        # The customer's page reads "First payment" without a percentage (see
        # test_the_order_page_shows_the_schedule_and_the_consent_before_paying).
        arch = self.env['sale.order'].get_views([(False, 'form')])['views']['form']['arch']
        self.assertRegex(arch, r'name="prepayment_percent"[^>]*digits="\[16, 2\]"')

    def test_failed_payment_leaves_the_order_pending_with_the_error(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        tx = self._pay_from_link(order, simulated_state='error')
        self.assertEqual(tx.state, 'error')
        self.assertEqual(order.state, 'sent')
        self.assertFalse(order.invoice_ids)
        self.assertEqual(order.payment_plan_status, 'error')
        self.assertEqual(order.payment_plan_error, tx.state_message)
        self.assertTrue(order.payment_plan_link, "the link stays, to pay again")
        self.assertEqual(order.payment_plan_id.state, 'draft')

    def test_refresh_applies_an_outcome_not_yet_processed(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        tx = self._pay_from_link(order, poll=False)
        self.assertEqual((tx.state, tx.is_post_processed), ('done', False))
        self.assertEqual(order.payment_plan_status, 'pending')
        order.action_payment_plan_refresh()
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertTrue(order.locked)

    def test_a_failing_post_processing_answers_the_status_page_and_is_retried(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        tx = self._pay_from_link(order, poll=False)

        def fail(_self):
            raise UserError(self.env._("The invoice could not be posted."))

        with (
            patch(
                'odoo.addons.payment_plan.models.payment_transaction.PaymentTransaction'
                '._post_process',
                fail,
            ),
            mute_logger('odoo.addons.payment.controllers.post_processing'),
            self.assertLogs('odoo.addons.payment_plan.controllers.post_processing', 'WARNING'),
        ):
            answer = self.make_jsonrpc_request('/payment/status/poll', {})
        self.assertEqual(answer['state'], 'done', "the customer gets the normal answer")
        self.assertTrue(answer['landing_route'])
        tx.invalidate_recordset()
        self.assertFalse(tx.is_post_processed, "left to the post-processing cron")
        self._post_process_outcomes()
        self.assertEqual(order.payment_plan_status, 'paid')

    def test_cancel_payment_attempt_keeps_the_order(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        plan = order.payment_plan_id
        order.action_payment_plan_cancel_attempt()
        self.assertEqual(plan.state, 'cancelled')
        self.assertFalse(order.payment_plan_id)
        self.assertEqual(order.payment_plan_status, 'none')
        self.assertEqual(order.state, 'sent', "the order is not cancelled")

    @freeze_time('2026-03-01')
    def test_card_on_file_is_charged_at_confirmation(self):
        card = self._create_card()
        order = self._create_installments_order()
        self.assertEqual(order.payment_plan_token_id, card, "the default card is proposed")
        order.action_payment_plan_request()
        self._run_after_commit()
        plan = order.payment_plan_id
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertTrue(order.locked)
        self.assertEqual(order.invoice_ids.amount_residual, 200)
        self.assertEqual(plan.state, 'active')
        self.assertEqual(plan.installment_ids.sorted('sequence')[0].state, 'paid')
        self.assertFalse(
            self.env['sms.sms'].search([('partner_id', '=', self.customer.id)]),
            "no link when the card on file pays",
        )

    @freeze_time('2026-03-01')
    def test_refused_card_on_file_shows_the_error_on_the_order(self):
        self._create_card(state='error')
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self._run_after_commit()
        self.assertEqual(order.state, 'sent')
        self.assertEqual(order.payment_plan_status, 'error')
        self.assertTrue(order.payment_plan_error)
        orders = self.env['sale.order']
        self.assertIn(order, orders.search([('payment_plan_status', '=', 'error')]))
        self.assertNotIn(order, orders.search([('payment_plan_status', '=', 'pending')]))

    @freeze_time('2026-03-01')
    def test_subscription_order_is_charged_per_period(self):
        self._create_card()
        order = self._create_order(
            price=49.0,
            payment_plan_kind='subscription',
            payment_plan_installment_count=0,
            payment_plan_interval_unit='month',
        )
        order.action_payment_plan_request()
        self._run_after_commit()
        plan = order.payment_plan_id
        self.assertEqual((plan.plan_type, plan.amount), ('subscription', 49))
        self.assertEqual(order.payment_plan_status, 'paid')
        self.assertEqual(order.invoice_ids.amount_residual, 0)
        self.assertEqual(plan.installment_ids.sorted('sequence')[0].invoice_id, order.invoice_ids)
        # The next period is invoiced by the plan, from the order's lines: the order shows it,
        # its lines' invoiced quantities stay the order's own (nothing left to invoice).
        second = plan.installment_ids.sorted('sequence')[1]
        with freeze_time(second.due_date):
            second._collect()
        self.assertEqual(second.state, 'paid')
        order.invalidate_recordset(['invoice_ids', 'invoice_count'])
        self.assertEqual(order.invoice_count, 2)
        self.assertIn(second.invoice_id, order.invoice_ids)
        self.assertEqual(second.invoice_id.invoice_origin, f'{order.name}, {plan.name}')
        self.assertEqual(second.invoice_id.invoice_line_ids.product_id, order.order_line.product_id)
        self.assertEqual(order.order_line.qty_invoiced, 1.0)
        self.assertEqual(order.invoice_status, 'invoiced')

    def test_order_without_plan_confirms_as_usual(self):
        order = self._create_order()
        order.action_confirm()
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.payment_plan_status, 'none')
        self.assertFalse(order.payment_plan_id)

    def test_payment_status_filters(self):
        pending = self._create_installments_order()
        pending.action_payment_plan_request()
        failed = self._create_installments_order()
        failed.action_payment_plan_request()
        self._pay_from_link(failed, simulated_state='error')
        plain = self._create_order()
        orders = self.env['sale.order']
        self.assertEqual(
            orders.search(
                [
                    ('payment_plan_status', '=', 'pending'),
                    ('id', 'in', (pending | failed | plain).ids),
                ]
            ),
            pending,
        )
        self.assertEqual(
            orders.search(
                [
                    ('payment_plan_status', '=', 'error'),
                    ('id', 'in', (pending | failed | plain).ids),
                ]
            ),
            failed,
        )

    def test_salesperson_sells_in_installments_from_the_order_form(self):
        order = self._create_order()
        self.start_tour(
            f'/odoo/action-sale.action_quotations_with_onboarding/{order.id}',
            'payment_plan_order_tour',
            login='admin',
        )
        plan = order.payment_plan_id
        self.assertEqual((plan.plan_type, plan.installment_count), ('installments', 3))
        self.assertEqual(order.payment_plan_status, 'pending')
        self.assertTrue(self.env['sms.sms'].search([('partner_id', '=', self.customer.id)]))

    def test_an_order_refuses_a_schedule_out_of_bounds(self):
        cases = [
            ({'payment_plan_kind': 'subscription', 'payment_plan_interval_number': 20000,
              'payment_plan_interval_unit': 'year'}, "at most 10 years"),
            ({'payment_plan_interval_number': 0}, "at least 1"),
            ({'payment_plan_installment_count': 361}, "at most 360"),
        ]  # fmt: skip
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                self._create_order(
                    **{
                        'payment_plan_kind': 'installments',
                        'payment_plan_installment_count': 3,
                        **values,
                    }
                )
        self._create_order(payment_plan_kind='none', payment_plan_installment_count=1000)

    def test_the_quotation_previews_what_the_customer_pays(self):
        order = self._create_installments_order(price=100.0)
        fmt = order.currency_id.format
        self.assertEqual(
            order.payment_plan_preview, f"2 × {fmt(33.33)} + 1 × {fmt(33.34)}, every month"
        )
        order.write({'payment_plan_kind': 'subscription', 'payment_plan_installment_count': 0})
        self.assertIn("no end", order.payment_plan_preview)
        self.assertIn(order.currency_id.format(100.0), order.payment_plan_preview)
        order.payment_plan_installment_count = 12
        self.assertTrue(order.payment_plan_preview.startswith("12 × "))


@tagged('post_install', '-at_install')
class TestOrderPaidByPlanOnAPhone(PaymentPlanHttpCommon):
    """The customer pays an order's first installment from its link on a 390 px phone."""

    browser_size = '390x844'
    touch_enabled = True

    def test_tour_the_first_payment_from_the_link_on_a_phone(self):
        self.provider.write({'is_published': True})
        order = self._create_installments_order(price=300.0)
        order.action_payment_plan_request()
        link = order._get_payment_plan_link().removeprefix(order.get_base_url())
        self.start_tour(link, 'payment_plan_demo_pay_link_tour')
        self.assertEqual((order.state, order.payment_plan_status), ('sale', 'paid'))
        self.assertEqual(order.payment_plan_id.state, 'active')


@tagged('post_install', '-at_install')
class TestOrderConfirmedOnce(PaymentPlanHttpCommon):
    """An order paid by plan is confirmed by Odoo's confirmation once, when its first payment
    arrives: what modules do on confirmation (a subscription, a delivery) is done once."""

    def _sign(self, order):
        """Sign the quotation on its page, as the customer does; return the route's answer."""
        order.action_quotation_sent()
        self.authenticate(None, None)
        return self.make_jsonrpc_request(
            f'/my/orders/{order.id}/accept',
            {'access_token': order._portal_ensure_token(), 'name': "Paula", 'signature': SIGNATURE},
        )

    def _confirmations(self, order):
        """The order's moves to Sales Order, as its chatter tracks them."""
        return order.message_ids.tracking_value_ids.filtered(
            lambda v: v.field_id.name == 'state' and v.new_value_char == 'Sales Order'
        )

    def test_confirming_an_order_paid_by_plan_is_refused_before_its_first_payment(self):
        order = self._create_installments_order()
        with self.assertRaisesRegex(UserError, "confirmed by their first payment"):
            order.action_confirm()
        self.assertEqual((order.state, order.payment_plan_id.id), ('draft', False))
        order.action_payment_plan_request()
        with self.assertRaisesRegex(UserError, "confirmed by their first payment"):
            order.action_confirm()
        self.assertEqual(order.state, 'sent')
        with self.assertRaisesRegex(UserError, "Only quotations paid by plan"):
            self._create_order().action_payment_plan_request()

    def test_the_first_payment_confirms_the_order_once(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.assertEqual(order.state, 'sent')
        self.assertFalse(self._confirmations(order))
        self._pay_from_link(order)
        self.assertEqual((order.state, order.payment_plan_status), ('sale', 'paid'))
        self.assertEqual(len(self._confirmations(order)), 1)
        # The order's page polled again, the payment post-processed again: still once.
        order.transaction_ids._post_process()
        self.assertEqual(len(self._confirmations(order)), 1)
        self.assertEqual(len(order.invoice_ids), 1)

    def test_the_invoice_a_customer_paid_on_the_order_page_is_mailed_by_odoobot(self):
        """The customer pays the first installment as a public visitor: the invoice it paid is
        mailed to them on OdooBot's behalf, as Odoo's own paid orders are (OdooBot is told if
        it fails), never on the public user's."""
        self.company.payment_plan_invoice_mail = 'all'
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self._pay_from_link(order)
        invoice = order.invoice_ids
        self.assertEqual((order.state, invoice.payment_state), ('sale', 'partial'))
        self.assertEqual(
            (invoice.sending_data['author_user_id'], invoice.sending_data['author_partner_id']),
            (self.env.ref('base.user_root').id, self.env.ref('base.partner_root').id),
        )
        self.env['account.move.send']._generate_and_send_invoices(invoice, from_cron=True)
        mail = self.env['mail.message'].search(
            [
                ('model', '=', 'account.move'),
                ('res_id', '=', invoice.id),
                ('message_type', '=', 'comment'),
                ('partner_ids', 'in', self.customer.ids),
            ]
        )
        self.assertTrue(mail.attachment_ids, "with the invoice's PDF")
        self.assertNotIn(
            self.env.ref('base.public_partner'), mail.author_id | invoice.message_partner_ids
        )

    def test_a_cancelled_attempt_then_a_paid_one_confirm_the_order_once(self):
        order = self._create_installments_order()
        order.action_payment_plan_request()
        order.action_payment_plan_cancel_attempt()
        self.assertEqual((order.state, order.payment_plan_status), ('sent', 'none'))
        self.assertFalse(self._confirmations(order))
        order.action_payment_plan_request()
        self._pay_from_link(order)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(len(self._confirmations(order)), 1)

    def test_an_authorized_or_short_payment_leaves_the_order_a_quotation(self):
        """Odoo confirms a quotation on an authorized payment, or on one that reaches its
        prepayment: an order paid by plan waits for a payment that covers its first
        installment."""
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.provider.capture_manually = True
        tx = self._pay_from_link(order)
        self.assertEqual(tx.state, 'authorized')
        self.assertEqual(order.state, 'sent')
        self.assertFalse(self._confirmations(order))

    def test_a_customer_who_signs_a_quotation_paid_by_plan_is_asked_its_first_payment(self):
        order = self._create_installments_order()
        order.write({'require_signature': True, 'require_payment': False})
        answer = self._sign(order)
        self.assertIn('allow_payment=yes', answer['redirect_url'])
        self.assertEqual((order.state, order.payment_plan_status), ('sent', 'pending'))
        self.assertTrue(order.require_payment, "the customer pays the first installment")
        self.assertFalse(self._confirmations(order))

    def test_a_salesperson_cannot_confirm_an_unpaid_order_by_a_context_key(self):
        """Odoo's confirmation of an order paid by plan is allowed by its first payment only,
        never by a key a caller puts in the context of an RPC."""
        salesperson = new_test_user(
            self.env, login='salesperson_ctx', groups='sales_team.group_sale_salesman'
        )
        order = self._create_installments_order(user_id=salesperson.id)
        with self.assertRaisesRegex(UserError, "confirmed by their first payment"):
            order.with_user(salesperson).with_context(
                payment_plan_paid=True, payment_plan_confirming_orders=[order.id]
            ).action_confirm()
        self.assertEqual(order.state, 'draft')

    def test_only_staff_who_may_sell_the_order_request_its_first_payment(self):
        """Another company's salesperson, and a colleague who sells their own orders only,
        cannot set up another's order's plan or charge its customer's card, over RPC."""
        order = self._create_installments_order()
        other_company = self._create_company("Company B")
        outsider = new_test_user(
            self.env,
            login='salesperson_company_b',
            groups='sales_team.group_sale_salesman_all_leads,payment_plan.group_user',
            company_id=other_company.id,
            company_ids=[Command.set(other_company.ids)],
        )
        colleague = new_test_user(
            self.env, login='salesperson_own', groups='sales_team.group_sale_salesman'
        )
        for user in (outsider, colleague):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                order.with_user(user).action_payment_plan_request()
        self.assertEqual((order.state, order.payment_plan_status), ('draft', 'none'))
        self.assertFalse(order.payment_plan_id or order.transaction_ids)

    def test_an_order_is_not_paid_from_its_page_before_its_plan_is_set_up(self):
        """Paid before its plan was set up (or after its attempt was cancelled), a payment
        would count for nothing and the card be charged again: the page takes no payment, and
        a payment that arrived anyway stops Request First Payment."""
        order = self._create_installments_order(require_payment=True, prepayment_percent=1.0)
        order.action_quotation_sent()
        self.assertFalse(order._has_to_be_paid(), "no Pay button")
        self.authenticate(None, None)
        with mute_logger('odoo.http'), self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request(
                f'/my/orders/{order.id}/transaction',
                {
                    'access_token': order._portal_ensure_token(),
                    'provider_id': self.provider.id,
                    'payment_method_id': self.payment_method.id,
                    'token_id': None,
                    'amount': 300.0,
                    'flow': 'direct',
                    'tokenization_requested': False,
                    'landing_route': order.get_portal_url(),
                },
            )
        self.assertFalse(order.transaction_ids)
        # A payment that arrived by another way (a provider's late answer).
        tx = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'reference': 'early payment',
                'amount': 300.0,
                'currency_id': order.currency_id.id,
                'partner_id': order.partner_id.id,
                'sale_order_ids': [Command.set(order.ids)],
            }
        )
        tx._set_done()
        tx._post_process()
        self.assertEqual(order.state, 'sent', "not confirmed by Odoo's amount check either")
        self._create_card()
        with self.assertRaisesRegex(UserError, "already received"):
            order.action_payment_plan_request()
        self.assertFalse(order.payment_plan_id)

    def test_with_automatic_invoicing_the_first_payment_invoices_the_order_once(self):
        """Sales' *Automatic Invoice* invoices paid orders, a down payment for a partial
        payment: an order paid by plan is invoiced by its plan, once, for its total."""
        self.env['ir.config_parameter'].sudo().set_param('sale.automatic_invoice', 'True')
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self._pay_from_link(order)
        self.assertEqual((order.state, order.payment_plan_status), ('sale', 'paid'))
        invoices = order.invoice_ids
        self.assertEqual(len(invoices), 1)
        self.assertEqual((invoices.amount_total, invoices.amount_residual), (300.0, 200.0))
        self.assertFalse(order.order_line.filtered('is_downpayment'))
        self.assertEqual(len(self._confirmations(order)), 1)

    def test_a_signed_quotation_that_cannot_be_paid_by_plan_says_why(self):
        order = self._create_installments_order()
        order.order_line.product_id.write({'type': 'consu', 'invoice_policy': 'delivery'})
        order.write({'require_signature': True, 'require_payment': False})
        answer = self._sign(order)
        self.assertIn('redirect_url', answer, "no error page for the customer")
        self.assertEqual((order.state, order.payment_plan_id.id), ('sent', False))
        self.assertTrue(
            any("could not be requested" in body for body in order.message_ids.mapped('body'))
        )
