from odoo.exceptions import UserError
from odoo.tests import freeze_time, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestCustomerNotification(PaymentPlanCommon):
    """One way to reach a customer (`res.partner._payment_plan_notify`): the company's SMS
    setting, the chatter's copy without secrets, one policy for a missing address."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.phone = '+32 470 12 34 56'

    def _sms_to(self, partner):
        return self.env['sms.sms'].sudo().search([('partner_id', '=', partner.id)])

    def _mails_of(self, record):
        return (
            self.env['mail.mail']
            .sudo()
            .search([('model', '=', record._name), ('res_id', '=', record.id)])
        )

    def test_a_company_that_does_not_text_mails_the_order_link_only(self):
        self.company.payment_plan_notify_sms = False
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.assertTrue(self._mails_of(order), "the customer is mailed the link")
        self.assertFalse(self._sms_to(self.customer), "nor texted: the company does not text")
        self.assertFalse(
            order.message_ids.filtered(lambda m: 'Not sent' in (m.body or '')),
            "the company's choice is no failure to report on each order",
        )

    def test_the_order_sms_copy_hides_the_orders_access_token(self):
        self.company.payment_plan_notify_sms = True
        order = self._create_installments_order()
        order.action_payment_plan_request()
        token = order.access_token
        sms = self._sms_to(self.customer)
        self.assertEqual(len(sms), 1)
        self.assertIn(f'access_token={token}', sms.body, "the customer's SMS opens the order")
        self.assertTrue(sms.body.startswith(f"{self.company.name}: pay the first installment"))
        copy = order.message_ids.filtered(lambda m: m.message_type == 'sms')
        self.assertIn('access_token=***', copy.body)
        self.assertFalse(
            self.env['mail.message'].search(
                [('message_type', '=', 'sms'), ('body', 'ilike', token)]
            ),
            "no copy of an SMS holds the order's access token",
        )

    def test_a_customer_without_phone_is_mailed_and_the_order_says_why_not_texted(self):
        self.company.payment_plan_notify_sms = True
        self.customer.phone = False
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.assertTrue(self._mails_of(order))
        self.assertFalse(self._sms_to(self.customer))
        self.assertIn(
            "Not sent: Paula Payer has no valid phone number.",
            ''.join(order.message_ids.mapped('body')),
        )

    @freeze_time('2026-03-15')
    def test_a_customer_without_email_is_not_mailed_and_the_installment_says_why(self):
        """A denied payment of a customer without an email address: no mail left failing in
        the queue, and staff read why on the installment."""
        self.customer.email = False
        plan = self._create_denied_plan(self.customer)
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self.assertEqual(len(denied), 1)
        self.assertFalse(self._mails_of(denied))
        self.assertIn(
            "Not sent: Paula Payer has no email address.",
            ''.join(denied.message_ids.mapped('body')),
        )
        with self.assertRaisesRegex(UserError, "no email address"):
            self.env['payment.plan.card.request'].create(
                {'partner_id': self.customer.id, 'reason': 'subscription', 'channel': 'email'}
            )._send()

    def test_staff_cannot_text_a_link_when_the_company_does_not_text(self):
        self.company.payment_plan_notify_sms = False
        links = self.env['payment.plan.payment.link'].search_count([])
        wizard = self.env['payment.plan.payment.link.wizard'].create(
            {
                'partner_id': self.customer.id,
                'amount': 25.0,
                'reason': "Membership",
                'channel': 'sms',
            }
        )
        with self.assertRaisesRegex(UserError, "does not text its customers"):
            wizard.action_send()
        self.assertEqual(self.env['payment.plan.payment.link'].search_count([]), links)
        card_wizard = (
            self.env['payment.plan.card.request.wizard']
            .with_context(active_model='res.partner', active_ids=self.customer.ids)
            .create({'channel': 'email_sms'})
        )
        with self.assertRaisesRegex(UserError, "does not text its customers"):
            card_wizard.action_send()
        self.assertFalse(self._sms_to(self.customer))
        self.assertFalse(self.env['payment.plan.card.request'].search([]))

    @freeze_time('2026-03-01')
    def test_the_authentication_request_is_texted_only_when_the_company_texts(self):
        for texts in (False, True):
            with self.subTest(texts=texts):
                self.company.payment_plan_notify_sms = texts
                plan = self._create_card_plan()
                installment = plan.installment_ids.sorted('sequence')[0]
                installment._notify_authentication_required()
                self.assertTrue(self._mails_of(installment))
                sms = self._sms_to(self.customer).filtered(
                    lambda s, plan=plan: f'/my/plans/{plan.id}/pay?pay_token=' in s.body
                )
                self.assertEqual(len(sms), int(texts))
                copies = installment.message_ids.filtered(lambda m: m.message_type == 'sms')
                self.assertEqual(len(copies), int(texts))
                for copy in copies:
                    self.assertIn('pay_token=***', copy.body)

    def test_staff_resending_to_a_customer_who_cannot_be_reached_is_told(self):
        self.company.payment_plan_notify_sms = True
        order = self._create_installments_order()
        order.action_payment_plan_request()
        self.customer.write({'email': False, 'phone': False})
        with self.assertRaisesRegex(UserError, "cannot be sent"):
            order.action_payment_plan_send_link()

    @freeze_time('2026-03-15')
    def test_staff_sending_the_card_update_link_without_an_email_address_is_told(self):
        plan = self._create_denied_plan(self.customer)
        self.customer.email = False
        with self.assertRaisesRegex(UserError, "no email address"):
            plan.action_send_card_update_link()

    def test_the_sms_waits_for_the_transaction(self):
        """The SMS is queued with the message and sent once the transaction commits (at once
        in tests, which never commit): a rolled-back transaction texts no one."""
        self.company.payment_plan_notify_sms = True
        order = self._create_installments_order()
        with self.env.cr.savepoint(flush=True) as savepoint:
            order.action_payment_plan_request()
            self.assertTrue(self._sms_to(self.customer))
            savepoint.rollback()
        self.env.invalidate_all()
        self.assertFalse(self._sms_to(self.customer), "nothing left to text")
        cron = self.env.ref('sms.ir_cron_sms_scheduler_action')
        order.action_payment_plan_request()
        self.assertTrue(
            self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]),
            "Odoo's SMS queue sends what the send after commit misses",
        )

    def test_the_mails_message_that_staff_read_holds_no_secret(self):
        """A link's mail is sent whole; the message staff may read of it (on the document, as
        any plan user) says what was sent, not the link's secret."""
        link = self.env['payment.plan.payment.link'].create(
            {
                'partner_id': self.customer.id,
                'amount': 25.0,
                'reason': "Membership",
                'channel': 'email',
                'currency_id': self.currency.id,
            }
        )
        link._send()
        secret = link.sudo().access_token
        mail = link.sudo().mail_id
        self.assertIn(secret, mail.body_html, "the customer's mail holds the link")
        messages = (
            self.env['mail.message']
            .with_user(self.plan_user)
            .search([('model', '=', link._name), ('res_id', '=', link.id)])
        )
        self.assertTrue(messages)
        self.assertFalse(
            [m for m in messages.sudo() if secret in (m.body or '')], "no secret staff may read"
        )
        self.assertIn("Mail sent to Paula Payer", messages.sudo()[0].body)
