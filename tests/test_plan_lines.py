import itertools
from datetime import date, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import tagged

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


@tagged('post_install', '-at_install')
class TestPlanLines(PaymentPlanCommon):
    """Plans bill real products with their taxes: the invoice an accountant signs, and the card
    charged that invoice's total to the cent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vat21 = cls._create_tax("VAT 21%", 21.0)
        cls.vat10 = cls._create_tax("VAT 10%", 10.0)
        cls.vat21_included = cls._create_tax(
            "VAT 21% incl.", 21.0, price_include_override='tax_included'
        )
        cls.vat0_export = cls._create_tax("VAT 0% export", 0.0)
        cls.income = cls.env['account.account'].create(
            {'name': "Subscriptions income", 'code': '700900', 'account_type': 'income'}
        )
        cls.hosting = cls._create_product(
            "Hosting", 30.0, cls.vat21, property_account_income_id=cls.income.id
        )
        cls.support = cls._create_product("Support", 12.5, cls.vat10)
        cls.analytic_plan = cls.env['account.analytic.plan'].create({'name': "Departments"})
        cls.analytic = cls.env['account.analytic.account'].create(
            {'name': "Online services", 'plan_id': cls.analytic_plan.id}
        )

    @classmethod
    def _create_tax(cls, name, amount, **values):
        return cls.env['account.tax'].create(
            {
                'name': name,
                'amount': amount,
                'amount_type': 'percent',
                'type_tax_use': 'sale',
                'company_id': cls.company.id,
                **values,
            }
        )

    @classmethod
    def _create_product(cls, name, price, tax, **values):
        return cls.env['product.product'].create(
            {'name': name, 'list_price': price, 'taxes_id': [Command.set(tax.ids)], **values}
        )

    def _lined_plan(self, lines, **values):
        """Return a draft plan of the customer, on a card, billing `lines` (no amount given: it
        is the lines' total)."""
        card = self._create_card(details=f'{len(lines)}{len(values)}00')
        return self.env['payment.plan'].create(
            {
                'partner_id': self.customer.id,
                'plan_type': 'installments',
                'installment_count': 3,
                'date_start': '2026-03-01',
                'collection_mode': 'token',
                'token_id': card.id,
                'line_ids': [Command.create(line) for line in lines],
                **values,
            }
        )

    @freeze_time('2026-03-01')
    def test_a_subscription_invoices_its_products_with_taxes_and_charges_the_total(self):
        plan = self._lined_plan(
            [
                {
                    'product_id': self.hosting.id,
                    'quantity': 2,
                    'analytic_distribution': {str(self.analytic.id): 100},
                },
                {'product_id': self.support.id},
            ],
            plan_type='subscription',
            installment_count=3,
        )
        # 2 x 30.00 + 21% = 72.60; 12.50 + 10% = 13.75.
        self.assertEqual((plan.amount_untaxed, plan.amount_tax, plan.amount), (72.5, 13.85, 86.35))
        plan.action_activate()
        self.assertEqual(plan.installment_ids.mapped('amount'), [86.35] * 3)
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(first.state, 'paid')
        invoice = first.invoice_id
        lines = invoice.invoice_line_ids.sorted('sequence')
        self.assertEqual(lines.product_id, self.hosting | self.support)
        hosting_line = lines.filtered(lambda line: line.product_id == self.hosting)
        self.assertEqual(hosting_line.tax_ids, self.vat21)
        self.assertEqual(hosting_line.account_id, self.income, "the product's income account")
        self.assertEqual(hosting_line.analytic_distribution, {str(self.analytic.id): 100})
        self.assertIn(
            f"{first.name}: 03/01/2026 to 03/31/2026",
            hosting_line.name,
            "the period and its dates on its lines",
        )
        self.assertEqual(
            lines.filtered(lambda line: line.product_id == self.support).tax_ids, self.vat10
        )
        self.assertEqual(
            (invoice.amount_untaxed, invoice.amount_tax, invoice.amount_total), (72.5, 13.85, 86.35)
        )
        tx = first.transaction_ids
        self.assertEqual(tx.amount, invoice.amount_total, "the card pays the invoice, to the cent")
        self.assertEqual(invoice.amount_residual, 0)

    @freeze_time('2026-04-01')
    def test_a_subscription_billed_at_period_end_names_the_period_that_ended(self):
        """Post-paid, as OCA's contract invoices at the end of the period: the charge on April
        1st bills March, its invoice lines say so."""
        plan = self._lined_plan(
            [{'product_id': self.hosting.id}],
            plan_type='subscription',
            installment_count=2,
            date_start='2026-04-01',
            invoice_period='arrears',
        )
        plan.action_activate()
        first, second = plan.installment_ids.sorted('sequence')
        first._collect()
        self.assertEqual(first.state, 'paid')
        self.assertIn(
            f"{first.name}: 03/01/2026 to 03/31/2026", first.invoice_id.invoice_line_ids.name
        )
        with freeze_time('2026-05-01'):
            second._collect()
        self.assertIn(
            f"{second.name}: 04/01/2026 to 04/30/2026", second.invoice_id.invoice_line_ids.name
        )

    def _billed_days(self, plan):
        """Return, per period of `plan` in order, the days its invoice lines name."""
        return [
            plan._get_period_dates(period) for period in plan.installment_ids.sorted('sequence')
        ]

    def test_consecutive_periods_join_up_around_month_ends_and_february_29(self):
        """Each day is billed once: monthly from January 31st (due February 28th, March
        31st...) and yearly from February 29th, in advance and at period end."""
        cases = [
            ('2026-01-31', 'month', 5),
            ('2024-02-29', 'year', 5),
        ]
        for date_start, unit, count in cases:
            for invoice_period in ('advance', 'arrears'):
                with self.subTest(start=date_start, unit=unit, bill=invoice_period):
                    plan = self._create_plan(
                        plan_type='subscription',
                        amount=10.0,
                        installment_count=count,
                        date_start=date_start,
                        interval_unit=unit,
                        invoice_period=invoice_period,
                    )
                    with freeze_time(date_start):
                        plan.action_activate()
                    periods = self._billed_days(plan)
                    self.assertEqual(len(periods), count)
                    for (_start, end), (next_start, _end) in itertools.pairwise(periods):
                        self.assertEqual(next_start, end + timedelta(days=1), periods)
        # As the customer reads them: February 28th's month (in advance) runs to March 30th.
        monthly = self._create_plan(
            plan_type='subscription', amount=10.0, installment_count=3, date_start='2026-01-31'
        )
        with freeze_time('2026-01-31'):
            monthly.action_activate()
        february = monthly.installment_ids.sorted('sequence')[1]
        self.assertEqual(
            monthly._get_period_label(february), f"{february.name}: 02/28/2026 to 03/30/2026"
        )

    def test_a_charge_moved_on_a_plan_billed_at_period_end_bills_from_the_last_one(self):
        """Billed at period end, the April 1st charge billed March; Change Schedule moves the
        next charge to April 15th, or to May 20th: it bills from April 1st to the day before,
        no day billed twice, none left out."""
        for next_due in ('2026-04-15', '2026-05-20'):
            with self.subTest(next_due=next_due):
                with freeze_time('2026-04-01'):
                    plan = self._create_card_plan(
                        plan_type='subscription',
                        amount=30.0,
                        installment_count=0,
                        date_start='2026-04-01',
                        invoice_period='arrears',
                    )
                    first = plan.installment_ids.sorted('sequence')[0]
                    first._collect()
                self.assertIn("03/01/2026 to 03/31/2026", first.invoice_id.invoice_line_ids.name)
                with freeze_time('2026-04-10'):
                    self.env['payment.plan.change'].create(
                        {'plan_id': plan.id, 'next_due_date': next_due, 'amount': 30.0}
                    ).action_apply()
                moved = plan.installment_ids.filtered(lambda i: i.state == 'pending').sorted(
                    'sequence'
                )[0]
                self.assertEqual(moved.due_date.isoformat(), next_due)
                with freeze_time(next_due):
                    moved._collect()
                self.assertEqual(moved.state, 'paid')
                day_before = fields.Date.to_date(next_due) - timedelta(days=1)
                self.assertIn(
                    f"{moved.name}: 04/01/2026 to {day_before.strftime('%m/%d/%Y')}",
                    moved.invoice_id.invoice_line_ids.name,
                )

    def test_the_fiscal_position_maps_the_products_taxes(self):
        export = self.env['account.fiscal.position'].create(
            {'name': "Export", 'company_id': self.company.id}
        )
        self.vat0_export.fiscal_position_ids = export
        self.vat0_export.original_tax_ids = self.vat21
        self.customer.property_account_position_id = export
        plan = self._lined_plan([{'product_id': self.hosting.id}])
        self.assertEqual(plan.fiscal_position_id, export)
        self.assertEqual(plan.line_ids.tax_ids, self.vat0_export)
        self.assertEqual(plan.amount, 30.0)

    @freeze_time('2026-03-01')
    def test_an_export_customer_pays_a_price_with_tax_included_without_the_tax(self):
        """A price of 121.00 with VAT 21% included, sold to a customer whose fiscal position
        maps it to 0%: 100.00, on the plan as on a sale order, and on the card."""
        export = self.env['account.fiscal.position'].create(
            {'name': "Export", 'company_id': self.company.id}
        )
        self.vat0_export.fiscal_position_ids = export
        self.vat0_export.original_tax_ids = self.vat21_included
        self.customer.property_account_position_id = export
        product = self._create_product("Membership", 121.0, self.vat21_included)
        order = self.env['sale.order'].create(
            {
                'partner_id': self.customer.id,
                'order_line': [Command.create({'product_id': product.id})],
            }
        )
        plan = self._lined_plan(
            [{'product_id': product.id}], plan_type='subscription', installment_count=2
        )
        self.assertEqual(
            (plan.line_ids.price_unit, plan.line_ids.tax_ids), (100.0, self.vat0_export)
        )
        self.assertEqual(plan.amount, order.amount_total)
        self.assertEqual(plan.amount, 100.0)
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(
            (first.invoice_id.amount_total, first.transaction_ids.amount), (100.0, 100.0)
        )

    @freeze_time('2026-03-01')
    def test_a_price_with_tax_included_is_what_the_customer_pays(self):
        product = self._create_product("Membership", 121.0, self.vat21_included)
        plan = self._lined_plan(
            [{'product_id': product.id}], plan_type='subscription', installment_count=2
        )
        self.assertEqual((plan.amount_untaxed, plan.amount_tax, plan.amount), (100.0, 21.0, 121.0))
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(first.invoice_id.amount_total, 121.0)
        self.assertEqual(first.transaction_ids.amount, 121.0)

    def test_installments_pay_shares_of_one_taxed_invoice_to_the_cent(self):
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'quantity': 3}, {'product_id': self.support.id}],
            plan_type='installments',
            installment_count=3,
        )
        # 90.00 + 21% = 108.90; 12.50 + 10% = 13.75: 122.65 in three.
        self.assertEqual(plan.amount, 122.65)
        plan.action_activate()
        self.assertEqual(
            plan.installment_ids.sorted('sequence').mapped('amount'), [40.88, 40.88, 40.89]
        )
        for day in ('2026-03-01', '2026-04-01', '2026-05-01'):
            with freeze_time(day):
                plan.installment_ids._collect()
        invoice = plan.invoice_id
        self.assertEqual(len(invoice.invoice_line_ids), 2)
        self.assertEqual(invoice.amount_total, 122.65)
        self.assertEqual(invoice.amount_residual, 0)
        self.assertEqual(
            sum(plan.installment_ids.transaction_ids.mapped('amount')), invoice.amount_total
        )
        self.assertEqual(plan.state, 'done')

    @freeze_time('2026-03-01')
    def test_a_tax_changed_since_the_plan_was_made_is_charged_as_invoiced(self):
        plan = self._lined_plan(
            [{'product_id': self.support.id}], plan_type='subscription', installment_count=2
        )
        plan.action_activate()
        self.assertEqual(plan.amount, 13.75)
        self.vat10.amount = 12.0  # The rate changes: the period's invoice bills 14.00.
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(first.invoice_id.amount_total, 14.0)
        self.assertEqual(first.amount, 14.0, "the period owes what its invoice says")
        self.assertEqual(first.transaction_ids.amount, 14.0)
        self.assertEqual(first.state, 'paid')
        self.assertIn(
            "now owes",
            plan.message_ids[:3].mapped('body')[0] + ''.join(plan.message_ids.mapped('body')),
        )

    def test_the_lines_of_a_running_plan_are_not_edited(self):
        plan = self._lined_plan([{'product_id': self.hosting.id}])
        plan.action_activate()
        for edit in (
            lambda: plan.line_ids.write({'price_unit': 1.0}),
            lambda: plan.write(
                {'line_ids': [Command.create({'name': "Extra", 'price_unit': 5.0})]}
            ),
            lambda: plan.line_ids.unlink(),
        ):
            with self.assertRaisesRegex(UserError, "lines of a running plan"):
                edit()
        self.assertEqual(plan.amount, 36.3)
        self.assertEqual(len(plan.line_ids), 1)

    @freeze_time('2026-03-01')
    def test_a_plan_without_lines_invoices_one_line_without_tax_as_before(self):
        card = self._create_card()
        plan = self._create_plan(
            collection_mode='token',
            token_id=card.id,
            plan_type='subscription',
            amount=49.9,
            date_start='2026-03-01',
        )
        self.assertEqual((plan.amount_untaxed, plan.amount_tax), (49.9, 0.0))
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        line = first.invoice_id.invoice_line_ids
        self.assertEqual((len(line), line.price_unit, line.tax_ids.ids), (1, 49.9, []))
        self.assertEqual(first.transaction_ids.amount, 49.9)

    def test_a_line_in_another_currency_rounds_as_its_currency(self):
        jpy = self.env.ref('base.JPY')
        jpy.active = True
        plan = self._lined_plan(
            [
                {
                    'name': "Lessons",
                    'price_unit': 1000.0,
                    'quantity': 1,
                    'tax_ids': [Command.set(self.vat10.ids)],
                }
            ],
            currency_id=jpy.id,
            plan_type='installments',
            installment_count=3,
        )
        self.assertEqual(plan.amount, 1100.0)
        plan.action_activate()
        self.assertEqual(
            plan.installment_ids.sorted('sequence').mapped('amount'), [366.0, 366.0, 368.0]
        )

    def test_a_changed_amount_is_billed_as_changed(self):
        """Change Schedule gives a lined subscription another amount: its coming periods bill
        and charge the new amount, never the lines' old total."""
        plan = self._lined_plan(
            [{'product_id': self.hosting.id}], plan_type='subscription', installment_count=3
        )
        with freeze_time('2026-03-01'):
            plan.action_activate()
            first = plan.installment_ids.sorted('sequence')[0]
            first._collect()
            plan._reschedule(50.0, plan.installment_ids.sorted('sequence')[1].due_date)
        with freeze_time('2026-04-01'):
            second = plan.installment_ids.filtered(lambda i: i.state == 'pending').sorted(
                'sequence'
            )[0]
            self.assertEqual(second.amount, 50.0)
            second._collect()
        self.assertEqual(second.state, 'paid')
        self.assertEqual(second.invoice_id.amount_total, 50.0)
        self.assertEqual(second.transaction_ids.amount, 50.0)
        self.assertEqual(second.amount, 50.0, "the change stands")
        # The changed amount bills the lines in proportion, their VAT with them: 41.32 + 21%.
        line = second.invoice_id.invoice_line_ids
        self.assertEqual((line.product_id, line.tax_ids), (self.hosting, self.vat21))
        self.assertEqual(
            (second.invoice_id.amount_untaxed, second.invoice_id.amount_tax), (41.32, 8.68)
        )
        # The report reads each installment's taxes from its invoice.
        self.env.flush_all()
        rows = self.env['payment.plan.collection.report'].search(
            [('installment_id', 'in', (first | second).ids)]
        )
        self.assertEqual(
            {(row.installment_id, row.amount_untaxed, row.amount_tax) for row in rows},
            {(first, 30.0, 6.3), (second, 41.32, 8.68)},
        )

    @freeze_time('2026-03-01')
    def test_an_order_with_taxes_is_paid_by_shares_of_its_own_invoice(self):
        """An order sold in installments: the plan bills the order's lines and taxes, the order
        is invoiced once (Odoo's own invoice of it) and the installments pay shares of it."""
        card = self._create_card()
        order = self.env['sale.order'].create(
            {
                'partner_id': self.customer.id,
                'order_line': [
                    Command.create({'product_id': self.hosting.id, 'product_uom_qty': 2}),
                    Command.create({'product_id': self.support.id, 'product_uom_qty': 1}),
                ],
                'payment_plan_kind': 'installments',
                'payment_plan_installment_count': 3,
                'payment_plan_collection_mode': 'token',
                'payment_plan_token_id': card.id,
            }
        )
        self.assertEqual(order.amount_total, 86.35)
        order.action_payment_plan_request()
        self._run_after_commit()
        plan = order.payment_plan_id
        self.assertEqual(plan.line_ids.product_id, self.hosting | self.support)
        self.assertEqual(plan.line_ids.tax_ids, self.vat21 | self.vat10)
        self.assertEqual(plan.amount, order.amount_total)
        self.assertEqual(order.state, 'sale')
        invoice = order.invoice_ids
        self.assertEqual(len(invoice), 1, "the order is invoiced once")
        self.assertEqual(plan.invoice_id, invoice)
        self.assertEqual((invoice.amount_tax, invoice.amount_total), (13.85, 86.35))
        first = plan.installment_ids.sorted('sequence')[0]
        self.assertEqual(first.state, 'paid')
        self.assertAlmostEqual(invoice.amount_residual, 86.35 - first.amount, places=2)
        self.assertEqual(first.transaction_ids.amount, first.amount)

    @freeze_time('2026-03-01')
    def test_reports_show_the_untaxed_amount_and_the_tax_and_recurring_revenue_is_untaxed(self):
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'quantity': 2}, {'product_id': self.support.id}],
            plan_type='subscription',
            installment_count=0,
        )
        Overview = self.env['payment.plan.overview']
        before = Overview.get_overview_data()['monthly_recurring']['amount']
        plan.action_activate()
        self.env.flush_all()
        rows = self.env['payment.plan.collection.report'].search([('plan_id', '=', plan.id)])
        self.assertTrue(rows)
        self.assertEqual(
            {(row.amount, row.amount_untaxed, row.amount_tax) for row in rows},
            {(86.35, 72.5, 13.85)},
        )
        after = Overview.get_overview_data()['monthly_recurring']['amount']
        self.assertAlmostEqual(after - before, 72.5, places=2, msg="recurring revenue is untaxed")

    @freeze_time('2026-03-01')
    def test_the_customer_gets_the_invoice_they_paid(self):
        """A subscription's period paid: its invoice goes to the customer by mail, with its
        PDF, through Odoo's own sending; an installment plan's only when the company says so."""
        subscription = self._lined_plan(
            [{'product_id': self.hosting.id}], plan_type='subscription', installment_count=2
        )
        installments = self._lined_plan([{'product_id': self.support.id}], installment_count=3)
        quiet = self._lined_plan(
            [{'product_id': self.support.id}],
            plan_type='subscription',
            installment_count=2,
            invoice_mail=False,
        )
        self.assertEqual((subscription.invoice_mail, installments.invoice_mail), (True, False))
        (subscription | installments | quiet).action_activate()
        (subscription | installments | quiet).installment_ids.filtered(
            lambda i: i.due_date.isoformat() == '2026-03-01'
        )._collect()
        period_invoice = subscription.installment_ids.sorted('sequence')[0].invoice_id
        self.assertTrue(period_invoice.sending_data, "the paid period's invoice is to be sent")
        self.assertFalse(installments.invoice_id.sending_data, "not by default")
        quiet_invoice = quiet.installment_ids.sorted('sequence')[0].invoice_id
        self.assertEqual(quiet_invoice.state, 'posted')
        self.assertFalse(quiet_invoice.sending_data, "a plan that says not to mail its invoices")
        cron = self.env.ref('account.ir_cron_account_move_send')
        self.assertTrue(self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]))
        # What the cron does, without its commit.
        self.env['account.move.send']._generate_and_send_invoices(period_invoice, from_cron=True)
        mail = self.env['mail.message'].search(
            [
                ('model', '=', 'account.move'),
                ('res_id', '=', period_invoice.id),
                ('message_type', '=', 'comment'),
                ('partner_ids', 'in', self.customer.ids),
            ]
        )
        self.assertTrue(mail, "the invoice was mailed to the customer")
        self.assertTrue(
            mail.attachment_ids.filtered(lambda a: a.mimetype == 'application/pdf'),
            "with its PDF",
        )
        self.assertTrue(period_invoice.is_move_sent)
        self.company.payment_plan_invoice_mail = 'all'
        self.assertTrue(
            self._lined_plan([{'product_id': self.support.id}]).invoice_mail,
            "a new plan follows the company's setting",
        )
        installments.invoice_mail = True
        second = installments.installment_ids.sorted('sequence')[1]
        with freeze_time('2026-04-01'):
            second._collect()
        invoice = installments.invoice_id
        self.assertTrue(invoice.sending_data, "now each payment sends it")
        self.env['account.move.send']._generate_and_send_invoices(invoice, from_cron=True)
        self.assertEqual((invoice.is_move_sent, invoice.sending_data), (True, False))
        second.transaction_ids._post_process()
        self.assertFalse(invoice.sending_data, "a payment processed again mails nothing again")
        third = installments.installment_ids.sorted('sequence')[2]
        with freeze_time('2026-05-01'):
            third._collect()
        self.assertEqual(third.state, 'paid')
        self.assertTrue(invoice.sending_data, "the invoice sent once is mailed again, now paid")

    def test_attacks_on_a_running_plans_lines_and_taxes_are_refused(self):
        """What a running plan charges never changes by its lines: a line moved onto it (from a
        draft plan, another company's included), its fiscal position, a hand-written amount."""
        running = self._lined_plan([{'product_id': self.hosting.id}])
        running.action_activate()
        draft = self._lined_plan([{'name': "Extra", 'price_unit': 500.0}])
        line = draft.line_ids
        with self.assertRaisesRegex(UserError, "belongs to its plan"):
            line.write({'plan_id': running.id})
        with self.assertRaisesRegex(UserError, "belongs to its plan"):
            running.write({'line_ids': [Command.link(line.id)]})
        export = self.env['account.fiscal.position'].create({'name': "Export"})
        with self.assertRaisesRegex(UserError, "cannot be edited directly"):
            running.write({'fiscal_position_id': export.id})
        # Bill switched over RPC would bill a period twice (in advance, then at period end).
        with self.assertRaisesRegex(UserError, "cannot be edited directly"):
            running.with_user(self.plan_user).write({'invoice_period': 'arrears'})
        self.assertEqual(running.invoice_period, 'advance')
        self.assertEqual((running.amount, running.line_ids.tax_ids), (36.3, self.vat21))
        with self.assertRaisesRegex(UserError, "is their total"):
            draft.write({'amount': 5.0})
        self.assertEqual(draft.amount, 500.0)

    def test_a_product_priced_in_another_currency_is_converted(self):
        eur = self.env.ref('base.EUR')
        eur.active = True
        other = eur if self.currency != eur else self.env.ref('base.USD')
        other.active = True
        self.env['res.currency.rate'].create(
            {
                'currency_id': other.id,
                'rate': 2.0,
                'name': '2026-01-01',
                'company_id': self.company.id,
            }
        )
        plan = self._lined_plan([{'product_id': self.support.id}], currency_id=other.id)
        self.assertAlmostEqual(plan.line_ids.price_unit, 25.0, places=2)

    @freeze_time('2026-03-01')
    def test_an_order_whose_lines_do_not_make_its_total_is_paid_its_total(self):
        """An early payment discount (mixed) taxes the discounted base: the order's lines do not
        add up to its total, so its plan bills the total the customer pays."""
        term = self.env['account.payment.term'].create(
            {
                'name': "2% 10 days",
                'early_discount': True,
                'discount_percentage': 2.0,
                'discount_days': 10,
                'early_pay_discount_computation': 'mixed',
                'line_ids': [
                    Command.create({'value': 'percent', 'value_amount': 100.0, 'nb_days': 30})
                ],
            }
        )
        card = self._create_card()
        order = self.env['sale.order'].create(
            {
                'partner_id': self.customer.id,
                'payment_term_id': term.id,
                'order_line': [
                    Command.create({'product_id': self.hosting.id, 'product_uom_qty': 4})
                ],
                'payment_plan_kind': 'subscription',
                'payment_plan_collection_mode': 'token',
                'payment_plan_token_id': card.id,
            }
        )
        order.action_payment_plan_request()
        self._run_after_commit()
        plan = order.payment_plan_id
        self.assertEqual(plan.amount, order.amount_total)
        self.assertEqual(order.state, 'sale')
        self.assertEqual(order.invoice_ids.amount_total, order.amount_total)

    def test_an_order_with_a_down_payment_is_not_paid_by_plan(self):
        order = self.env['sale.order'].create(
            {
                'partner_id': self.customer.id,
                'order_line': [
                    Command.create({'product_id': self.hosting.id}),
                    Command.create(
                        {'name': "Down payment", 'price_unit': 0.0, 'is_downpayment': True}
                    ),
                ],
                'payment_plan_kind': 'installments',
                'payment_plan_installment_count': 3,
                'payment_plan_collection_mode': 'token',
            }
        )
        with self.assertRaisesRegex(UserError, "down payment"):
            order.action_payment_plan_request()
        self.assertFalse(order.payment_plan_id)

    def test_the_card_pays_the_invoice_to_the_cent_in_every_currency_and_rounding(self):
        """KWD (3 decimals), CLP and JPY (none), BRL and EUR; taxes rounded per line or
        globally; prices with and without tax included: the charges add up to the invoice's
        total, to the smallest unit of the currency."""
        product = self._create_product("Service", 33.333, self.vat21)
        included = self._create_product("Service incl.", 40.0, self.vat21_included)
        for code in ('KWD', 'CLP', 'JPY', 'BRL', 'EUR'):
            currency = self.env.ref(f'base.{code}')
            currency.active = True
            for rounding in ('round_per_line', 'round_globally'):
                with self.subTest(currency=code, rounding=rounding):
                    self.company.tax_calculation_rounding_method = rounding
                    plan = self._lined_plan(
                        [
                            {'product_id': product.id, 'price_unit': 33.333, 'quantity': 3},
                            {'product_id': included.id, 'price_unit': 40.0, 'quantity': 1},
                        ],
                        currency_id=currency.id,
                        installment_count=3,
                    )
                    plan.action_activate()
                    for day in ('2026-03-01', '2026-04-01', '2026-05-01'):
                        with freeze_time(day):
                            plan.installment_ids._collect()
                    invoice = plan.invoice_id
                    charged = sum(plan.installment_ids.transaction_ids.mapped('amount'))
                    self.assertEqual(plan.state, 'done')
                    self.assertTrue(currency.is_zero(invoice.amount_residual))
                    self.assertFalse(currency.compare_amounts(charged, invoice.amount_total))
                    self.assertFalse(currency.compare_amounts(plan.amount, invoice.amount_total))

    # === REFUNDS === #

    def _refund(self, tx, amount):
        """Refund `amount` of a charge from Odoo (the demo provider answers at once, its
        post-processing cron follows); return the refund's transaction."""
        tx.action_refund(amount_to_refund=amount)
        self._post_process_outcomes()
        return tx.child_transaction_ids.sorted('id')[-1]

    def _tax_amounts(self, move):
        return {
            line.tax_line_id: line.amount_currency * (1 if move.move_type == 'out_refund' else -1)
            for line in move.line_ids.filtered('tax_line_id')
        }

    def _paid_first_period(self):
        """Return the first period, paid, of a subscription of 2 Hosting (VAT 21%) and Support
        (VAT 10%): an invoice of 86.35."""
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'quantity': 2}, {'product_id': self.support.id}],
            plan_type='subscription',
            installment_count=3,
        )
        plan.action_activate()
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        return first

    @freeze_time('2026-03-01')
    def test_a_refund_credits_the_invoice_it_paid_with_its_products_and_taxes(self):
        first = self._paid_first_period()
        invoice, charge = first.invoice_id, first.transaction_ids
        self.assertEqual(invoice.amount_total, 86.35)
        refund = self._refund(charge, 30.0)
        self.assertEqual(refund.state, 'done')
        credit_note = refund.invoice_ids
        self.assertEqual(
            (credit_note.move_type, credit_note.state, credit_note.reversed_entry_id),
            ('out_refund', 'posted', invoice),
        )
        self.assertEqual(credit_note.amount_total, 30.0, "the refund, to the cent")
        self.assertEqual(credit_note.invoice_user_id, invoice.invoice_user_id)
        products = credit_note.invoice_line_ids.filtered('product_id')
        self.assertEqual(products.product_id, self.hosting | self.support)
        self.assertEqual(
            products.filtered(lambda line: line.product_id == self.hosting).account_id,
            self.income,
        )
        # The taxes credited in proportion: 30.00 of 86.35 of 12.60 VAT 21% and 1.25 VAT 10%.
        taxes = self._tax_amounts(credit_note)
        self.assertAlmostEqual(taxes[self.vat21], 12.6 * 30 / 86.35, delta=0.01)
        self.assertAlmostEqual(taxes[self.vat10], 1.25 * 30 / 86.35, delta=0.01)
        # The ledger: the invoice stays paid, the credit note is settled by the money given
        # back, the customer owes nothing; the installment stays paid, 30.00 refunded.
        self.assertEqual((invoice.amount_residual, credit_note.amount_residual), (0.0, 0.0))
        self.assertTrue(refund.payment_id.is_reconciled)
        self.assertEqual((first.state, first.amount_refunded), ('paid', 30.0))
        # Processed again (the status page, the cron): one credit note.
        refund._post_process()
        credit_notes = self.env['account.move'].search([('reversed_entry_id', '=', invoice.id)])
        self.assertEqual(credit_notes, credit_note)
        # The rest refunded: both credit notes make the invoice, its taxes to the cent.
        rest = self._refund(charge, 56.35)
        self.assertEqual(rest.invoice_ids.amount_total, 56.35)
        both = credit_note | rest.invoice_ids
        self.assertEqual(sum(both.mapped('amount_total')), invoice.amount_total)
        self.assertEqual(first.amount_refunded, 86.35)

    @freeze_time('2026-03-01')
    def test_a_charge_refunded_in_parts_credits_the_invoices_taxes_exactly(self):
        """Refunded in 3 or 7 parts that make the whole charge, in KWD, JPY and EUR, with taxes
        excluded and included: each credit note is its refund to the cent, and together they
        credit each tax and the untaxed amount of the invoice exactly (the VAT declared goes back
        to zero)."""
        # Each rate in its tax group, as countries' charts of accounts have them.
        for tax in (self.vat21, self.vat10, self.vat21_included):
            tax.tax_group_id = self.env['account.tax.group'].create(
                {'name': tax.name, 'company_id': self.company.id}
            )
        lines = [
            {'name': "Hosting", 'price_unit': 10.333, 'quantity': 3, 'tax_ids': self.vat21.ids},
            {'name': "Support", 'price_unit': 7.777, 'quantity': 1, 'tax_ids': self.vat10.ids},
            {
                'name': "Setup",
                'price_unit': 7.77,
                'quantity': 1,
                'tax_ids': self.vat21_included.ids,
            },
        ]
        for code, parts, unit in (('KWD', 3, 1), ('KWD', 7, 1), ('JPY', 7, 100), ('EUR', 7, 1)):
            currency = self.env.ref(f'base.{code}')
            currency.active = True
            with self.subTest(currency=code, parts=parts):
                plan = self._lined_plan(
                    [
                        {
                            **line,
                            'price_unit': line['price_unit'] * unit,
                            'tax_ids': [Command.set(line['tax_ids'])],
                        }
                        for line in lines
                    ],
                    plan_type='subscription',
                    installment_count=2,
                    currency_id=currency.id,
                )
                plan.action_activate()
                first = plan.installment_ids.sorted('sequence')[0]
                first._collect()
                invoice, charge = first.invoice_id, first.transaction_ids
                share = currency.round(charge.amount / parts)
                amounts = [share] * (parts - 1) + [
                    currency.round(charge.amount - share * (parts - 1))
                ]
                credit_notes = self.env['account.move']
                for amount in amounts:
                    credit_note = self._refund(charge, amount).invoice_ids
                    self.assertFalse(currency.compare_amounts(credit_note.amount_total, amount))
                    credit_notes |= credit_note
                credited = {}
                for credit_note in credit_notes:
                    for tax, tax_amount in self._tax_amounts(credit_note).items():
                        credited[tax] = currency.round(credited.get(tax, 0.0) + tax_amount)
                self.assertEqual(credited, self._tax_amounts(invoice))
                self.assertFalse(
                    currency.compare_amounts(
                        sum(credit_notes.mapped('amount_untaxed')), invoice.amount_untaxed
                    )
                )
                self.assertTrue(currency.is_zero(invoice.amount_residual))
                self.assertEqual(set(credit_notes.mapped('payment_state')), {'paid'})
                self.assertEqual((first.state, first.amount_refunded), ('paid', charge.amount))

    @freeze_time('2026-03-01')
    def test_after_a_credit_note_made_by_hand_a_refund_credits_its_lines_own_taxes(self):
        """Staff credited the whole invoice with Odoo's Credit Note, or two rates share a tax
        group: a refund's credit note keeps the taxes its lines make, never a negative tax, and
        is the refund to the cent."""
        self.assertEqual(self.vat21.tax_group_id, self.vat10.tax_group_id, "one group")
        first = self._paid_first_period()
        invoice, charge = first.invoice_id, first.transaction_ids
        reversal = (
            self.env['account.move.reversal']
            .with_context(active_model='account.move', active_ids=invoice.ids)
            .create({'reason': "Goodwill", 'journal_id': invoice.journal_id.id})
        )
        self.env['account.move'].browse(reversal.refund_moves()['res_id']).action_post()
        for amount in (30.0, 12.34):
            credit_note = self._refund(charge, amount).invoice_ids
            self.assertEqual((credit_note.state, credit_note.amount_total), ('posted', amount))
            taxes = self._tax_amounts(credit_note)
            self.assertEqual(set(taxes), {self.vat21, self.vat10})
            self.assertTrue(all(tax > 0 for tax in taxes.values()), taxes)

    @freeze_time('2026-03-01')
    def test_rewriting_a_running_plan_never_reprices_its_lines(self):
        """A running plan's lines are what its customer agreed to: writing its customer again
        (an import, an RPC) neither resets a price set by hand nor remaps its taxes."""
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'price_unit': 25.0}],
            plan_type='subscription',
            installment_count=0,
        )
        plan.action_activate()
        self.assertEqual((plan.amount, plan.line_ids.price_unit), (30.25, 25.0))
        plan.with_user(self.plan_user).write({'partner_id': plan.partner_id.id})
        self.assertEqual(plan.state, 'active')
        self.assertEqual(
            (plan.amount, plan.line_ids.price_unit, plan.line_ids.tax_ids),
            (30.25, 25.0, self.vat21),
        )
        first = plan.installment_ids.sorted('sequence')[0]
        first._collect()
        self.assertEqual(
            (first.invoice_id.amount_total, first.transaction_ids.amount), (30.25, 30.25)
        )
        plan._extend_subscription_schedule()
        self.assertEqual(set(plan.installment_ids.mapped('amount')), {30.25})

    @freeze_time('2026-03-01')
    def test_a_full_refund_credits_the_invoices_lines_exactly(self):
        first = self._paid_first_period()
        invoice = first.invoice_id
        credit_note = self._refund(first.transaction_ids, 86.35).invoice_ids
        self.assertEqual(
            (credit_note.amount_untaxed, credit_note.amount_tax, credit_note.amount_total),
            (72.5, 13.85, 86.35),
        )
        self.assertEqual(self._tax_amounts(credit_note), self._tax_amounts(invoice))
        self.assertFalse(
            credit_note.invoice_line_ids.filtered(lambda line: not line.product_id),
            "no rounding line when the whole invoice is credited",
        )

    def test_a_refunded_installment_credits_its_share_of_the_plans_invoice(self):
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'quantity': 3}, {'product_id': self.support.id}],
        )
        with freeze_time('2026-03-01'):
            plan.action_activate()
            first = plan.installment_ids.sorted('sequence')[0]
            first._collect()
        self.assertEqual((plan.invoice_id.amount_total, first.amount), (122.65, 40.88))
        credit_note = self._refund(first.transaction_ids, 40.88).invoice_ids
        self.assertEqual(credit_note.amount_total, 40.88)
        self.assertEqual(credit_note.reversed_entry_id, plan.invoice_id)
        self.assertEqual(credit_note.amount_residual, 0.0)
        # The plan's invoice still owes the two installments to come, which stay to charge.
        self.assertEqual(plan.invoice_id.amount_residual, 81.77)
        self.assertEqual(
            plan.installment_ids.sorted('sequence').mapped('state'), ['paid', 'pending', 'pending']
        )

    @freeze_time('2026-03-01')
    def test_a_changed_installment_plan_credits_and_invoices_its_rest_with_its_taxes(self):
        """Change Schedule spreads the rest of a taxed installment plan anew: the credit note of
        the old rest and the invoice of the new one bill the lines in proportion, with their
        taxes, so the VAT declared stays the sale's."""
        plan = self._lined_plan(
            [{'product_id': self.hosting.id, 'quantity': 3}, {'product_id': self.support.id}],
        )
        plan.action_activate()
        plan.installment_ids.sorted('sequence')[0]._collect()
        old = plan.invoice_id
        self.assertEqual(old.amount_residual, 81.77)
        plan._reschedule(81.77, date(2026, 4, 1), remaining_count=4)
        credit_note = self.env['account.move'].search([('reversed_entry_id', '=', old.id)])
        new = plan.invoice_id
        self.assertNotEqual(new, old)
        self.assertEqual((credit_note.amount_total, new.amount_total), (81.77, 81.77))
        self.assertEqual(
            new.invoice_line_ids.filtered('product_id').product_id, self.hosting | self.support
        )
        self.assertEqual(self._tax_amounts(credit_note), self._tax_amounts(new))
        self.assertEqual((old.amount_residual, new.amount_residual), (0.0, 81.77))
        pending = plan.installment_ids.filtered(lambda i: i.state == 'pending')
        self.assertAlmostEqual(sum(pending.mapped('amount')), 81.77, places=2)
        self.assertEqual(set(pending.mapped('invoice_id')), {new})
