from datetime import timedelta

import lxml.html
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import Form, tagged

from odoo.addons.payment_plan.tests.common import (
    PaymentPlanCommon,
    create_demo_cards,
    record_consents,
)


class MassChargeCommon(PaymentPlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        record_consents(cls.env, cls.customer | cls.other_customer)

    @classmethod
    def _create_invoice(cls, partner, amount, post=True, date_due=None):
        invoice = cls.env['account.move'].create(
            {
                'move_type': 'out_invoice',
                'partner_id': partner.id,
                'invoice_date': date_due or fields.Date.today(),
                'invoice_line_ids': [
                    Command.create(
                        {'name': "Late fee", 'quantity': 1, 'price_unit': amount, 'tax_ids': []}
                    )
                ],
            }
        )
        if post:
            invoice.action_post()
        return invoice

    @classmethod
    def _create_payer(cls, name, card_state='done', consent=True, **values):
        """Return a customer with a card that simulates `card_state` (no card when None)."""
        partner = cls.env['res.partner'].create(
            {
                'name': name,
                'email': f'{name.lower().replace(" ", ".")}@example.com',
                **values,
            }
        )
        if card_state:
            cls._create_card(
                partner=partner, details=f'{partner.id:04d}', state=card_state, consent=consent
            )
        elif consent:
            record_consents(cls.env, partner)
        return partner

    def _mass_charge(self, user=None, **values):
        """Run the mass charge wizard; return the batch it recorded."""
        wizard = (
            self.env['payment.plan.mass.charge'].with_user(user or self.plan_manager).create(values)
        )
        action = wizard.action_charge()
        self._run_after_commit()
        return self.env['payment.plan.charge.batch'].browse(action['res_id'])


@tagged('post_install', '-at_install')
class TestMassInvoice(MassChargeCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.household = cls.env['res.partner'].create(
            {'name': "Garcia household", 'is_company': True}
        )
        cls.parent_a, cls.parent_b = cls.env['res.partner'].create(
            [
                {'name': "Ana Garcia", 'parent_id': cls.household.id},
                {'name': "Luis Garcia", 'parent_id': cls.household.id},
            ]
        )
        cls.accountant = cls.env['res.users'].create(
            {
                'name': "Ada Accountant",
                'login': 'ada_accountant',
                'group_ids': [Command.set([cls.env.ref('account.group_account_invoice').id])],
            }
        )

    def _wizard(self, grouping, partners, post=True):
        return (
            self.env['payment.plan.mass.invoice']
            .with_user(self.accountant)
            .with_context(active_model='res.partner', active_ids=partners.ids)
            .create(
                {
                    'grouping': grouping,
                    'post': post,
                    'line_ids': [
                        Command.create({'name': "Term tuition", 'price_unit': 450.0}),
                        Command.create({'name': "Materials", 'quantity': 2, 'price_unit': 12.5}),
                    ],
                }
            )
        )

    def test_one_invoice_per_contact(self):
        partners = self.parent_a | self.parent_b | self.customer
        wizard = self._wizard('contact', partners)
        self.assertEqual(wizard.invoice_count, 3)
        action = wizard.action_create_invoices()
        invoices = self.env['account.move'].search(action['domain'])
        self.assertEqual(invoices.partner_id, partners)
        self.assertEqual(set(invoices.mapped('state')), {'posted'})
        self.assertEqual(set(invoices.mapped('amount_total')), {475.0})

    def test_one_invoice_per_commercial_entity(self):
        partners = self.parent_a | self.parent_b | self.customer
        wizard = self._wizard('commercial', partners, post=False)
        self.assertEqual(wizard.invoice_count, 2, "the two parents share one household invoice")
        invoices = self.env['account.move'].search(wizard.action_create_invoices()['domain'])
        self.assertEqual(invoices.partner_id, self.household | self.customer)
        self.assertEqual(set(invoices.mapped('state')), {'draft'})

    def test_product_lines_take_the_product_price_and_taxes(self):
        tax = self.env['account.tax'].create({'name': "VAT 10", 'amount': 10.0})
        product = self.env['product.product'].create(
            {'name': "Late fee", 'lst_price': 20.0, 'taxes_id': [Command.set(tax.ids)]}
        )
        wizard = self.env['payment.plan.mass.invoice'].create(
            {
                'partner_ids': [Command.set(self.customer.ids)],
                'line_ids': [Command.create({'product_id': product.id})],
            }
        )
        self.assertEqual(wizard.line_ids.name, "Late fee")
        invoice = self.env['account.move'].search(wizard.action_create_invoices()['domain'])
        self.assertEqual(invoice.amount_total, 22.0)

    def test_lines_must_be_positive_and_present(self):
        with self.assertRaises(ValidationError):
            self.env['payment.plan.mass.invoice'].create(
                {
                    'partner_ids': [Command.set(self.customer.ids)],
                    'line_ids': [Command.create({'name': "Refund?", 'price_unit': -5.0})],
                }
            )
        wizard = self.env['payment.plan.mass.invoice'].create(
            {'partner_ids': [Command.set(self.customer.ids)]}
        )
        with self.assertRaises(UserError):
            wizard.action_create_invoices()


@tagged('post_install', '-at_install')
class TestMassCharge(MassChargeCommon):
    def test_the_dialog_from_the_customer_list_previews_each_customer_once(self):
        """The dialog's customers are new records until it is saved: the preview, computed
        before, lists each selected customer once, says who *will be* charged, and totals only
        what is charged."""
        payers = self._create_payer("Pia Preview") | self._create_payer("Quentin Preview")
        for payer in payers:
            self._create_invoice(payer, 40.0)
        skipped = self._create_payer("Rita No Card", card_state=None)
        self._create_invoice(skipped, 1000.0)
        selection = payers | skipped
        form = Form(
            self.env['payment.plan.mass.charge']
            .with_user(self.plan_manager)
            .with_context(active_model='res.partner', active_ids=selection.ids)
        )
        self.assertEqual((form.charge_count, form.skip_count), (2, 1), "3 selected, 3 rows")
        self.assertEqual(form.amount_total, 80.0)
        preview = lxml.html.fromstring(form.preview_html)
        rows = preview.xpath('//tbody/tr')
        self.assertEqual(len(rows), 3)
        self.assertEqual(
            sorted(r.xpath('string(.//span[contains(@class, "preview_customer")])') for r in rows),
            ["Pia Preview", "Quentin Preview", "Rita No Card"],
        )
        self.assertEqual(
            [s.text for s in preview.xpath('//*[contains(@class, "preview_charged")]')],
            ["Will be charged"] * 2,
        )
        batch = self.env['payment.plan.charge.batch'].browse(form.save().action_charge()['res_id'])
        self.assertEqual(sum(batch.line_ids.mapped('amount')), 80.0, "skipped lines charge 0")

    def test_open_invoices_are_charged_paid_and_reconciled(self):
        payer = self._create_payer("Dora Done")
        first = self._create_invoice(payer, 80.0)
        second = self._create_invoice(payer, 20.0)
        batch = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        self.assertEqual(batch.state, 'done')
        line = batch.line_ids
        self.assertEqual(line.state, 'done')
        self.assertEqual(line.amount, 100.0)
        self.assertEqual(line.transaction_id.state, 'done')
        self.assertEqual(line.transaction_id.operation, 'offline')
        for invoice in first | second:
            self.assertIn(invoice.payment_state, ('paid', 'in_payment'))
            self.assertFalse(invoice.payment_plan_charge_line_id, "the charge is over")
        self.assertEqual(line.transaction_id.payment_id.amount, 100.0)
        self.assertEqual((batch.done_count, batch.amount_done), (1, 100.0))

    def test_the_preview_lists_each_customer_and_the_batch_does_what_it_said(self):
        payer = self._create_payer("Paz Payer")
        self._create_invoice(payer, 40.0)
        no_card = self._create_payer("Nina Nocard", card_state=None)
        self._create_invoice(no_card, 50.0)
        household = self._create_payer("Rossi household", is_company=True)
        self._create_invoice(household, 70.0)
        parent_a, parent_b = self.env['res.partner'].create(
            [
                {'name': "Marco Rossi", 'parent_id': household.id},
                {'name': "Giulia Rossi", 'parent_id': household.id},
            ]
        )
        nothing_due = self._create_payer("Otto Owesnothing")
        selection = payer | no_card | parent_a | parent_b | nothing_due
        wizard = self.env['payment.plan.mass.charge'].create(
            {'partner_ids': [Command.set(selection.ids)]}
        )
        # One line per customer charged: the household pays for both its contacts.
        self.assertEqual((wizard.charge_count, wizard.skip_count), (2, 2))
        preview = lxml.html.fromstring(wizard.preview_html)
        rows = {
            row.xpath('string(.//*[hasclass("o_payment_plan_preview_customer")])'): (
                'skipped'
                if row.xpath('.//*[hasclass("o_payment_plan_preview_skipped")]')
                else 'charged'
            )
            for row in preview.xpath('//tbody/tr')
        }
        self.assertEqual(
            rows,
            {
                payer.name: 'charged',
                household.name: 'charged',
                no_card.name: 'skipped',
                nothing_due.name: 'skipped',
            },
        )
        self.assertIn("Marco Rossi, Giulia Rossi", wizard.preview_html)
        self.assertIn("No valid card on file", wizard.preview_html)
        batch = self.env['payment.plan.charge.batch'].browse(wizard.action_charge()['res_id'])
        self._run_after_commit()
        self.assertEqual(
            {
                line.partner_id.name: 'skipped' if line.state == 'skipped' else 'charged'
                for line in batch.line_ids
            },
            rows,
            "the batch does exactly what the preview said",
        )
        self.assertEqual(
            sorted(batch.line_ids.filtered(lambda line: line.state != 'skipped').mapped('amount')),
            [40.0, 70.0],
        )

    def test_a_partial_amount_pays_the_oldest_invoice_first(self):
        payer = self._create_payer("Olga Oldest")
        oldest = self._create_invoice(
            payer, 100.0, date_due=fields.Date.today() - timedelta(days=20)
        )
        middle = self._create_invoice(
            payer, 30.0, date_due=fields.Date.today() - timedelta(days=10)
        )
        newest = self._create_invoice(payer, 10.0)
        batch = self._mass_charge(
            partner_ids=[Command.set(payer.ids)], charge_mode='fixed', fixed_amount=115.0
        )
        self.assertEqual(batch.line_ids.state, 'done')
        self.assertEqual(oldest.amount_residual, 0.0, "the oldest is paid in full first")
        self.assertEqual(middle.amount_residual, 15.0, "then the next one, in part")
        self.assertEqual(newest.amount_residual, 10.0, "the newest waits")

    def test_the_notes_of_a_mass_invoice_and_a_mass_charge_show_on_invoices_and_receipts(self):
        payer = self._create_payer("Nora Note")
        wizard = self.env['payment.plan.mass.invoice'].create(
            {
                'partner_ids': [Command.set(payer.ids)],
                'note': "<p>Membership 2026</p>",
                'line_ids': [Command.create({'name': "Membership", 'price_unit': 60.0})],
            }
        )
        wizard.action_create_invoices()
        invoice = self.env['account.move'].search([('partner_id', '=', payer.id)])
        self.assertIn("Membership 2026", str(invoice.narration))
        batch = self._mass_charge(partner_ids=[Command.set(payer.ids)], note="Fees of March")
        payment = batch.line_ids.transaction_id.payment_id
        self.assertIn("Fees of March", payment.memo, "the receipt says what was charged")
        self.assertEqual(batch.note, "Fees of March")

    def test_customers_that_cannot_be_charged_are_skipped_with_the_reason(self):
        no_card = self._create_payer("Nina Nocard", card_state=None)
        no_consent = self._create_payer("Ned Noconsent", consent=False)
        expired = self._create_payer("Eve Expired", card_state=None)
        self._create_card(partner=expired, details='0001', expiry_month=1, expiry_year=2020)
        nothing_due = self._create_payer("Otto Owesnothing")
        for partner in no_card | no_consent | expired:
            self._create_invoice(partner, 50.0)
        wizard = self.env['payment.plan.mass.charge'].create(
            {'partner_ids': [Command.set((no_card | no_consent | expired | nothing_due).ids)]}
        )
        self.assertEqual((wizard.charge_count, wizard.skip_count), (0, 4))
        self.assertIn("No valid card on file", wizard.summary)
        batch = self.env['payment.plan.charge.batch'].browse(wizard.action_charge()['res_id'])
        self._run_after_commit()
        reasons = {line.partner_id: line.message for line in batch.line_ids}
        self.assertEqual(set(batch.line_ids.mapped('state')), {'skipped'})
        self.assertIn("No valid card", reasons[no_card])
        self.assertIn("expired", reasons[expired])
        self.assertIn("consent", reasons[no_consent])
        self.assertIn("No open invoice", reasons[nothing_due])
        self.assertFalse(batch.line_ids.transaction_ids, "nobody was charged")
        self.assertEqual(batch.state, 'done')

    def test_fixed_and_partial_amounts(self):
        fixed_payer = self._create_payer("Fay Fixed")
        old = self._create_invoice(fixed_payer, 30.0, date_due='2026-01-10')
        new = self._create_invoice(fixed_payer, 70.0, date_due='2026-02-10')
        batch = self._mass_charge(
            partner_ids=[Command.set(fixed_payer.ids)], charge_mode='fixed', fixed_amount=40.0
        )
        self.assertEqual(batch.line_ids.amount, 40.0)
        self.assertEqual(old.payment_state, 'paid' if old.amount_residual == 0 else 'in_payment')
        self.assertEqual(old.amount_residual, 0.0, "the oldest invoice is paid first")
        self.assertEqual(new.amount_residual, 60.0)

        share_payer = self._create_payer("Sam Share")
        invoice = self._create_invoice(share_payer, 99.99)
        batch = self._mass_charge(
            partner_ids=[Command.set(share_payer.ids)], charge_mode='percent', percent=50.0
        )
        self.assertEqual(batch.line_ids.amount, 50.0, "49.995 rounded in the currency")
        self.assertEqual(invoice.amount_residual, 49.99)
        self.assertEqual(invoice.payment_state, 'partial')

    def test_fixed_amount_is_capped_at_the_open_balance(self):
        payer = self._create_payer("Carl Capped")
        invoice = self._create_invoice(payer, 25.0)
        batch = self._mass_charge(
            partner_ids=[Command.set(payer.ids)], charge_mode='fixed', fixed_amount=100.0
        )
        self.assertEqual(batch.line_ids.amount, 25.0)
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_charging_from_the_invoice_list_charges_only_those_invoices(self):
        payer = self._create_payer("Ivy Invoices")
        chosen = self._create_invoice(payer, 10.0)
        other = self._create_invoice(payer, 15.0)
        wizard = (
            self.env['payment.plan.mass.charge']
            .with_user(self.plan_manager)
            .with_context(active_model='account.move', active_ids=chosen.ids)
            .create({})
        )
        self.assertEqual((wizard.charge_count, wizard.amount_total), (1, 10.0))
        wizard.action_charge()
        self._run_after_commit()
        self.assertEqual(chosen.amount_residual, 0.0)
        self.assertEqual(other.amount_residual, 15.0)

    def test_failed_lines_are_rerun_alone(self):
        good = self._create_payer("Gina Good")
        bad = self._create_payer("Bob Bad", card_state='error')
        good_invoice = self._create_invoice(good, 10.0)
        bad_invoice = self._create_invoice(bad, 20.0)
        batch = self._mass_charge(partner_ids=[Command.set((good | bad).ids)])
        failed = batch.line_ids.filtered(lambda line: line.state == 'failed')
        self.assertEqual(failed.partner_id, bad)
        self.assertTrue(failed.message, "the provider's message is shown")
        self.assertEqual(bad_invoice.amount_residual, 20.0)
        self.assertFalse(bad_invoice.payment_plan_charge_line_id)
        self.assertEqual((batch.failed_count, batch.amount_failed), (1, 20.0))

        bad.payment_token_ids.demo_simulated_state = 'done'  # The customer fixed their card.
        batch.with_user(self.plan_manager).action_rerun_failed()
        self._run_after_commit()
        self.assertEqual(failed.state, 'done')
        self.assertEqual(len(failed.transaction_ids), 2, "a new attempt with its own reference")
        self.assertEqual(len(set(failed.transaction_ids.mapped('reference'))), 2)
        self.assertEqual(bad_invoice.amount_residual, 0.0)
        good_line = batch.line_ids - failed
        self.assertEqual(len(good_line.transaction_ids), 1, "the good line is not charged again")
        self.assertEqual(good_invoice.amount_residual, 0.0)
        with self.assertRaises(UserError):
            batch.action_rerun_failed()

    def test_an_invoice_paid_or_being_paid_is_never_charged_again(self):
        payer = self._create_payer("Pete Pending", card_state='pending')
        invoice = self._create_invoice(payer, 60.0)
        first = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        self.assertEqual(first.line_ids.state, 'pending')
        self.assertEqual(first.line_ids.transaction_id.state, 'pending')
        self.assertEqual(invoice.payment_plan_charge_line_id, first.line_ids)

        second = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        self.assertEqual(second.line_ids.state, 'skipped')
        self.assertIn("being paid", second.line_ids.message)
        self.assertFalse(second.line_ids.transaction_ids)

        # The provider confirms the pending charge: the invoice is paid, and stays so.
        first.line_ids.transaction_id._set_done()
        first.line_ids.transaction_id._post_process()
        self.assertEqual(first.line_ids.state, 'done')
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertFalse(invoice.payment_plan_charge_line_id)
        third = self._mass_charge(invoice_ids=[Command.set(invoice.ids)])
        self.assertEqual(third.line_ids.state, 'skipped')
        self.assertIn("Already paid", third.line_ids.message)

    def test_a_replayed_outcome_of_an_old_attempt_changes_nothing(self):
        payer = self._create_payer("Rita Replay", card_state='error')
        invoice = self._create_invoice(payer, 30.0)
        batch = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        old_tx = batch.line_ids.transaction_id
        payer.payment_token_ids.demo_simulated_state = 'done'
        batch.action_rerun_failed()
        self._run_after_commit()
        self.assertEqual(batch.line_ids.state, 'done')
        old_tx._post_process()  # A late webhook of the refused first attempt.
        self.assertEqual(batch.line_ids.state, 'done')
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_an_interrupted_charge_waits_for_the_provider_and_is_never_sent_again(self):
        payer = self._create_payer("Ivan Interrupted")
        invoice = self._create_invoice(payer, 70.0)
        wizard = self.env['payment.plan.mass.charge'].create(
            {'partner_ids': [Command.set(payer.ids)]}
        )
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'charge_mode': 'open',
                'line_ids': [Command.create(vals) for vals in wizard._prepare_line_values()],
            }
        )
        # The claim was committed, then the server stopped before the card was charged.
        [tx] = batch.line_ids._claim_attempts()
        self.assertEqual((batch.line_ids.state, tx.state), ('processing', 'draft'))
        self.assertEqual(invoice.payment_plan_charge_line_id, batch.line_ids)
        with freeze_time(fields.Datetime.now() + timedelta(hours=2)):
            self.env['payment.plan.charge.batch']._update_unfinished()
        self.assertEqual(batch.line_ids.state, 'pending')
        self.assertIn("interrupted", batch.line_ids.message)
        self.assertEqual(batch.state, 'done')
        self.assertEqual(invoice.payment_plan_charge_line_id, batch.line_ids, "still being paid")
        again = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        self.assertEqual(again.line_ids.state, 'skipped')
        self.assertEqual(len(invoice.transaction_ids), 1, "never sent again")
        # The provider reports that the charge went through.
        tx.provider_reference = 'late-report'
        tx._set_done()
        tx._post_process()
        self.assertEqual(batch.line_ids.state, 'done')
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertFalse(invoice.payment_plan_charge_line_id)

    def test_large_selections_run_in_the_background_with_progress_and_a_mail(self):
        partners = self.env['res.partner'].create(
            [{'name': f"Background payer {n}"} for n in range(500)]
        )
        create_demo_cards(self.env, partners, states=lambda n: 'error' if n % 50 == 0 else 'done')
        invoices = self.env['account.move'].create(
            [
                {
                    'move_type': 'out_invoice',
                    'partner_id': partner.id,
                    'invoice_line_ids': [
                        Command.create({'name': "Fee", 'price_unit': 12.5, 'tax_ids': []})
                    ],
                }
                for partner in partners
            ]
        )
        invoices.action_post()
        cron = self.env.ref('payment_plan.ir_cron_collect_due')
        triggers_before = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
        batch = self._mass_charge(partner_ids=[Command.set(partners.ids)])
        self.assertEqual(batch.state, 'queued', "500 customers are charged in the background")
        self.assertEqual((batch.queued_count, batch.progress), (500, 0.0))
        self.assertFalse(batch.line_ids.transaction_ids)
        self.assertGreater(
            self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), triggers_before
        )

        # What the cron runs (without its commits, which a test cannot make).
        self.env['payment.plan.charge.batch.line']._collect(batch_size=100)
        self.assertEqual(batch.state, 'done')
        self.assertEqual(batch.progress, 100.0)
        self.assertEqual((batch.done_count, batch.failed_count), (490, 10))
        self.assertEqual(batch.amount_done, 490 * 12.5)
        self.assertEqual(len(batch.line_ids.transaction_ids), 500)
        self.assertEqual(len(invoices.filtered(lambda inv: inv.amount_residual == 0)), 490)
        mail = batch.message_ids.filtered(lambda m: self.plan_manager.partner_id in m.partner_ids)
        self.assertEqual(len(mail), 1, "the requester is told once")
        self.assertIn("490 charged", mail.body)

    def test_the_requester_is_notified_when_their_own_job_finishes_the_batch(self):
        """queue_job charges a large batch as its requester: the done message still reaches
        them (Odoo notifies no author, so OdooBot posts it)."""
        payer = self._create_payer("Nico Notified")
        self._create_invoice(payer, 15.0)
        batch = self._mass_charge(partner_ids=[Command.set(payer.ids)])
        batch.message_ids.filtered(lambda m: "is done" in (m.body or '')).unlink()
        batch.with_user(self.plan_manager)._notify_done()
        done = batch.message_ids.filtered(lambda m: "is done" in (m.body or ''))
        self.assertEqual(done.author_id, self.env.ref('base.partner_root'))
        self.assertIn(self.plan_manager.partner_id, done.notified_partner_ids)

    def test_only_managers_may_charge_many_customers(self):
        with self.assertRaises(AccessError):
            self.env['payment.plan.mass.charge'].with_user(self.plan_user).create(
                {'partner_ids': [Command.set(self.customer.ids)]}
            )

    def test_bad_amounts_are_refused(self):
        with self.assertRaises(ValidationError):
            self.env['payment.plan.mass.charge'].create(
                {'charge_mode': 'fixed', 'fixed_amount': -3.0}
            )
        with self.assertRaises(ValidationError):
            self.env['payment.plan.mass.charge'].create({'charge_mode': 'percent', 'percent': 120})
        with self.assertRaises(UserError):
            self.env['payment.plan.mass.charge'].create({}).action_charge()


@tagged('post_install', '-at_install')
class TestPayOnBehalf(MassChargeCommon):
    def _wizard(self, invoice, **values):
        form = Form(
            self.env['payment.plan.pay.behalf']
            .with_user(self.plan_manager)
            .with_context(default_partner_id=invoice.commercial_partner_id.id)
        )
        for name, value in values.items():
            setattr(form, name, value)
        return form.save()

    def test_partial_charge_of_the_card_on_file(self):
        payer = self._create_payer("Pia Partial")
        invoice = self._create_invoice(payer, 90.0)
        wizard = self._wizard(invoice, mode='partial', amount=30.0)
        self.assertEqual(wizard.open_amount, 90.0)
        self.assertEqual(wizard.token_id, payer.payment_token_ids)
        wizard.action_confirm()
        self._run_after_commit()
        self.assertEqual(invoice.amount_residual, 60.0)

    def test_partial_amount_over_the_balance_is_refused(self):
        payer = self._create_payer("Oscar Over")
        invoice = self._create_invoice(payer, 90.0)
        wizard = self._wizard(invoice, mode='partial', amount=91.0)
        with self.assertRaises(ValidationError):
            wizard.action_confirm()
        self.assertFalse(invoice.transaction_ids)

    def test_balance_split_into_installments(self):
        payer = self._create_payer("Ian Installments")
        invoice = self._create_invoice(payer, 100.0)
        wizard = self._wizard(invoice, mode='installments', installment_count=3)
        action = wizard.action_confirm()
        self._run_after_commit()
        plan = self.env['payment.plan'].browse(action['res_id'])
        self.assertEqual(plan.state, 'active')
        self.assertEqual(plan.invoice_id, invoice, "the plan pays the invoice, no new invoice")
        self.assertEqual(plan.collection_mode, 'token')
        self.assertEqual(plan.installment_ids.mapped('amount'), [33.33, 33.33, 33.34])
        plan.installment_ids.sorted('sequence')[0]._collect()
        self.assertEqual(invoice.amount_residual, 66.67)
        self.assertEqual(
            self.env['account.move'].search_count([('invoice_origin', '=', plan.name)]), 0
        )

    def test_a_customer_without_card_cannot_be_charged(self):
        payer = self._create_payer("Carla Cardless", card_state=None)
        invoice = self._create_invoice(payer, 40.0)
        wizard = self._wizard(invoice)
        with self.assertRaisesRegex(UserError, "No valid card"):
            wizard.action_confirm()
        self.assertFalse(invoice.transaction_ids)


@tagged('post_install', '-at_install')
class TestMassChargeRefunds(MassChargeCommon):
    def test_refunds_of_a_charge_of_two_invoices_credit_each_what_it_paid(self):
        """A charge that paid two invoices, refunded in two parts: each invoice is credited at
        most what the charge paid of it, its own products and taxes, never another's."""
        payer = self._create_payer("Rita Refund")
        first = self._create_invoice(payer, 80.0)
        second = self._create_invoice(payer, 20.0)
        charge = self._mass_charge(partner_ids=[Command.set(payer.ids)]).line_ids.transaction_id
        self.assertEqual((charge.state, charge.amount), ('done', 100.0))
        charge.action_refund(amount_to_refund=30.0)
        self._post_process_outcomes()
        charge.action_refund(amount_to_refund=70.0)
        self._post_process_outcomes()
        credit_notes = self.env['account.move'].search(
            [('reversed_entry_id', 'in', (first | second).ids)]
        )
        credited = {
            invoice: sum(
                credit_notes.filtered(lambda cn, inv=invoice: cn.reversed_entry_id == inv).mapped(
                    'amount_total'
                )
            )
            for invoice in first | second
        }
        self.assertEqual(credited, {first: 80.0, second: 20.0})
        self.assertEqual(set(credit_notes.mapped('amount_residual')), {0.0})
