"""The links of mails that open a plan's "update your card and pay now" page without a login:
signed, expiring, for one plan; the payment or the card saved there pays the plan."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.http_common import PayLinkCase, pay_token


@tagged('post_install', '-at_install')
class TestPayLink(PayLinkCase):
    @freeze_time('2026-03-01')
    def test_the_denial_mail_opens_the_pay_page_without_a_login_and_pays(self):
        plan, denied = self._denied_plan()
        mail = self.env['mail.mail'].search(
            [('model', '=', 'payment.plan.installment'), ('res_id', '=', denied.id)]
        )
        self.assertIn(f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html)
        url = denied._get_payment_url()
        token = pay_token(url)
        self.authenticate(None, None)
        page = self.url_open(url)
        self.assertEqual(page.status_code, 200)
        self.assertIn(denied.name, page.text)
        self.assertIn('o_payment_form', page.text, "the provider's own form")

        processing = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction',
            self._params(plan, token, payment_plan_make_default=True),
        )
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        self.assertEqual(tx.amount, 30.0, "the open amount, not the tampered one")
        self.assertEqual(tx.partner_id, self.customer, "the plan's customer pays, not the visitor")
        self.assertEqual(tx.installment_id, denied)
        self._simulate(tx.reference)
        self.assertEqual(denied.state, 'paid')
        self.assertEqual(plan.token_id, tx.token_id, "the new card pays the plan from now on")
        self.assertEqual(plan.token_id.payment_details, '9999')
        self.assertTrue(plan.token_id.is_default, "the payer ticked 'make it my default card'")

    @freeze_time('2026-03-01')
    @mute_logger('odoo.http')
    def test_tampered_expired_and_other_plans_links_are_refused(self):
        plan, denied = self._denied_plan()
        other_plan, _other_denied = self._denied_plan(self.other_customer)
        token = pay_token(denied._get_payment_url())
        self.authenticate(None, None)
        for url in (
            f'/my/plans/{plan.id}/pay?pay_token={token[:-2]}xx',
            f'/my/plans/{other_plan.id}/pay?pay_token={token}',
            f'/my/plans/{plan.id}/pay?pay_token=not-base64!',
            f'/my/plans/{plan.id}/pay',
        ):
            with self.subTest(url=url):
                response = self.url_open(url)
                self.assertEqual(response.status_code, 403)
                self.assertNotIn('o_payment_form', response.text)
        with self.assertRaisesRegex(JsonRpcException, 'ValidationError'):
            self.make_jsonrpc_request(
                f'/my/plans/{other_plan.id}/transaction', self._params(other_plan, token)
            )
        self.assertFalse(
            other_plan.installment_ids.transaction_ids.filtered(lambda tx: tx.state == 'draft')
        )
        with freeze_time(fields.Datetime.now() + timedelta(days=31)):
            self.assertEqual(
                self.url_open(f'/my/plans/{plan.id}/pay?pay_token={token}').status_code, 403
            )
        with freeze_time(fields.Datetime.now() + timedelta(days=29)):
            self.assertEqual(
                self.url_open(f'/my/plans/{plan.id}/pay?pay_token={token}').status_code, 200
            )

    @freeze_time('2026-03-01')
    def test_with_nothing_due_the_link_replaces_the_plans_card(self):
        card = self._create_card()
        plan = self._create_plan(
            collection_mode='token', token_id=card.id, amount=90.0, date_start='2026-04-01'
        )
        plan.action_activate()
        token = pay_token(card._payment_plan_get_update_url())
        self.authenticate(None, None)
        page = self.url_open(f'/my/plans/{plan.id}/pay?pay_token={token}')
        self.assertIn('Update the card', page.text)
        with self.assertRaisesRegex(JsonRpcException, 'UserError'), mute_logger('odoo.http'):
            self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', self._params(plan, token))
        processing = self.make_jsonrpc_request(
            f'/my/plans/{plan.id}/transaction', self._params(plan, token, is_validation=True)
        )
        tx = self.env['payment.transaction'].search([('reference', '=', processing['reference'])])
        self.assertEqual(tx.operation, 'validation')
        self.assertFalse(tx.installment_id, "a validation pays nothing")
        self._simulate(tx.reference)
        self.assertEqual(plan.token_id, tx.token_id)
        self.assertNotEqual(plan.token_id, card)
        self.assertTrue(card.is_default, "unticked: the default card stays")
        self.assertTrue(all(i.state == 'pending' for i in plan.installment_ids))
        consent = self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        self.assertEqual(consent.channel, 'portal')
