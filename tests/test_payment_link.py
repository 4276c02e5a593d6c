"""Payment links: an amount (or an open invoice) a customer pays by link, email and/or SMS, on the
provider's own form, where they may save the card with their consent."""

import re
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import HttpCase, JsonRpcException, freeze_time, new_test_user, tagged
from odoo.tools import html2plaintext, mute_logger

from odoo.addons.mail.tests.common import MockEmail
from odoo.addons.payment_plan.tests.common import PaymentPlanCommon
from odoo.addons.sms.tests.common import MockSMS


@tagged('post_install', '-at_install')
class TestPaymentLink(PaymentPlanCommon, MockEmail, MockSMS, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'is_published': True})
        cls.customer.phone = '+32 470 12 34 56'
        cls.company.payment_plan_notify_sms = True
        cls.invoice = cls.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': cls.customer.id,
                'invoice_line_ids': [
                    Command.create({'name': "Annual fee", 'price_unit': 80.0, 'tax_ids': []})
                ],
            }
        )
        cls.invoice.action_post()
        cls.biller = new_test_user(
            cls.env,
            login='biller',
            password='biller',
            groups='payment_plan.group_user,account.group_account_invoice',
            name="Bea Biller",
        )

    def _send(self, user=None, **values):
        user = user or self.biller
        action = self.customer.with_user(user).action_payment_plan_send_payment_link()
        wizard = (
            self.env['payment.plan.payment.link.wizard']
            .with_user(user)
            .with_context(**action['context'])
            .create(values)
        )
        result = wizard.action_send()
        return self.env['payment.plan.payment.link'].browse(result['res_id'])

    def _pay(self, link, amount=0.01, tokenize=False, state='done'):
        url = f'/payment_plan/pay/{link.id}/{link.sudo().access_token}'
        processing = self.make_jsonrpc_request(
            f'{url}/transaction',
            {
                'access_token': 'ignored',
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': amount,  # Tampered: the server decides.
                'flow': 'direct',
                'tokenization_requested': tokenize,
                'landing_route': url,
            },
        )
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {
                'reference': processing['reference'],
                'payment_details': '5555',
                'simulated_state': state,
            },
        )
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        tx._post_process()
        return tx

    def test_the_oldest_open_invoice_is_proposed_and_the_link_mailed_and_texted(self):
        with self.mockSMSGateway():
            link = self._send(channel='email_sms')
        self.assertEqual(link.invoice_ids, self.invoice)
        self.assertEqual(link.amount, 80.0)
        self.assertEqual(link.reason, f"Invoice {self.invoice.name}")
        mail = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan.payment.link'), ('res_id', '=', link.id)]
        )
        self.assertIn(f'/payment_plan/pay/{link.id}/', mail.body_html)
        # A human name, in the mail and the breadcrumbs: never "payment.plan.payment.link,2".
        self.assertEqual(
            link.display_name,
            f"Payment link of {self.currency.format(80.0)} for {self.customer.name}",
        )
        self.assertEqual(mail.record_name, link.display_name)
        self.assertNotIn('payment.plan.payment.link', mail.body_html)
        sms = self.env['sms.sms'].search([('partner_id', '=', self.customer.id)])
        self.assertIn(link.sudo().access_token, sms.body)
        self.assertFalse(
            self.customer.message_ids.filtered(
                lambda m: link.sudo().access_token in (m.body or '')
            ),
            "the chatter keeps the text without the link's secret",
        )
        self.assertEqual(link.status, 'sent')

    def test_the_customer_pays_the_servers_amount_and_may_save_the_card(self):
        link = self._send()
        page = self.url_open(link._get_url())
        self.assertEqual(page.status_code, 200)
        self.assertIn('o_payment_form', page.text)
        self.assertEqual(link.status, 'opened')
        tx = self._pay(link, tokenize=True)
        self.assertEqual(tx.amount, 80.0, "the link's amount, not the tampered one")
        self.assertEqual(tx.partner_id, self.customer)
        self.assertEqual(link.status, 'paid')
        self.assertEqual(self.invoice.amount_residual, 0.0, "the invoice is paid and reconciled")
        self.assertTrue(tx.token_id, "the customer saved the card")
        consent = self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        self.assertEqual(consent.channel, 'checkout')
        with mute_logger('odoo.http'), self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._pay(link)
        # The thank-you page: the amount, the reference, and the receipt to download.
        thanks = self.url_open(link._get_url()).text
        self.assertIn('this payment is made', thanks)
        self.assertRegex(thanks, r'o_payment_plan_link_amount">\$\s80\.00<')
        self.assertIn(f'o_payment_plan_link_reference">{tx.reference}<', thanks)
        receipt_url = re.search(r'href="([^"]+/receipt/\d+)"', thanks).group(1)
        receipt = self.url_open(receipt_url)
        self.assertEqual(receipt.status_code, 200)
        self.assertEqual(receipt.headers['Content-Type'], 'application/pdf')
        # Odoo's tests render reports as HTML: the receipt of this payment.
        self.assertIn(b'Payment Receipt', receipt.content)
        self.assertIn(tx.payment_id.name.encode(), receipt.content)
        # Another link's token, or a transaction of another link: nothing.
        other = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': self.customer.id,
                'amount': 5.0,
                'currency_id': self.currency.id,
                'reference': 'OTHER-PAYMENT',
                'state': 'done',
            }
        )
        with mute_logger('odoo.http'):
            tampered = receipt_url.replace(f'/receipt/{tx.id}', f'/receipt/{other.id}')
            self.assertEqual(self.url_open(tampered).status_code, 404)
            forged = receipt_url.replace(link.sudo().access_token, 'x' * 43)
            self.assertEqual(self.url_open(forged).status_code, 404)

    def test_an_amount_and_a_reason_without_an_invoice(self):
        # A plan user who does not see invoices sends an amount of their own.
        link = self._send(user=self.plan_user, amount=25.0, reason="Registration")
        self.assertFalse(link.invoice_ids)
        tx = self._pay(link)
        self.assertEqual((tx.amount, link.status), (25.0, 'paid'))

    def test_bad_input_is_refused_and_changes_nothing(self):
        for values, message in (
            ({'invoice_id': False, 'amount': 0.0, 'reason': "Fee"}, "amount"),
            ({'amount': 500.0}, "cannot exceed"),
            ({'invoice_id': False, 'amount': 10.0, 'reason': " "}, "what the payment is for"),
        ):
            with self.subTest(values=values), self.assertRaisesRegex(UserError, message):
                self._send(**values)
        self.assertFalse(
            self.env['payment.plan.payment.link']
            .search([])
            .filtered(lambda link: link.partner_id == self.customer)
        )

    @mute_logger('odoo.http')
    def test_tampered_expired_and_cancelled_links_are_refused(self):
        link = self._send()
        token = link.sudo().access_token
        self.assertEqual(
            self.url_open(f'/payment_plan/pay/{link.id}/{token[:-2]}xx').status_code, 403
        )
        other = self._send(invoice_id=False, amount=5.0, reason="Other")
        self.assertEqual(self.url_open(f'/payment_plan/pay/{other.id}/{token}').status_code, 403)
        link.sudo().date_expiry = fields.Datetime.now() - timedelta(minutes=1)
        self.assertEqual(link.status, 'expired')
        self.assertEqual(self.url_open(link._get_url()).status_code, 410)
        with self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._pay(link)
        other.with_user(self.plan_user).action_cancel()
        self.assertEqual(self.url_open(other._get_url()).status_code, 410)
        self.assertEqual(self.invoice.amount_residual, 80.0)

    def test_tour_staff_send_a_payment_link(self):
        self.plan_user.write({'password': 'plan_user'})
        self._let_open_customer_forms(self.plan_user)
        self.start_tour(
            f'/odoo/action-payment_plan.res_partner_action_payment_plan/{self.customer.id}',
            'payment_plan_send_payment_link_tour',
            login='plan_user',
        )
        link = self.env['payment.plan.payment.link'].search([('partner_id', '=', self.customer.id)])
        self.assertEqual((link.amount, link.reason), (12.5, "Locker rental"))

    def test_pay_on_behalf_with_a_card_given_by_phone_once_with_its_billing_address(self):
        wizard = (
            self.env['payment.plan.pay.behalf']
            .with_user(self.plan_manager)
            .create(
                {
                    'partner_id': self.customer.id,
                    'mode': 'oneoff',
                    'billing_street': "Rua Augusta 12",
                    'billing_zip': "1100-053",
                    'billing_city': "Lisboa",
                    'billing_country_id': self.env.ref('base.pt').id,
                }
            )
        )
        action = wizard.action_confirm()
        self.assertEqual(action['type'], 'ir.actions.act_url')
        link = self.env['payment.plan.payment.link'].search(
            [('partner_id', '=', self.customer.id), ('moto', '=', True)]
        )
        self.assertEqual(action['url'], link._get_url())
        self.assertEqual((link.amount, link.invoice_ids), (80.0, self.invoice))
        page = self.url_open(link._get_url())
        self.assertNotIn('o_payment_tokenize_checkbox', page.text, "the card is not saved")
        tx = self._pay(link, tokenize=True)
        self.assertFalse(tx.token_id, "a card given by phone is used once, never saved")
        self.assertEqual((tx.partner_address, tx.partner_city), ("Rua Augusta 12", "Lisboa"))
        self.assertEqual(self.invoice.amount_residual, 0.0)
        self.assertEqual(link.status, 'paid')

    def _labels(self, link, *fields_):
        """Return what the list and the form read for `fields_` of `link`: their labels."""
        return tuple(
            dict(link._fields[name]._description_selection(link.env)).get(link[name], "")
            for name in fields_
        )

    def test_a_link_whose_mail_failed_reads_not_delivered_not_sent(self):
        self.customer.email = 'paula.payer-at-example'  # Not an address: the mail cannot go.
        link = self._send()
        self.assertEqual(
            self._labels(link, 'status', 'delivery_state'), ("Sent", "Waiting to Be Sent")
        )
        with self.mock_mail_gateway(mail_unlink_sent=True):
            link.sudo().mail_id.send()
        link.invalidate_recordset()
        self.assertEqual(
            self._labels(link.with_user(self.biller), 'status', 'delivery_state'),
            ("Not Delivered", "Failed"),
        )
        self.assertIn("Invalid", link.with_user(self.biller).delivery_error)

    def test_a_link_whose_mail_went_reads_sent(self):
        link = self._send()
        with self.mock_mail_gateway(mail_unlink_sent=True):
            link.sudo().mail_id.send()
        link.invalidate_recordset()
        self.assertFalse(
            link.sudo().mail_id, "the mail, with the link's secret, is deleted once sent"
        )
        self.assertEqual(self._labels(link, 'status', 'delivery_state'), ("Sent", "Sent"))
        self.assertFalse(link.delivery_error)

    def test_a_link_whose_sms_failed_reads_not_delivered_not_sent(self):
        with self.mockSMSGateway(sim_error='credit'):
            link = self._send(channel='sms')
        self.assertEqual(
            self._labels(link, 'status', 'delivery_state'), ("Not Delivered", "Failed")
        )
        self.assertEqual(link.delivery_error, "Insufficient Credit")

    def test_a_card_given_by_phone_is_not_delivered_at_all(self):
        link = self._send()
        link.sudo().channel = 'moto'
        self.assertFalse(link.delivery_state, "a link never sent shows no delivery")

    def test_a_manager_copies_the_link_from_its_form(self):
        link = self._send()
        arch = (
            self.env['payment.plan.payment.link']
            .with_user(self.plan_manager)
            .get_views([(False, 'form')])['views']['form']['arch']
        )
        self.assertIn('name="link_url" widget="CopyClipboardChar"', arch)
        self.assertEqual(link.with_user(self.plan_manager).link_url, link._get_url())
        self.assertNotIn('***', link.with_user(self.plan_manager).link_url)
        # The link is the customer's, like a password: other users do not see it.
        arch = (
            self.env['payment.plan.payment.link']
            .with_user(self.biller)
            .get_views([(False, 'form')])['views']['form']['arch']
        )
        self.assertNotIn('link_url', arch)
        link.action_cancel()
        link.invalidate_recordset()
        self.assertFalse(link.with_user(self.plan_manager).link_url, "a cancelled link is no link")

    def test_the_mail_and_the_page_give_the_same_expiry_day_in_the_customers_time_zone(self):
        # Sent by someone in New York at 22:30 UTC: the link expires in 30 days at 22:30 UTC, which
        # is already the next day for the customer in Auckland.
        self.biller.tz = 'America/New_York'
        self.customer.tz = 'Pacific/Auckland'
        with freeze_time('2026-04-05 22:30:00'):
            link = self._send()
            self.assertEqual(fields.Datetime.to_string(link.date_expiry), '2026-05-05 22:30:00')
            mail_text = ' '.join(html2plaintext(link.sudo().mail_id.body_html).split())
            page_text = ' '.join(html2plaintext(self.url_open(link._get_url()).text).split())
        self.assertIn("expires on 05/06/2026", mail_text)
        self.assertIn("expires on 05/06/2026", page_text)


@tagged('post_install', '-at_install')
class TestPaymentLinkOnAPhone(PaymentPlanCommon, HttpCase):
    """The customer pays a payment link on a 390 px phone, and is thanked with the receipt."""

    browser_size = '390x844'
    touch_enabled = True

    def test_tour_the_customer_pays_a_link_on_a_phone(self):
        self.provider.write({'is_published': True})
        self.customer.email = 'paula.payer@example.com'
        wizard = (
            self.env['payment.plan.payment.link.wizard']
            .with_context(default_partner_id=self.customer.id)
            .create({'partner_id': self.customer.id, 'amount': 80.0, 'reason': "Annual fee"})
        )
        link = self.env['payment.plan.payment.link'].browse(wizard.action_send()['res_id'])
        self.start_tour(
            link._get_url().removeprefix(link.get_base_url()),
            'payment_plan_pay_link_customer_tour',
        )
        self.assertEqual(link.status, 'paid')
        self.assertEqual(link._get_payments().amount, 80.0)
