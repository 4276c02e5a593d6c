from datetime import date

from freezegun import freeze_time

from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tests import Form, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
@freeze_time('2026-01-15')
class TestPaymentPlan(PaymentPlanCommon):
    # === Schedules === #

    def test_plan_reference_is_taken_at_activation(self):
        sequence = self.env['ir.sequence'].search([('code', '=', 'payment.plan')], limit=1)
        number_before = sequence.number_next_actual
        plans = self._create_plan() | self._create_plan()
        self.assertFalse(any(plans.mapped('name')), "a draft takes no number")
        self.assertEqual(plans[0].display_name, "Draft: new plan")
        with self.assertRaises(ValidationError):
            self._create_plan(amount=-5.0)  # A failed save burns no number either.
        self.assertEqual(sequence.number_next_actual, number_before)
        plans.action_activate()
        self.assertRegex(plans[0].name, r'^PLAN/2026/\d{5}$')
        self.assertNotEqual(plans[0].name, plans[1].name)
        self.assertTrue(plans[0].installment_ids[0].name.startswith(plans[0].name))

    def test_installment_plan_splits_the_total_exactly_over_clamped_months(self):
        plan = self._create_plan(amount=100.0, installment_count=3, date_start='2026-01-31')
        plan.action_activate()
        installments = plan.installment_ids.sorted('sequence')
        self.assertEqual(plan.state, 'active')
        self.assertEqual(installments.mapped('amount'), [33.33, 33.33, 33.34])
        self.assertEqual(
            installments.mapped('due_date'),
            [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)],
        )
        self.assertEqual(
            installments.mapped('name'), [f'{plan.name}-01', f'{plan.name}-02', f'{plan.name}-03']
        )
        self.assertEqual(set(installments.mapped('state')), {'pending'})
        self.assertEqual(plan.amount_due, 100.0)
        self.assertEqual(plan.next_due_date, date(2026, 1, 31))

    def test_installment_amounts_follow_the_currency_rounding(self):
        jpy = self.env.ref('base.JPY')
        jpy.active = True
        plan = self._create_plan(amount=1000, installment_count=3, currency_id=jpy.id)
        plan.action_activate()
        self.assertEqual(plan.installment_ids.sorted('sequence').mapped('amount'), [333, 333, 334])

    def test_open_subscription_schedules_a_rolling_horizon(self):
        plan = self._create_plan(
            plan_type='subscription',
            amount=49.9,
            installment_count=0,
            date_start='2026-01-15',
            interval_unit='week',
            interval_number=2,
        )
        plan.action_activate()
        installments = plan.installment_ids.sorted('sequence')
        self.assertEqual(len(installments), 12)
        self.assertEqual(set(installments.mapped('amount')), {49.9})
        self.assertEqual(installments[-1].due_date, date(2026, 6, 18))  # 11 fortnights later

    def test_subscription_stops_at_its_end_date_or_number_of_periods(self):
        until_end = self._create_plan(
            plan_type='subscription',
            installment_count=0,
            date_start='2026-01-31',
            date_end='2026-04-29',
        )
        limited = self._create_plan(plan_type='subscription', installment_count=2)
        (until_end | limited).action_activate()
        self.assertEqual(
            until_end.installment_ids.sorted('sequence').mapped('due_date'),
            [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)],
        )
        self.assertEqual(len(limited.installment_ids), 2)

    def test_cron_tops_up_the_subscription_schedule(self):
        plan = self._create_plan(
            plan_type='subscription', installment_count=0, date_start='2026-01-31', amount=10
        )
        plan.action_activate()
        plan.installment_ids.sorted('sequence')[:3]._set_paid()
        self.env['payment.plan']._cron_extend_schedules()
        installments = plan.installment_ids.sorted('sequence')
        self.assertEqual(len(installments), 15)
        self.assertEqual(
            installments.filtered(lambda i: i.state == 'pending').mapped('sequence'),
            list(range(4, 16)),
        )
        self.assertEqual(installments[-1].due_date, date(2027, 3, 31))
        self.assertEqual(installments[-1].name, f'{plan.name}-15')

    def test_plan_is_done_once_every_installment_is_settled(self):
        plan = self._create_plan()
        plan.action_activate()
        first, second, third = plan.installment_ids.sorted('sequence')
        (first | second)._set_paid()
        plan._check_done()
        self.assertEqual(plan.state, 'active')
        third.action_cancel()
        self.assertEqual(plan.state, 'done')
        self.assertEqual(plan.amount_paid, 66.66)

    def test_finished_subscription_is_closed_by_the_cron(self):
        plan = self._create_plan(
            plan_type='subscription',
            installment_count=0,
            date_start='2026-01-01',
            date_end='2026-02-01',
        )
        plan.action_activate()
        plan.installment_ids._set_paid()
        self.env['payment.plan']._cron_extend_schedules()
        self.assertEqual(plan.state, 'done')

    # === Transitions === #

    def test_pause_resume_and_cancel(self):
        plan = self._create_plan(date_start='2026-01-01')
        plan.action_activate()
        plan.action_pause()
        self.assertEqual(plan.state, 'paused')
        with self.assertRaises(UserError):
            plan.action_pause()
        plan.action_resume()
        self.assertEqual(plan.state, 'active')
        plan.action_cancel()
        self.assertEqual(plan.state, 'cancelled')
        # What was due (Jan 1st) stays due; what was not yet due (Feb, Mar) is cancelled.
        self.assertEqual(
            plan.installment_ids.sorted('sequence').mapped('state'),
            ['pending', 'cancelled', 'cancelled'],
        )
        self.assertIn("cancelled", plan.message_ids[0].body)
        for action in (plan.action_activate, plan.action_resume, plan.action_cancel):
            with self.assertRaises(UserError):
                action()

    def test_draft_cannot_be_paused_or_resumed(self):
        plan = self._create_plan()
        with self.assertRaises(UserError):
            plan.action_pause()
        with self.assertRaises(UserError):
            plan.action_resume()

    def test_running_schedule_cannot_be_edited_directly(self):
        plan = self._create_plan()
        plan.action_activate()
        with self.assertRaises(UserError):
            plan.amount = 200
        plan.description = "Renamed"  # Not part of the schedule.
        plan.amount = 100.0  # Unchanged value: allowed.

    def test_only_drafts_or_unused_cancelled_plans_can_be_deleted(self):
        draft, running = self._create_plan(), self._create_plan()
        running.action_activate()
        with self.assertRaises(UserError):
            running.unlink()
        draft.unlink()
        self.assertFalse(draft.exists())

    # === Cards === #

    def test_card_plan_defaults_to_the_customer_default_card(self):
        self._create_card(details='1111')
        second = self._create_card(details='2222')
        second.action_set_default()
        plan = self._create_plan(collection_mode='token')
        self.assertEqual(plan.token_id, second)

    def test_plan_of_a_contact_uses_its_company_card(self):
        company_partner = self.env['res.partner'].create({'name': "Acme", 'is_company': True})
        contact = self.env['res.partner'].create({'name': "Jo", 'parent_id': company_partner.id})
        card = self._create_card(partner=company_partner)
        plan = self._create_plan(partner_id=contact.id, collection_mode='token')
        self.assertEqual(plan.token_id, card)

    def test_card_plan_cannot_be_activated_without_a_card(self):
        plan = self._create_plan(collection_mode='token')
        with self.assertRaisesRegex(UserError, "no card"):
            plan.action_activate()
        self.assertEqual(plan.state, 'draft')
        self.assertFalse(plan.installment_ids)

    def test_form_proposes_the_default_card_of_the_chosen_customer(self):
        card = self._create_card()
        with Form(self.env['payment.plan']) as plan_form:
            plan_form.partner_id = self.customer
            plan_form.plan_type = 'installments'
            plan_form.amount = 90
            plan_form.installment_count = 3
            self.assertEqual(plan_form.token_id, card)
        self.assertEqual(plan_form.record.currency_id, self.currency)

    # === Bad input === #

    def test_bad_input_is_refused_with_a_clear_message(self):
        cases = [
            ({'amount': -5}, "must be positive"),
            ({'amount': 0}, "must be positive"),
            ({'installment_count': 0}, "at least one installment"),
            (
                {'date_start': '2026-03-01', 'date_end': '2026-02-01', 'plan_type': 'subscription'},
                "before its first due date",
            ),
            ({'interval_number': 0}, "at least 1"),
            ({'max_attempts': 0}, "at least one attempt"),
            ({'retry_interval_days': 0}, "one day apart"),
            ({'amount': 0.02, 'installment_count': 3}, "too small"),
            (
                {'plan_type': 'subscription', 'interval_number': 20000, 'interval_unit': 'year'},
                "at most 10 years",
            ),
            ({'interval_number': 121, 'interval_unit': 'month'}, "at most 120 months"),
            ({'interval_number': 3651, 'interval_unit': 'day'}, "at most 3650 days"),
            ({'installment_count': 361}, "at most 360"),
            ({'plan_type': 'subscription', 'installment_count': 100000}, "at most 360"),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                self._create_plan(**values)

    def test_card_of_another_customer_is_refused(self):
        foreign_card = self._create_card(partner=self.other_customer)
        with self.assertRaisesRegex(ValidationError, "belongs to Oscar Other"):
            self._create_plan(collection_mode='token', token_id=foreign_card.id)

    def test_currency_the_card_provider_cannot_charge_is_refused(self):
        eur = self.env.ref('base.EUR')
        eur.active = True
        other = eur if self.currency != eur else self.env.ref('base.USD')
        self.provider.available_currency_ids = [Command.set(self.currency.ids)]
        card = self._create_card()
        with self.assertRaisesRegex(ValidationError, f"cannot charge in {other.name}"):
            self._create_plan(collection_mode='token', token_id=card.id, currency_id=other.id)

    def test_currency_of_the_sale_order_must_match(self):
        eur = self.env.ref('base.EUR')
        eur.active = True
        other = eur if self.currency != eur else self.env.ref('base.USD')
        order = self.env['sale.order'].create({'partner_id': self.customer.id})
        with self.assertRaisesRegex(ValidationError, "order"):
            self._create_plan(sale_order_id=order.id, currency_id=other.id)
        plan = self._create_plan(sale_order_id=order.id)
        self.assertEqual(plan.currency_id, order.currency_id)

    # === WORDING OF SUBSCRIPTIONS === #

    def test_a_subscription_reads_as_one(self):
        open_ended = self._create_plan(
            plan_type='subscription', amount=30.0, installment_count=0, date_start='2026-03-01'
        )
        self.assertEqual(open_ended.schedule_display, "Every month, no end")
        twelve = self._create_plan(
            plan_type='subscription',
            amount=30.0,
            installment_count=12,
            interval_number=2,
            interval_unit='week',
        )
        self.assertEqual(twelve.schedule_display, "Every 2 weeks, 12 periods")
        installments = self._create_plan(amount=300.0, installment_count=3)
        self.assertEqual(installments.schedule_display, "Every month, 3 installments")

    def test_every_interval_reads_in_words_singular_and_plural(self):
        plan = self._create_plan(plan_type='subscription', amount=30.0, installment_count=1)
        expected = {
            (1, 'day'): "Every day, 1 period",
            (1, 'week'): "Every week, 1 period",
            (1, 'month'): "Every month, 1 period",
            (1, 'year'): "Every year, 1 period",
            (3, 'day'): "Every 3 days, 1 period",
            (2, 'week'): "Every 2 weeks, 1 period",
            (6, 'month'): "Every 6 months, 1 period",
            (2, 'year'): "Every 2 years, 1 period",
        }
        for (number, unit), words in expected.items():
            with self.subTest(number=number, unit=unit):
                plan.write({'interval_number': number, 'interval_unit': unit})
                self.assertEqual(plan.schedule_display, words)
        plan.write({'plan_type': 'installments', 'installment_count': 1})
        self.assertEqual(plan.schedule_display, "Every 2 years, 1 installment")

    @freeze_time('2026-03-01')
    def test_overdue_is_what_fell_due_unpaid_not_the_scheduled_periods(self):
        plan = self._create_plan(
            plan_type='subscription', amount=30.0, installment_count=0, date_start='2026-01-31'
        )
        plan.action_activate()
        # Today (2026-03-01) the January and February periods fell due, unpaid.
        self.assertEqual(plan.amount_overdue, 60.0)
        self.assertGreater(plan.amount_due, 60.0, "the scheduled horizon is not what is owed")

    def test_overdue_counts_every_denied_installment_and_the_next_charge_is_never_past(self):
        card = self._create_card(state='error')
        with freeze_time('2026-02-01'):
            plan = self._create_plan(
                plan_type='subscription',
                amount=30.0,
                installment_count=0,
                date_start='2026-01-01',
                collection_mode='token',
                token_id=card.id,
                max_attempts=1,
            )
            plan.action_activate()
            plan.installment_ids._collect()
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self.assertEqual(len(denied), 2, "January's and February's (due today) were refused")
        with freeze_time('2026-02-01'):
            plan.invalidate_recordset()
            self.assertEqual(plan.amount_overdue, 60.0, "both, the one due today included")
            self.assertEqual(str(plan.next_charge_date), '2026-03-01', "the next period")
        with freeze_time('2026-02-20'):
            plan.installment_ids.filtered(lambda i: i.state == 'pending').sorted('sequence')[
                0
            ]._write_internal({'next_attempt_date': '2026-02-10'})
            plan.invalidate_recordset()
            self.assertEqual(str(plan.next_charge_date), '2026-02-20', "never a past day")
            plan.action_pause()
            self.assertFalse(plan.next_charge_date, "a paused plan is not charged")
