from datetime import timedelta

import lxml.html

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, freeze_time, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import html2plaintext, mute_logger

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestCardRequest(PaymentPlanCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'is_published': True})
        cls.customer.phone = '+32 470 12 34 56'
        cls.company.payment_plan_notify_sms = True

    def _request(self, partner=None, **values):
        """Send a link by the wizard, as a staff member does; return the request."""
        partner = partner or self.customer
        wizard = (
            self.env['payment.plan.card.request.wizard']
            .with_user(self.plan_user)
            .with_context(active_model='res.partner', active_ids=partner.ids)
            .create(values)
        )
        wizard.action_send()
        return self.env['payment.plan.card.request'].search(
            [('partner_id', '=', partner.id)], order='id desc', limit=1
        )

    def _save_card(self, card_request, token=None, details='4242'):
        """Fill the provider's form of the link's page: the demo card is validated."""
        url = f'/payment_plan/card/{card_request.id}/{token or card_request.access_token}'
        processing_values = self.make_jsonrpc_request(
            f'{url}/transaction',
            {
                'access_token': 'ignored',
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'flow': 'direct',
                'tokenization_requested': True,
                'landing_route': url,
            },
        )
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {
                'reference': processing_values['reference'],
                'payment_details': details,
                'simulated_state': 'done',
            },
        )
        self.make_jsonrpc_request('/payment/status/poll', {})
        return processing_values

    def test_link_is_mailed_and_texted_with_the_reason(self):
        card_request = self._request(reason='donation', channel='email_sms')
        url = card_request._get_url()
        mail = self.env['mail.mail'].search(
            [('model', '=', card_request._name), ('res_id', '=', card_request.id)]
        )
        self.assertIn(url, mail.body_html)
        self.assertIn("Donation", mail.body_html)
        # A human name, in the mail and the breadcrumbs: never "payment.plan.card.request,3".
        self.assertEqual(card_request.display_name, f"Card request for {self.customer.name}")
        self.assertEqual(mail.record_name, card_request.display_name)
        self.assertNotIn('payment.plan.card.request', mail.body_html)
        sms = self.env['sms.sms'].search([('partner_id', '=', self.customer.id)])
        self.assertIn(url, sms.body)
        self.assertIn("sent by email and SMS", self.customer.message_ids[0].body)
        self.assertEqual(card_request.date_expiry.date(), fields.Date.today() + timedelta(days=7))

    def test_chatter_copy_of_the_sms_shows_the_link_without_its_secret(self):
        card_request = self._request(channel='sms')
        secret = card_request.sudo().access_token
        sms = self.env['sms.sms'].sudo().search([('partner_id', '=', self.customer.id)])
        self.assertIn(card_request._get_url(), sms.body, "the customer's SMS holds the link")
        copy = self.customer.message_ids.filtered(lambda m: m.message_type == 'sms')
        self.assertEqual(len(copy), 1)
        self.assertIn(f'/payment_plan/card/{card_request.id}/***', copy.body)
        messages = self.env['mail.message'].search(
            [('model', '=', 'res.partner'), ('res_id', '=', self.customer.id)]
        )
        self.assertNotIn(secret, ''.join(messages.mapped('body')), "no secret in the chatter")
        self.assertFalse(
            self.env['mail.message'].search([('body', 'ilike', secret)]), "nor anywhere else"
        )

    def test_links_are_read_only_to_plan_users(self):
        card_request = self._request(channel='email').with_user(self.plan_user)
        self.assertEqual(card_request.partner_id, self.customer, "they see the link")
        for values in (
            {'partner_id': self.other_customer.id},
            {'state': 'used'},
            {'date_expiry': fields.Datetime.add(fields.Datetime.now(), days=365)},
            {'channel': 'moto'},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                card_request.write(values)
        with self.assertRaises(AccessError):
            self.env['payment.plan.card.request'].with_user(self.plan_user).create(
                {'partner_id': self.customer.id}
            )
        with self.assertRaises(AccessError):
            card_request.unlink()
        manager_request = card_request.with_user(self.plan_manager)
        with self.assertRaises(AccessError):
            manager_request.write({'state': 'sent'})

    def test_link_form_is_read_only(self):
        arch = self.env['payment.plan.card.request'].get_view(view_type='form')['arch']
        self.assertIn('edit="0"', arch)
        self.assertIn('create="0"', arch)

    def test_valid_link_saves_the_card_as_default_with_consent(self):
        card_request = self._request()
        page = self.url_open(card_request._get_url())
        self.assertEqual(page.status_code, 200)
        self.assertIn('o_payment_form', page.text)
        self.assertNotIn('4242', page.text)
        # The consent names what the card will be charged for (nothing is "above" it).
        consent = ' '.join(lxml.html.fromstring(page.text).xpath('string(//main)').split())
        reason = card_request._get_reason_label()
        self.assertIn(f"charges it for {reason}, without me being present", consent)
        self.assertIn(card_request._get_consent_text(), consent)
        self.assertNotIn("payments above", consent)
        self._save_card(card_request)
        card = self.customer.payment_token_ids
        self.assertEqual(len(card), 1)
        self.assertTrue(card.is_default, "the first card becomes the default")
        self.assertEqual(card_request.state, 'used')
        self.assertEqual(card_request.token_id, card)
        self.assertEqual(self.customer.card_consent_channel, 'link')
        self.assertTrue(self.customer.card_consent_date)
        self.assertEqual(self.customer.card_consent_ip, '127.0.0.1')
        self.assertEqual(
            self.env['payment.plan.consent'].search([('token_id', '=', card.id)]).text,
            card_request._get_consent_text(),
            "the statement the page showed is kept with the consent",
        )
        self.assertIn(
            "saved by the customer through the registration link", self.customer.message_ids[0].body
        )
        # The link now says the card is saved, and cannot save another one.
        self.assertIn('Your card is saved', self.url_open(card_request._get_url()).text)
        with mute_logger('odoo.http'), self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._save_card(card_request, details='5555')
        self.assertEqual(len(self.customer.payment_token_ids), 1)

    def test_links_can_be_copied_cancelled_and_sent_anew(self):
        card_request = self._request(channel='email')
        self.assertEqual(
            card_request.with_user(self.plan_manager).link_url, card_request._get_url()
        )
        with self.assertRaises(AccessError):
            card_request.with_user(self.plan_user).read(['link_url'])
        card_request.with_user(self.plan_user).action_resend()
        new_request = self.env['payment.plan.card.request'].search(
            [('partner_id', '=', self.customer.id)], order='id desc', limit=1
        )
        self.assertNotEqual(new_request, card_request)
        self.assertEqual(card_request.state, 'cancelled')
        self.assertEqual(self.url_open(card_request._get_url()).status_code, 410)
        self.assertEqual(self.url_open(new_request._get_url()).status_code, 200)
        new_request.with_user(self.plan_user).action_cancel()
        self.assertEqual(new_request.state, 'cancelled')
        self.assertFalse(new_request.with_user(self.plan_manager).link_url)
        with mute_logger('odoo.http'), self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._save_card(new_request)
        self.assertFalse(self.customer.payment_token_ids)

    def test_expired_link_is_refused_clearly(self):
        card_request = self._request()
        card_request.date_expiry = fields.Datetime.now() - timedelta(minutes=1)
        page = self.url_open(card_request._get_url())
        self.assertEqual(page.status_code, 410)
        self.assertIn('This link has expired', page.text)
        self.assertNotIn('Traceback', page.text)
        with mute_logger('odoo.http'), self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._save_card(card_request)
        self.assertFalse(self.customer.payment_token_ids)
        self.assertFalse(self.customer.card_consent_date)

    def test_tampered_or_other_customers_token_is_refused(self):
        mine = self._request()
        theirs = self._request(partner=self.other_customer)
        for url in (
            f'/payment_plan/card/{mine.id}/{mine.access_token[:-1]}x',
            f'/payment_plan/card/{mine.id}/{theirs.access_token}',
            f'/payment_plan/card/{mine.id + 1000}/{mine.access_token}',
        ):
            page = self.url_open(url)
            self.assertEqual(page.status_code, 403, url)
            self.assertIn('This link is not valid', page.text)
        with mute_logger('odoo.http'), self.assertRaisesRegex(JsonRpcException, 'Forbidden'):
            self._save_card(mine, token=theirs.access_token)
        self.assertFalse(self.customer.payment_token_ids)
        self.assertFalse(self.other_customer.payment_token_ids)
        self.assertEqual(mine.state, 'sent')

    def test_the_mail_and_the_page_give_the_same_expiry_day_in_the_customers_time_zone(self):
        # Sent from New York at 22:30 UTC: the link expires in 7 days at 22:30 UTC, which is
        # already the next day for the customer in Auckland.
        self.plan_user.tz = 'America/New_York'
        self.customer.tz = 'Pacific/Auckland'
        with freeze_time('2026-04-28 22:30:00'):
            request = self._request(channel='email')
            mail = self.env['mail.mail'].search(
                [('model', '=', 'payment.plan.card.request'), ('res_id', '=', request.id)]
            )
            mail_text = ' '.join(html2plaintext(mail.body_html).split())
            page_text = ' '.join(html2plaintext(self.url_open(request._get_url()).text).split())
        self.assertIn("expires on 05/06/2026", mail_text)
        self.assertIn("expires on 05/06/2026", page_text)

    def test_the_links_sent_are_counted_in_words(self):
        customers = self.customer | self.other_customer
        wizard = (
            self.env['payment.plan.card.request.wizard']
            .with_context(active_model='res.partner', active_ids=customers.ids)
            .create({'channel': 'email'})
        )
        self.assertEqual(wizard.action_send()['params']['message'], "2 links sent.")

    def test_customers_without_address_are_skipped(self):
        self.other_customer.email = False
        wizard = (
            self.env['payment.plan.card.request.wizard']
            .with_context(
                active_model='res.partner', active_ids=(self.customer | self.other_customer).ids
            )
            .create({'channel': 'email'})
        )
        self.assertEqual(wizard.unreachable_count, 1)
        action = wizard.action_send()
        self.assertTrue(action['params']['message'].startswith("1 link sent. "))
        self.assertIn("Oscar Other", action['params']['message'])
        self.assertFalse(
            self.env['payment.plan.card.request'].search(
                [('partner_id', '=', self.other_customer.id)]
            )
        )
        self.other_customer.phone = False
        only_unreachable = self.env['payment.plan.card.request.wizard'].create(
            {'partner_ids': self.other_customer.ids, 'channel': 'sms'}
        )
        with self.assertRaises(UserError):
            only_unreachable.action_send()

    def test_moto_entry_by_a_manager_records_the_phone_channel(self):
        with self.assertRaises(AccessError):
            self.customer.with_user(self.plan_user).action_payment_plan_enter_card()
        action = self.customer.with_user(self.plan_manager).action_payment_plan_enter_card()
        card_request = self.env['payment.plan.card.request'].search(
            [('partner_id', '=', self.customer.id), ('channel', '=', 'moto')]
        )
        self.assertEqual(action['url'], card_request._get_url())
        self.authenticate('plan_manager', 'plan_manager')
        self._save_card(card_request)
        self.assertEqual(self.customer.card_consent_channel, 'moto')
        self.assertEqual(self.customer.card_consent_user_id, self.plan_manager)

    def test_moto_is_refused_without_a_provider_that_supports_it(self):
        self.env['payment.provider'].search([('code', '=', 'demo')]).state = 'disabled'
        with self.assertRaisesRegex(UserError, "MOTO"):
            self.customer.with_user(self.plan_manager).action_payment_plan_enter_card()

    def test_tour_customer_fills_the_demo_card_form(self):
        card_request = self._request()
        self.start_tour(
            f'/payment_plan/card/{card_request.id}/{card_request.access_token}',
            'payment_plan_card_request_tour',
        )
        self.assertEqual(card_request.state, 'used')
        self.assertEqual(self.customer.payment_token_ids.payment_details, '4242')


@tagged('post_install', '-at_install')
class TestCardRequestOnAPhone(PaymentPlanCommon, HttpCase):
    """The customer's card registration page on a 390 px phone."""

    browser_size = '390x844'
    touch_enabled = True

    def test_tour_customer_saves_a_card_on_a_phone(self):
        self.provider.write({'is_published': True})
        wizard = (
            self.env['payment.plan.card.request.wizard']
            .with_user(self.plan_user)
            .with_context(active_model='res.partner', active_ids=self.customer.ids)
            .create({'channel': 'email'})
        )
        wizard.action_send()
        card_request = self.env['payment.plan.card.request'].search(
            [('partner_id', '=', self.customer.id)], order='id desc', limit=1
        )
        self.start_tour(
            card_request._get_url().removeprefix(card_request.get_base_url()),
            'payment_plan_card_request_tour',
        )
        self.assertEqual(card_request.state, 'used')
        self.assertTrue(
            self.env['payment.plan.consent'].search([('token_id', '=', card_request.token_id.id)])
        )


@tagged('post_install', '-at_install')
class TestPortfolio(PaymentPlanCommon):
    def test_portfolio_columns_and_filters(self):
        card = self._create_card(
            expiry_month=fields.Date.today().month, expiry_year=fields.Date.today().year
        )
        plan = self._create_plan(collection_mode='token', token_id=card.id)
        plan.action_activate()
        Partner = self.env['res.partner'].with_user(self.plan_user)
        customer = Partner.browse(self.customer.id)
        self.assertEqual(customer.payment_card_count, 1)
        self.assertTrue(customer.card_expiring_soon)
        self.assertEqual(customer.running_plan_count, 1)
        self.assertFalse(customer.has_denied_plan)
        mine = [('id', 'in', (self.customer | self.other_customer).ids)]
        self.assertEqual(Partner.search([*mine, ('card_expiring_soon', '=', True)]), customer)
        self.assertEqual(Partner.search([*mine, ('has_running_plan', '=', True)]), customer)
        self.assertEqual(
            Partner.search([*mine, ('has_running_plan', '=', False)]).ids, self.other_customer.ids
        )
        plan.installment_ids[0]._set_denied()
        self.assertEqual(Partner.search([*mine, ('has_denied_plan', '=', True)]), customer)
        # Exported by an administrator (exports are a right of their own in Odoo).
        exported = self.customer.export_data(
            [
                'name',
                'payment_card_count',
                'default_token_id',
                'running_plan_count',
                'card_consent_channel',
            ]
        )['datas']
        self.assertEqual(exported[0][1], 1)
        self.assertEqual(exported[0][3], 1)
