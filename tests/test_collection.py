import re
from datetime import date

from freezegun import freeze_time

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestCollection(PaymentPlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env['ir.config_parameter'].sudo().set_param('payment_plan.batch_size', 10)

    def _card_plan(self, state='done', **values):
        card = self._create_card(details=f'{state[:4]}', state=state)
        values = {
            'collection_mode': 'token',
            'token_id': card.id,
            'date_start': '2026-03-01',
            **values,
        }
        plan = self._create_plan(**values)
        plan.action_activate()
        return plan

    def _installment(self, plan, sequence=1):
        return plan.installment_ids.filtered(lambda i: i.sequence == sequence)

    # === Outcomes === #

    @freeze_time('2026-03-01 23:30:00')
    def test_due_is_decided_in_the_companys_time_zone_whoever_collects(self):
        plan = self._card_plan(plan_type='subscription', amount=20.0, date_start='2026-03-02')
        tomorrow = self._installment(plan)
        self.plan_user.tz = 'Pacific/Kiritimati'  # UTC+14: already March 2 for them.
        Installment = self.env['payment.plan.installment']
        for installments in (Installment.with_user(self.plan_user), Installment):
            self.assertEqual(installments._get_collection_today(), date(2026, 3, 1))
        tomorrow.with_context(tz='Pacific/Kiritimati')._collect()
        self.assertEqual(tomorrow.state, 'pending', "not due yet where the company is")
        self.company.partner_id.tz = 'Europe/Brussels'  # UTC+1: March 2 there.
        for installments in (Installment.with_user(self.plan_user), Installment):
            self.assertEqual(installments._get_collection_today(), date(2026, 3, 2))
        tomorrow.with_context(tz='America/Sao_Paulo')._collect()
        self.assertEqual(tomorrow.state, 'paid')

    @freeze_time('2026-03-01')
    def test_confirmed_charge_pays_the_period_and_reconciles_its_invoice(self):
        plan = self._card_plan(plan_type='subscription', amount=49.9, installment_count=0)
        plan.installment_ids._collect()
        first = self._installment(plan)
        self.assertEqual(first.state, 'paid')
        self.assertEqual(first.date_paid, date(2026, 3, 1))
        tx = first.transaction_ids
        self.assertEqual(tx.reference, f'{first.name}-A1')
        self.assertEqual((tx.state, tx.operation, tx.amount), ('done', 'offline', 49.9))
        invoice = first.invoice_id
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.amount_total, 49.9)
        self.assertIn(invoice.payment_state, ('paid', 'in_payment'))
        self.assertEqual(tx.payment_id.amount, 49.9)
        self.assertEqual(invoice.amount_residual, 0)
        # The other periods are not due yet: untouched.
        self.assertEqual(set((plan.installment_ids - first).mapped('state')), {'pending'})
        self.assertFalse((plan.installment_ids - first).transaction_ids)

    def test_installments_pay_shares_of_one_invoice_until_the_plan_is_done(self):
        plan = self._card_plan(amount=100.0, installment_count=3, date_start='2026-03-01')
        with freeze_time('2026-03-01'):
            plan.installment_ids._collect()
        invoice = plan.invoice_id
        self.assertEqual(invoice.amount_total, 100.0)
        self.assertEqual(invoice.amount_residual, 66.67)
        self.assertEqual(plan.installment_ids.invoice_id, invoice)
        with freeze_time('2026-05-01'):
            plan.installment_ids._collect()
        self.assertEqual(plan.installment_ids.mapped('state'), ['paid'] * 3)
        self.assertEqual(plan.state, 'done')
        self.assertEqual(invoice.amount_residual, 0)
        self.assertEqual(len(plan.installment_ids.transaction_ids.payment_id), 3)

    def test_denied_charge_is_retried_after_spacing_then_denied_and_dunned(self):
        plan = self._card_plan(
            state='error',
            plan_type='subscription',
            installment_count=1,
            max_attempts=3,
            retry_interval_days=3,
            amount=20,
        )
        installment = self._installment(plan)
        Installment = plan.installment_ids
        with freeze_time('2026-03-01'):
            Installment._collect()
            self.assertEqual(installment.state, 'pending')
            self.assertEqual(installment.attempt_count, 1)
            self.assertEqual(installment.next_attempt_date, date(2026, 3, 4))
            self.assertIn("demo payment status", installment.last_error)
            Installment._collect()  # Same day: not due again.
            self.assertEqual(len(installment.transaction_ids), 1)
        with freeze_time('2026-03-03'):
            Installment._collect()
            self.assertEqual(len(installment.transaction_ids), 1)
        with freeze_time('2026-03-04'):
            Installment._collect()
            self.assertEqual(installment.attempt_count, 2)
            self.assertEqual(installment.next_attempt_date, date(2026, 3, 7))
        mails_before = self.env['mail.mail'].search([])
        with freeze_time('2026-03-07'):
            Installment._collect()
        self.assertEqual(installment.state, 'denied')
        self.assertEqual(installment.attempt_count, 3)
        self.assertEqual(installment.date_denied, date(2026, 3, 7))
        self.assertEqual(
            sorted(installment.transaction_ids.mapped('reference')),
            [f'{installment.name}-A{n}' for n in (1, 2, 3)],
        )
        self.assertTrue(plan.payment_failed)
        self.assertEqual(plan.date_last_denied, date(2026, 3, 7))
        activity = plan.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, plan.user_id)
        self.assertIn(installment.name, activity.summary)
        mail = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertIn(installment.name, mail.subject)
        self.assertIn(f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html)
        self.assertIn('Update my card and pay', mail.body_html)
        self.assertIn('20.00', mail.body_html)

    @freeze_time('2026-03-01')
    def test_hard_decline_is_not_retried(self):
        plan = self._card_plan(state='pending', max_attempts=3)
        installment = self._installment(plan)
        plan.installment_ids._collect()
        self.assertEqual(installment.state, 'processing')
        tx = installment.transaction_ids
        self.assertEqual(tx.state, 'pending')
        tx._set_error("Card reported stolen")
        tx._post_process()
        self.assertEqual(installment.state, 'denied')
        self.assertEqual(installment.attempt_count, 1)
        self.assertFalse(installment.next_attempt_date)

    @freeze_time('2026-03-01')
    def test_pending_charge_is_finished_by_the_provider_later(self):
        plan = self._card_plan(state='pending')
        installment = self._installment(plan)
        plan.installment_ids._collect()
        self.assertEqual(installment.state, 'processing')
        self.assertEqual(plan.invoice_id.amount_residual, 100.0)
        tx = installment.transaction_ids
        tx._set_done()
        tx._post_process()
        self.assertEqual(installment.state, 'paid')
        self.assertEqual(plan.invoice_id.amount_residual, 66.67)

    @freeze_time('2026-03-01')
    def test_replayed_and_out_of_order_outcomes_change_nothing(self):
        plan = self._card_plan(state='pending')
        installment = self._installment(plan)
        plan.installment_ids._collect()
        tx = installment.transaction_ids
        tx._set_done()
        tx._post_process()
        tx._post_process()
        self.assertEqual(len(tx.payment_id), 1)
        self.assertEqual(plan.invoice_id.amount_residual, 66.67)
        tx._set_error("Late refusal")  # Refused: a done transaction stays done.
        tx._post_process()
        self.assertEqual(tx.state, 'done')
        self.assertEqual(installment.state, 'paid')

    # === Cards === #

    @freeze_time('2026-03-01')
    def test_plan_without_card_is_denied_without_retry(self):
        plan = self._card_plan()
        plan.token_id.action_archive()
        self.assertTrue(plan.card_missing)
        self.assertIn("no other card", plan.message_ids[0].body)
        installment = self._installment(plan)
        plan.installment_ids._collect()
        self.assertEqual(installment.state, 'denied')
        self.assertIn("No valid card on file", installment.last_error)
        self.assertFalse(installment.transaction_ids)

    def test_archived_card_falls_back_to_the_default_card(self):
        default = self._create_card(details='1111')
        spare = self._create_card(details='2222')
        plan = self._create_plan(collection_mode='token', token_id=spare.id)
        plan.action_activate()
        spare.action_archive()
        self.assertEqual(plan.token_id, default)
        self.assertFalse(plan.card_missing)
        self.assertIn("now charged to", plan.message_ids[0].body)

    @freeze_time('2026-03-01')
    def test_expiring_card_of_a_running_plan_is_warned_once(self):
        expiring = self._create_card(details='3333', expiry_month=3, expiry_year=2026)
        unused = self._create_card(
            partner=self.other_customer, details='4444', expiry_month=3, expiry_year=2026
        )
        plan = self._create_plan(collection_mode='token', token_id=expiring.id)
        plan.action_activate()
        mails_before = self.env['mail.mail'].search([])
        warned = self.env['payment.token']._cron_warn_expiring_cards()
        self.assertEqual(warned, expiring)
        self.assertEqual(expiring.expiry_warning_date, date(2026, 3, 1))
        self.assertFalse(unused.expiry_warning_date)
        mail = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertIn('expires', mail.subject)
        self.assertIn(
            f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html, "opens without a login"
        )
        self.assertEqual(plan.activity_ids.date_deadline, date(2026, 3, 31))
        self.assertFalse(self.env['payment.token']._cron_warn_expiring_cards())

    # === Staff actions === #

    @freeze_time('2026-03-01')
    def test_retry_now_charges_a_denied_installment_once_more(self):
        plan = self._card_plan(state='error', max_attempts=1)
        installment = self._installment(plan)
        plan.installment_ids._collect()
        self.assertEqual(installment.state, 'denied')
        good_card = self._create_card(details='9999', state='done')
        plan.token_id = good_card
        plan.with_user(self.plan_user).action_retry_denied()
        # Nothing is charged inside the request: only once it is committed.
        self.assertEqual(installment.state, 'pending')
        self.assertEqual(len(installment.transaction_ids), 1)
        self._run_after_commit()
        self.assertEqual(installment.state, 'paid')
        self.assertEqual(installment.attempt_count, 2)
        self.assertFalse(plan.payment_failed)

    def test_retry_now_is_refused_on_a_paid_installment_or_a_paused_plan(self):
        plan = self._card_plan()
        installment = self._installment(plan)
        plan.action_pause()
        with self.assertRaises(UserError):
            installment.action_retry_now()
        installment._set_paid()
        with self.assertRaises(UserError):
            installment.action_retry_now()

    def test_send_card_update_link_mails_each_denied_installment(self):
        plan = self._card_plan(state='error', max_attempts=1)
        with self.assertRaises(UserError):
            plan.action_send_card_update_link()
        with freeze_time('2026-03-01'):
            plan.installment_ids._collect()
        mails_before = self.env['mail.mail'].search([])
        plan.action_send_card_update_link()
        mail = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(len(mail), 1)
        self.assertIn(f'/my/plans/{plan.id}/pay?pay_token=', mail.body_html)

    def test_dunning_mail_asks_for_everything_overdue_under_the_companys_branding(self):
        """The second declined payment's mail says what is overdue in all ($40.00 of two
        $20.00 payments), and its button pays that; the mail carries the company's layout."""
        plan = self._card_plan(state='error', plan_type='subscription', amount=20.0, max_attempts=1)
        with freeze_time('2026-03-01'):
            plan.installment_ids._collect()
        mails_before = self.env['mail.mail'].search([])
        with freeze_time('2026-04-01'):
            self._installment(plan, 2)._collect()
        mail = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(len(mail), 1)
        body = re.sub(r'\s+', ' ', mail.body_html.replace('\xa0', ' '))
        self.assertIn('We could not collect the payment of <strong>$ 20.00</strong>', body)
        self.assertIn('In all, <strong>$ 40.00</strong> of this plan is overdue.', body)
        self.assertIn('Update my card and pay $ 40.00', body)
        self.assertIn(f'<b>{self.env.company.name}</b>', body, "the company's footer")
        self.assertIn(
            self._installment(plan, 2).name, mail.subject, "the subject names the payment"
        )

    @freeze_time('2026-03-10')
    def test_recently_denied_lists_plans_denied_in_the_last_days(self):
        recent = self._card_plan(state='error', max_attempts=1)
        old = self._card_plan(state='error', max_attempts=1)
        (recent | old).installment_ids._collect()
        self._installment(old)._write_internal({'date_denied': date(2026, 1, 1)})
        action = self.env['payment.plan'].action_open_recently_denied()
        found = self.env['payment.plan'].search(action['domain'])
        self.assertIn(recent, found)
        self.assertNotIn(old, found)

    @freeze_time('2026-03-01')
    def test_paused_manual_and_gateway_plans_are_not_charged(self):
        paused = self._card_plan()
        paused.action_pause()
        manual = self._create_plan(collection_mode='manual', date_start='2026-03-01')
        gateway = self._create_plan(collection_mode='gateway', date_start='2026-03-01')
        (manual | gateway).action_activate()
        plans = paused | manual | gateway
        charged = plans.installment_ids._collect()
        self.assertEqual(charged, 0)
        self.assertFalse(plans.installment_ids.transaction_ids)

    @freeze_time('2026-03-01')
    def test_refused_charge_is_tried_once_on_the_other_card_when_allowed(self):
        plan = self._card_plan(state='error', allow_card_fallback=True, max_attempts=3)
        other = self._create_card(details='7777', state='done')
        installment = self._installment(plan)
        installment._collect()
        self.assertEqual(installment.state, 'paid')
        self.assertEqual(installment.attempt_count, 1)
        refused, fallback = installment.transaction_ids.sorted('id')
        self.assertEqual((refused.state, fallback.state), ('error', 'done'))
        self.assertEqual(fallback.token_id, other)
        self.assertEqual(fallback.reference, f'{refused.reference}-F')

    @freeze_time('2026-03-01')
    def test_refused_fallback_counts_as_the_failed_attempt(self):
        plan = self._card_plan(state='error', allow_card_fallback=True, max_attempts=3)
        self._create_card(details='8888', state='error')
        installment = self._installment(plan)
        installment._collect()
        self.assertEqual(installment.state, 'pending')
        self.assertEqual(installment.attempt_count, 1)
        self.assertEqual(len(installment.transaction_ids), 2)
        self.assertEqual(installment.next_attempt_date, date(2026, 3, 4))

    @freeze_time('2026-03-01')
    def test_no_fallback_unless_the_plan_allows_it(self):
        plan = self._card_plan(state='error', max_attempts=3)
        self._create_card(details='7777', state='done')
        installment = self._installment(plan)
        installment._collect()
        self.assertEqual(installment.state, 'pending')
        self.assertEqual(len(installment.transaction_ids), 1)

    # === Batches === #

    def _due_subscriptions(self, label, count):
        plans = self.env['payment.plan']
        for n in range(count):
            partner = self.env['res.partner'].create({'name': f"{label} {n}"})
            card = self._create_card(partner=partner, details=f'{label}{n}')
            plans |= self._create_plan(
                partner_id=partner.id,
                plan_type='subscription',
                installment_count=1,
                amount=10.0,
                collection_mode='token',
                token_id=card.id,
                date_start='2026-03-01',
            )
        plans.action_activate()
        return plans

    @freeze_time('2026-03-01')
    def test_a_batch_is_invoiced_charged_and_paid_together(self):
        """The invoices, transactions and payments of a batch are made together: each further
        installment costs a bounded number of queries, however many customers and cards."""
        self.env['ir.config_parameter'].sudo().set_param('payment_plan.batch_size', 50)
        warm_up, small, large = (
            self._due_subscriptions(label, count)
            for label, count in (('warm', 1), ('small', 5), ('large', 25))
        )
        queries = []
        for plans in (warm_up, small, large):
            start = self.env.cr.sql_log_count
            plans.installment_ids._collect()
            queries.append(self.env.cr.sql_log_count - start)
        self.assertLessEqual((queries[2] - queries[1]) / 20, 60)
        installments = large.installment_ids
        self.assertEqual(set(installments.mapped('state')), {'paid'})
        self.assertEqual(set(large.mapped('state')), {'done'})
        for installment in installments:
            tx = installment.transaction_ids
            self.assertEqual(installment.invoice_id.amount_residual, 0)
            self.assertEqual(tx.payment_id.reconciled_invoice_ids, installment.invoice_id)
            # The chatter of each invoice tells its payment, as for a single charge.
            self.assertTrue(
                installment.invoice_id.message_ids.filtered(
                    lambda m, tx=tx: tx.reference in m.body and tx.payment_id.name in m.body
                )
            )

    def test_overdue_installments_of_one_plan_pay_shares_of_its_invoice_at_once(self):
        plan = self._card_plan(amount=100.0, installment_count=3, date_start='2026-03-01')
        with freeze_time('2026-04-15'):
            plan.installment_ids._collect()
        self.assertEqual(plan.installment_ids.mapped('state'), ['paid', 'paid', 'pending'])
        payments = plan.installment_ids.transaction_ids.payment_id
        self.assertEqual(len(payments), 2)
        self.assertEqual(payments.reconciled_invoice_ids, plan.invoice_id)
        self.assertEqual(plan.invoice_id.amount_residual, self._installment(plan, 3).amount)

    def test_a_transaction_from_an_archived_card_is_still_refused(self):
        live, archived = self._create_card(details='1111'), self._create_card(details='2222')
        archived.action_archive()
        values = {
            'provider_id': self.provider.id,
            'payment_method_id': self.payment_method.id,
            'partner_id': self.customer.id,
            'amount': 5.0,
            'currency_id': self.currency.id,
            'operation': 'offline',
        }
        with self.assertRaises(ValidationError):
            self.env['payment.transaction'].create(
                [
                    {**values, 'token_id': live.id, 'reference': 'ARCH-1'},
                    {**values, 'token_id': archived.id, 'reference': 'ARCH-2'},
                ]
            )
