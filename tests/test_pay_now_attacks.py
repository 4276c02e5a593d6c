"""Attacks on the portal's Pay now of everything overdue, the consent texts, the failed Demo
card, /my/cards?tx_id=, the payment link's receipt, the import jobs' clean-up and the mail_mail
override (the attack review of the screens' second part): each test asserts the right end
state."""

import html
import re

from freezegun import freeze_time

from odoo.tests import JsonRpcException, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.http_common import PaymentPlanHttpCommon


@tagged('post_install', '-at_install')
class TestPayNowAttacks(PaymentPlanHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'allow_tokenization': True, 'is_published': True})
        cls.payer, cls.stranger = (
            new_test_user(
                cls.env,
                login=login,
                password=f'{login}-password',
                groups='base.group_portal',
                name=name,
            )
            for login, name in (('rv26_payer', "Pam Payer"), ('rv26_stranger', "Sid Stranger"))
        )
        cls.payer.partner_id.email = 'pam.payer@example.com'
        cls.accountant = new_test_user(
            cls.env,
            login='rv26_accountant',
            groups='account.group_account_invoice',
            name="Acc Ountant",
        )

    # === HELPERS === #

    def _plan(self, plan_type='subscription', denials=('2026-03-01',)):
        return self._create_denied_plan(self.payer.partner_id, plan_type, denials)

    def _collect_on(self, plan, day):
        with freeze_time(day):
            plan.installment_ids.filtered(
                lambda i: i.state == 'pending' and str(i.due_date) <= day
            )._collect()

    def _tx(self, reference):
        self.env.invalidate_all()
        return self.env['payment.transaction'].search([('reference', '=', reference)])

    @staticmethod
    def _shown_consent(page):
        match = re.search(r'o_payment_plan_consent_text">(.*?)</q>', page, re.S)
        return match and html.unescape(match.group(1)).strip()

    # === PAY NOW: WHAT IS SHOWN IS WHAT IS CHARGED AND CONSENTED === #

    def test_pay_now_never_charges_more_than_the_page_showed(self):
        """The payer opens the pay page with one payment overdue ($30), the collection denies a
        second meanwhile, the payer clicks Pay (the form still says $30): refused, reload; the
        reloaded page's $60 is what is charged, and its statement what is kept."""
        plan = self._plan()
        self._login(self.payer)
        page = self.url_open(f'/my/plans/{plan.id}/pay').text
        self.assertRegex(page, r'o_payment_plan_pay_amount">\$\s?30\.00<')
        shown_consent = self._shown_consent(page)
        self.assertTrue(shown_consent)
        # The cron, before the payer clicks.
        self._collect_on(plan, '2026-04-01')
        self.assertEqual(len(plan._get_installments_to_pay_now()), 2)
        with (
            mute_logger('odoo.http'),
            self.assertRaisesRegex(JsonRpcException, "ValidationError"),
        ):
            self._start_pay_now(plan, amount=30.0, shown=self._shown(page))
        self.assertFalse(
            plan.installment_ids.transaction_ids.filtered(lambda t: t.state != 'error'),
            "nothing charged on what the page did not show",
        )
        # Reloaded, the page shows $60.00: that is what is paid, and agreed to.
        page = self.url_open(f'/my/plans/{plan.id}/pay').text
        self.assertRegex(page, r'o_payment_plan_pay_amount">\$\s?60\.00<')
        processing = self._start_pay_now(plan, amount=60.0, shown=self._shown(page))
        self._simulate(processing['reference'])
        self.make_jsonrpc_request('/payment/status/poll', {})
        tx = self._tx(processing['reference'])
        consent = self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        self.assertEqual((tx.state, tx.amount), ('done', 60.0))
        self.assertEqual(
            consent.text, self._shown_consent(page), "the consent kept is the one shown"
        )
        self.assertNotEqual(consent.text, shown_consent)

    def test_consent_text_kept_is_the_one_shown_when_the_plan_changed(self):
        """The pay page shows the statement; a manager then changes the plan (nothing is under
        way: allowed); the payer pays: refused, the page must be reloaded; then the consent keeps
        the statement the reloaded page showed."""
        plan = self._plan(plan_type='installments')
        self._login(self.payer)
        page = self.url_open(f'/my/plans/{plan.id}/pay').text
        shown_consent = self._shown_consent(page)
        self.assertTrue(shown_consent)
        plan.with_user(self.plan_manager).description = "Something else entirely"
        with (
            mute_logger('odoo.http'),
            self.assertRaisesRegex(JsonRpcException, "ValidationError"),
        ):
            self._start_pay_now(plan, amount=30.0, shown=self._shown(page))
        page = self.url_open(f'/my/plans/{plan.id}/pay').text
        shown_consent = self._shown_consent(page)
        self.assertIn("Something else entirely", shown_consent)
        processing = self._start_pay_now(plan, amount=30.0, shown=self._shown(page))
        self._simulate(processing['reference'])
        self.make_jsonrpc_request('/payment/status/poll', {})
        tx = self._tx(processing['reference'])
        self.assertEqual(tx.state, 'done')
        consent = self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        self.assertEqual(len(consent), 1)
        self.assertEqual(consent.text, shown_consent, "the consent kept is the one shown")

    def test_no_consent_is_kept_for_a_card_whose_payment_failed_after_pending(self):
        """Demo: the payment is pending (the card is saved and consented then), then fails."""
        plan = self._plan()
        self._login(self.payer)
        processing = self._start_pay_now(plan, amount=30.0)
        self._simulate(processing['reference'], state='pending')
        tx = self._tx(processing['reference'])
        self.assertEqual(tx.state, 'pending')
        tx.action_demo_set_error()
        self._post_process_outcomes()
        self.env.invalidate_all()
        self.assertEqual(tx.state, 'error')
        self.assertTrue(tx.token_id)
        consents = self.env['payment.plan.consent'].search(
            [('token_id', '=', tx.token_id.id), ('revoked_date', '=', False)]
        )
        self.assertFalse(
            tx.token_id.active and consents,
            "a card whose payment failed is neither kept nor consented",
        )

    # === PAY NOW: TWO TABS, A PAYMENT RECORDED MEANWHILE === #

    def test_two_tabs_make_one_payment(self):
        for plan_type in ('subscription', 'installments'):
            with self.subTest(plan_type=plan_type):
                plan = self._plan(plan_type=plan_type, denials=('2026-03-01', '2026-04-01'))
                self._login(self.payer)
                first = self._start_pay_now(plan, amount=60.0)
                with mute_logger('odoo.http'), self.assertRaises(JsonRpcException):
                    self._start_pay_now(plan, amount=60.0)
                self._simulate(first['reference'])
                self.make_jsonrpc_request('/payment/status/poll', {})
                self.env.invalidate_all()
                charged = self.env['payment.transaction'].search(
                    [('installment_id.plan_id', '=', plan.id), ('state', '=', 'done')]
                )
                self.assertEqual(sum(charged.mapped('amount')), 60.0)
                self.assertEqual(
                    plan.installment_ids.sorted('sequence').mapped('state'),
                    ['paid', 'paid', 'pending'],
                )

    def test_a_payment_registered_on_one_invoice_while_pay_now_is_pending(self):
        """Subscription, two periods denied (two invoices). The payer's Pay now of both is
        pending at the bank (3-D Secure); the accountant registers the customer's transfer for
        the second period's invoice. The bank then confirms Pay now: $60 for $60 owed, $30 of it
        already received. The second period is paid twice."""
        plan = self._plan(denials=('2026-03-01', '2026-04-01'))
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied').sorted('sequence')
        self._login(self.payer)
        processing = self._start_pay_now(plan, amount=60.0)
        self._simulate(processing['reference'], state='pending')
        tx = self._tx(processing['reference'])
        self.assertEqual((tx.state, tx.amount), ('pending', 60.0))
        second_invoice = denied[1].invoice_id
        self.assertIn(second_invoice, tx.invoice_ids)
        refused = False
        try:
            wizard = (
                self.env['account.payment.register']
                .with_user(self.accountant)
                .with_context(active_model='account.move', active_ids=second_invoice.ids)
                .create({})
            )
            wizard.action_create_payments()
        except Exception:
            refused = True
        tx.action_demo_set_done()
        self._post_process_outcomes()
        self.env.invalidate_all()
        received = tx.amount if tx.state == 'done' else 0.0
        if not refused:
            received += 30.0
        self.assertEqual(
            received,
            60.0,
            f"received {received} for 60 owed (second invoice: {second_invoice.payment_state}, "
            f"card payment left open: {tx.payment_id.move_id.line_ids.mapped('amount_residual')})",
        )

    # === /my/cards?tx_id= === #

    def test_my_cards_takes_any_tx_id_without_a_server_error(self):
        self._login(self.payer)
        other = self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': self.stranger.partner_id.id,
                'amount': 0.0,
                'currency_id': self.currency.id,
                'reference': 'RV26-VALIDATION',
                'operation': 'validation',
                'state': 'done',
            }
        )
        for tx_id in ('abc', '-1', '0', '99999999999999999999999999', '²', '١٢', str(other.id)):
            with self.subTest(tx_id=tx_id), mute_logger('odoo.http'):
                response = self.url_open(f'/my/cards?tx_id={tx_id}')
                self.assertLess(response.status_code, 500)
                self.assertNotIn('Your card is saved', response.text)
                self.assertNotIn('Your card was not saved', response.text)

    # === PAYMENT LINK RECEIPT === #

    def test_receipt_route_with_hostile_ids_answers_404(self):
        link = self.env['payment.plan.payment.link'].create(
            {
                'partner_id': self.customer.id,
                'amount': 10.0,
                'reason': "Fee",
                'currency_id': self.currency.id,
            }
        )
        token = link.sudo().access_token
        with mute_logger('odoo.http', 'odoo.sql_db'):
            for url in (
                f'/payment_plan/pay/{link.id}/{token}/receipt/99999999999999999999999',
                f'/payment_plan/pay/99999999999999999999999/{token}/receipt/1',
                f'/payment_plan/pay/{link.id}/{token}/receipt/abc',
                f'/payment_plan/pay/{link.id}/{token}/receipt/-1',
                f'/payment_plan/pay/{link.id}/{token}/receipt/1',
            ):
                with self.subTest(url=url):
                    self.assertEqual(self.url_open(url).status_code, 404)

    # === IMPORT JOBS, MAIL === #

    def test_import_gc_keeps_imports_with_content(self):
        Job = self.env['payment.plan.import.job']
        empty = Job.create({})
        with_file = Job.create({'file': 'YQ==', 'filename': 'a.csv'})
        running = Job.create({'file': 'YQ==', 'filename': 'b.csv'})
        running.sudo().write({'state': 'running'})
        # A validated import whose file the user then cleared: numbered, with its chatter.
        cleared = Job.create({'file': 'YQ==', 'filename': 'c.csv'})
        cleared.sudo().write({'state': 'validated'})
        cleared.write({'file': False})
        self.assertTrue(cleared.name)
        self.env.flush_all()
        jobs = empty | with_file | running | cleared
        self.env.cr.execute(
            "UPDATE payment_plan_import_job SET create_date = now() - interval '2 days' "
            "WHERE id IN %s",
            [tuple(jobs.ids)],
        )
        self.env.invalidate_all()
        Job._gc_empty_drafts()
        self.assertFalse(empty.exists())
        self.assertTrue(with_file.exists())
        self.assertTrue(running.exists())
        self.assertTrue(cleared.exists(), "a numbered import is not forgotten")

    def test_mail_of_other_models_is_sent_and_unlinked(self):
        mail = self.env['mail.mail'].create(
            {
                'email_to': 'x@example.com',
                'subject': 'hi',
                'body_html': '<p>hi</p>',
                'model': 'res.partner',
                'res_id': self.customer.id,
            }
        )
        mail._postprocess_sent_message(success_pids=self.env['res.partner'], success_emails=[])
        plain = self.env['mail.mail'].create({'email_to': 'y@example.com', 'subject': 'x'})
        plain._postprocess_sent_message(
            success_pids=self.env['res.partner'],
            success_emails=[],
            failure_type='mail_email_invalid',
        )
        plain.unlink()
        link = self.env['payment.plan.payment.link'].create(
            {
                'partner_id': self.customer.id,
                'amount': 10.0,
                'reason': "Fee",
                'currency_id': self.currency.id,
            }
        )
        link_mail = self.env['mail.mail'].create(
            {
                'email_to': 'x@example.com',
                'subject': 'link',
                'model': 'payment.plan.payment.link',
                'res_id': link.id,
            }
        )
        link.sudo().mail_id = link_mail
        link_mail.unlink()
        self.assertFalse(link.sudo().mail_id)
