import base64
import csv
import io
from datetime import date

import openpyxl
from freezegun import freeze_time

from odoo import fields
from odoo.tests import new_test_user, tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
@freeze_time('2026-03-16')
class TestReports(PaymentPlanCommon):
    """A known set of installments across states, modes, kinds, companies and months."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.card = cls._create_card()
        # Company A (the main one): a subscription on a card, due January to March.
        cls.subscription = cls._create_plan(
            plan_type='subscription',
            amount=100.0,
            installment_count=3,
            date_start='2026-01-10',
            collection_mode='token',
            token_id=cls.card.id,
        )
        cls.subscription.action_activate()
        jan, feb, mar = cls.subscription.installment_ids.sorted('sequence')
        jan._set_paid({'date_paid': '2026-01-10'})
        feb._set_denied({'date_denied': '2026-03-01'})
        cls.jan, cls.feb, cls.mar = jan, feb, mar
        # Company A: 300 in 3 installments recorded by hand, one waived.
        cls.manual = cls._create_plan(amount=300.0, installment_count=3, date_start='2026-02-20')
        cls.manual.action_activate()
        cls.manual.installment_ids.sorted('sequence')[0]._set_cancelled()
        # Company B: one installment reported paid by a gateway.
        cls.company_b = cls._create_company("Company B")
        cls.customer_b = cls.env['res.partner'].create({'name': "Bea B"})
        cls.plan_b = (
            cls.env['payment.plan']
            .with_company(cls.company_b)
            .create(
                {
                    'partner_id': cls.customer_b.id,
                    'company_id': cls.company_b.id,
                    'plan_type': 'installments',
                    'amount': 70.0,
                    'installment_count': 1,
                    'date_start': '2026-03-02',
                    'collection_mode': 'gateway',
                    'gateway_id': cls._create_gateway(cls.company_b).id,
                }
            )
        )
        cls.plan_b.action_activate()
        cls.plan_b.installment_ids._set_paid({'date_paid': '2026-03-03'})
        cls.user_a = new_test_user(
            cls.env,
            login='report_user_a',
            groups='payment_plan.group_user',
            company_id=cls.company.id,
            company_ids=[cls.company.id],
        )

    def _tx(self, installment, state, operation='offline', token=None, suffix='A1'):
        return self.env['payment.transaction'].create(
            {
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'partner_id': installment.partner_id.id,
                'amount': installment.amount,
                'currency_id': installment.currency_id.id,
                'reference': f'{installment.name}-{suffix}',
                'operation': operation,
                'token_id': (token or self.card).id,
                'installment_id': installment.id,
                'state': state,
                'state_message': "Card declined" if state == 'error' else False,
            }
        )

    # === RECURRING COLLECTIONS === #

    def test_totals_per_state(self):
        Report = self.env['payment.plan.collection.report'].with_user(self.user_a)
        mine = [('partner_id', '=', self.customer.id)]
        totals = dict(Report._read_group(mine, ['state'], ['amount:sum']))
        self.assertEqual(
            totals, {'confirmed': 100.0, 'denied': 100.0, 'awaiting': 300.0, 'cancelled': 100.0}
        )

    def test_totals_per_mode_kind_and_month(self):
        Report = self.env['payment.plan.collection.report'].with_user(self.user_a)
        mine = [('partner_id', 'in', (self.customer | self.customer_b).ids)]
        per_mode = dict(Report._read_group(mine, ['collection_mode'], ['amount:sum']))
        self.assertEqual(per_mode, {'token': 300.0, 'manual': 300.0})
        per_kind = dict(Report._read_group(mine, ['plan_type'], ['__count']))
        self.assertEqual(per_kind, {'subscription': 3, 'installments': 3})
        per_month = {
            month.month: amount
            for month, amount in Report._read_group(mine, ['due_date:month'], ['amount:sum'])
        }
        self.assertEqual(per_month, {1: 100.0, 2: 200.0, 3: 200.0, 4: 100.0})
        paid_in_january = Report.search(
            [*mine, ('date_paid', '>=', '2026-01-01'), ('date_paid', '<', '2026-02-01')]
        )
        self.assertEqual(paid_in_january.installment_id, self.jan)
        self.assertEqual(paid_in_january.amount_paid, 100.0)

    def test_latest_transaction_is_shown(self):
        self._tx(self.feb, 'error')
        second = self._tx(self.feb, 'error', suffix='A2')
        row = self.env['payment.plan.collection.report'].search(
            [('installment_id', '=', self.feb.id)]
        )
        self.assertEqual(row.transaction_id, second)
        self.assertEqual(row.state, 'denied')

    def test_a_user_of_company_a_sees_none_of_company_b(self):
        for model in ('payment.plan.collection.report', 'payment.plan.recovery.report'):
            rows = self.env[model].with_user(self.user_a).search([])
            self.assertNotIn(self.company_b, rows.company_id, model)
        everything = self.env['payment.plan.collection.report'].search(
            [('company_id', '=', self.company_b.id)]
        )
        self.assertEqual(everything.amount_paid, 70.0, "the administrator of both sees it")

    # === RECOVERY === #

    def _build_recovery_cases(self):
        """Four installments failed at their first attempt, recovered three ways or not."""
        plan = self._create_plan(
            plan_type='installments',
            amount=400.0,
            installment_count=5,
            date_start='2026-03-01',
            collection_mode='token',
            token_id=self.card.id,
        )
        plan.action_activate()
        retried, updated, manual, lost, first_time = plan.installment_ids.sorted('sequence')
        for installment in (retried, updated, manual, lost):
            self._tx(installment, 'error')
        self._tx(retried, 'done', suffix='A2')
        new_card = self._create_card(details='5555')
        # The customer registered the new card the day after the refusal.
        self.env.cr.execute(
            "UPDATE payment_token SET create_date = now() + interval '1 day' WHERE id = %s",
            [new_card.id],
        )
        new_card.invalidate_recordset(['create_date'])
        self._tx(updated, 'done', operation='offline', token=new_card, suffix='A2')
        self._tx(first_time, 'done')
        journal = self.env['account.journal'].search(
            [('type', '=', 'bank'), ('company_id', '=', self.company.id)], limit=1
        )
        manual._register_external_payment(manual.amount, date(2026, 3, 20), journal)
        (retried | updated | first_time)._set_paid({'date_paid': '2026-03-12'})
        lost._set_denied({'date_denied': '2026-03-14'})
        return plan

    def test_recovery_amounts_by_channel_and_rate(self):
        plan = self._build_recovery_cases()
        rows = self.env['payment.plan.recovery.report'].search([('plan_id', '=', plan.id)])
        self.assertEqual(len(rows), 4, "the installment paid at once never failed")
        self.assertEqual(
            sorted(rows.mapped(lambda r: r.recovery_channel or 'lost')),
            ['card_update', 'lost', 'manual', 'retry'],
        )
        [summary] = (
            self.env['payment.plan.recovery.report']
            ._get_summary([('plan_id', '=', plan.id)])
            .values()
        )
        self.assertEqual(
            summary,
            {
                'failed': 320.0,
                'retry': 80.0,
                'card_update': 80.0,
                'manual': 80.0,
                'recovered': 240.0,
                'lost': 80.0,
                'rate': 75.0,
            },
        )
        [(month, rate)] = self.env['payment.plan.recovery.report']._read_group(
            [('plan_id', '=', plan.id)], ['date_failed:month'], ['recovery_rate:avg']
        )
        failed_on = plan.installment_ids.transaction_ids.filtered(lambda tx: tx.state == 'error')
        self.assertEqual(month.month, min(failed_on.mapped('create_date')).month)
        self.assertEqual(rate, 75.0)

    def test_paying_online_after_a_failure_is_a_card_update(self):
        self._tx(self.feb, 'error')
        self._tx(self.feb, 'done', operation='online_token', suffix='P1')
        self.feb._set_paid({'date_paid': fields.Date.today()})
        row = self.env['payment.plan.recovery.report'].search(
            [('installment_id', '=', self.feb.id)]
        )
        self.assertEqual(row.recovery_channel, 'card_update')

    # === EXPORT === #

    def _export(self, plans, file_format):
        wizard = (
            self.env['payment.plan.export']
            .with_user(self.plan_user)
            .with_context(active_model='payment.plan', active_ids=plans.ids)
            .create({'file_format': file_format})
        )
        action = wizard.action_export()
        self.assertIn(f'/web/content/payment.plan.export/{wizard.id}/data/', action['url'])
        return wizard.filename, base64.b64decode(wizard.data)

    def test_export_has_a_row_per_operation(self):
        self._tx(self.feb, 'error')
        self._tx(self.feb, 'error', suffix='A2')
        name, content = self._export(self.subscription, 'csv')
        self.assertTrue(name.endswith('-operations.csv'))
        rows = list(csv.reader(io.StringIO(content.decode('utf-8-sig'))))
        header, rows = rows[0], rows[1:]
        self.assertEqual(header[:5], ["Plan", "Customer", "Tax ID", "Plan Kind", "Installment"])
        self.assertIn("Transaction Reference", header)
        self.assertIn("Journal", header)
        self.assertEqual(len(rows), 4, "Jan scheduled-and-paid, Feb two attempts, Mar scheduled")
        col = header.index
        feb_rows = [row for row in rows if row[col("Installment")] == self.feb.name]
        self.assertEqual([row[col("Attempt")] for row in feb_rows], ['1', '2'])
        self.assertEqual({row[col("Message")] for row in feb_rows}, {"Card declined"})
        self.assertEqual({row[col("Installment Amount")] for row in rows}, {'100.0'})
        self.assertTrue(all(len(row) == len(header) for row in rows))

    def test_xlsx_export_of_several_plans(self):
        name, content = self._export(self.subscription | self.manual, 'xlsx')
        self.assertEqual(name, 'payment-plans-operations.xlsx')
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        values = list(sheet.values)
        self.assertEqual(len(values), 1 + 6)
        header = values[0]
        due = values[1][header.index("Due Date")]
        self.assertEqual(due.date(), date(2026, 1, 10), "dates are dates, not text")
        self.assertEqual(values[1][header.index("Installment Amount")], 100)
        self.assertEqual(
            {row[header.index("Plan")] for row in values[1:]},
            {self.subscription.name, self.manual.name},
        )

    # === OVERVIEW === #

    def test_overview_figures(self):
        self.card.write({'expiry_month': 3, 'expiry_year': 2026})
        # Only this test's customers in the company (the database may hold others).
        others = self.env['payment.plan'].search(
            [('partner_id', 'not in', (self.customer | self.customer_b).ids)]
        )
        others._write_internal({'state': 'cancelled'})
        others.installment_ids._set_cancelled()
        self.env['payment.token'].search([('id', '!=', self.card.id)]).write(
            {'expiry_month': 0, 'expiry_year': 0}
        )
        data = self.env['payment.plan.overview'].with_user(self.user_a).get_overview_data()
        # Due by Sunday 2026-03-22: the March 10 subscription period and the manual plan's 2nd
        # installment (March 20).
        self.assertEqual(data['due_this_week']['count'], 2)
        self.assertEqual(data['due_this_week']['amount'], 200.0)
        self.assertEqual(data['denied_recently']['count'], 1)
        self.assertEqual(data['active_by_kind']['subscription']['count'], 1)
        self.assertEqual(data['active_by_kind']['installments']['count'], 1, "B's is not counted")
        self.assertEqual(data['monthly_recurring']['amount'], 100.0)
        self.assertEqual(data['cards_expiring']['count'], 1)
        due = self.env['payment.plan.installment'].search(data['due_this_week']['domain'])
        self.assertEqual(len(due), 2, "the figure opens its own list")

    def test_overview_amounts_are_in_the_company_currency(self):
        eur = self.env.ref('base.EUR')
        eur.active = True
        self.env['res.currency.rate'].create(
            {
                'currency_id': eur.id,
                'rate': 2.0,
                'name': '2026-01-01',
                'company_id': self.company.id,
            }
        )
        before = self.env['payment.plan.overview'].get_overview_data()['due_this_week']['amount']
        plan = self._create_plan(
            currency_id=eur.id, amount=100.0, installment_count=1, date_start='2026-03-18'
        )
        plan.action_activate()
        after = self.env['payment.plan.overview'].get_overview_data()['due_this_week']['amount']
        self.assertEqual(after - before, 50.0, "100 EUR at 2 EUR per dollar, not 100 dollars")
