"""Collection under real concurrency and crashes: separate cursors that really commit.

These tests write committed data (the test database is dropped after the run): every record
they create belongs to customers named after the test, so that nothing else is disturbed.
"""

import json
import logging
import threading
import uuid

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged

from odoo.addons.payment_plan.tests.common import ConcurrencyCommon, create_demo_cards
from odoo.addons.payment_plan.tools import webhook

_logger = logging.getLogger(__name__)


@tagged('post_install', '-at_install')
class TestCollectionConcurrency(ConcurrencyCommon):
    def test_two_concurrent_collections_charge_each_installment_exactly_once(self):
        installment_ids = self._committed_plans('concurrency', 200)

        def collect(env):
            env['payment.plan.installment']._collect(batch_size=20, commit=True)

        self._run_in_threads([collect, collect])
        # A payment that could not be recorded at once (journal contention) is finished by
        # Odoo's post-processing, as in production.
        self._run_in_threads([lambda env: env['payment.transaction']._cron_post_process()])

        with self._fresh_env() as env:
            installments = env['payment.plan.installment'].browse(installment_ids)
            self.assertEqual(len(installments.exists()), 200)
            uncharged = installments.filtered(lambda i: not i.transaction_ids)
            self.assertFalse(
                uncharged,
                f"never charged: {uncharged.mapped(lambda i: (i.state, i.last_error))[:3]}",
            )
            per_installment = {i.id: len(i.transaction_ids) for i in installments}
            self.assertEqual(set(per_installment.values()), {1}, "an installment was charged twice")
            self.assertEqual(set(installments.transaction_ids.mapped('state')), {'done'})
            self.assertEqual(set(installments.mapped('state')), {'paid'})
            self.assertEqual(len(installments.transaction_ids.payment_id), 200)

    def test_crash_between_charge_and_commit_does_not_charge_again(self):
        [installment_id] = self._committed_plans('crash', 1)

        # The cron claims the attempt (its transaction is created and committed), then sends
        # the charge... and the server dies before committing the outcome.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            installment = env['payment.plan.installment'].browse(installment_id)
            installment._lock_collectable(installment.due_date, 1, ids=[installment_id])
            installment._claim_attempts()
            cr.commit()  # pylint: disable=invalid-commit
            installment.transaction_ids._charge_with_token()
            cr.rollback()

        def collect(env):
            env['payment.plan.installment'].browse(installment_id)._collect(commit=True)

        self._run_in_threads([collect])
        with self._fresh_env() as env:
            installment = env['payment.plan.installment'].browse(installment_id)
            self.assertEqual(len(installment.transaction_ids), 1, "the attempt was sent again")
            self.assertEqual(installment.state, 'processing')
            self.assertEqual(installment.transaction_ids.state, 'draft')

        # An hour later the attempt is flagged for review; it is still never sent again.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute(
                "UPDATE payment_transaction SET create_date = create_date - interval '2 hours'"
                " WHERE installment_id = %s",
                [installment_id],
            )
            flagged = env['payment.plan.installment']._flag_interrupted_charges()
            self.assertIn(installment_id, flagged.ids)
            env['payment.plan.installment'].browse(installment_id)._collect(commit=True)
            installment = env['payment.plan.installment'].browse(installment_id)
            self.assertIn("interrupted", installment.last_error)
            self.assertEqual(len(installment.transaction_ids), 1)

    def test_two_clicks_on_retry_now_at_once_charge_once(self):
        """Two staff members (or a double click) press Retry Now on the same installment at once,
        each in their own transaction: the second is told a payment is under way; one charge."""
        [installment_id] = self._committed_plans('double-click', 1)
        with self.registry.cursor() as first, self.registry.cursor() as second:
            env_a = api.Environment(first, SUPERUSER_ID, {})
            env_b = api.Environment(second, SUPERUSER_ID, {})
            env_a['payment.plan.installment'].browse(installment_id).action_retry_now()
            with self.assertRaisesRegex(UserError, "already under way"):
                env_b['payment.plan.installment'].browse(installment_id).action_retry_now()
            second.rollback()
            # The first request commits; its charge runs after the commit, in its own cursor.
            first.commit()  # pylint: disable=invalid-commit
        with self._fresh_env() as env:
            installment = env['payment.plan.installment'].browse(installment_id)
            self.assertEqual(installment.state, 'paid')
            self.assertEqual(len(installment.transaction_ids), 1)
            self.assertEqual(installment.transaction_ids.state, 'done')
        # A click arriving after the payment is told so; nothing is charged.
        with self._fresh_env() as env, self.assertRaises(UserError):
            env['payment.plan.installment'].browse(installment_id).action_retry_now()

    def test_a_refund_post_processed_by_two_workers_at_once_is_credited_once(self):
        """The refund's status page and the post-processing cron process the same refund at
        once, each in its own transaction: one credit note, one refund payment."""
        [installment_id] = self._committed_plans('refund race', 1)
        with self._fresh_env() as env:
            installment = env['payment.plan.installment'].browse(installment_id)
            installment._collect()
            env.cr.commit()  # pylint: disable=invalid-commit
            charge = installment.transaction_ids
            self.assertEqual((installment.state, charge.state), ('paid', 'done'))
            invoice_id = installment.invoice_id.id
            # The provider answers the refund at once; its post-processing is left to come.
            charge.action_refund(amount_to_refund=4.0)
            refund_id = charge.child_transaction_ids.id
            env.cr.commit()  # pylint: disable=invalid-commit
        both_started = threading.Barrier(2, timeout=60)

        def post_process(env):
            refund = env['payment.transaction'].browse(refund_id)
            self.assertEqual(refund.state, 'done')  # each worker has read it before the other ends
            both_started.wait()
            refund._cron_post_process()

        self._run_in_threads([post_process, post_process])
        # A worker that lost the race rolled back; the cron's next run finds it processed.
        self._run_in_threads([lambda env: env['payment.transaction']._cron_post_process()])
        with self._fresh_env() as env:
            refund = env['payment.transaction'].browse(refund_id)
            invoice = env['account.move'].browse(invoice_id)
            credit_notes = env['account.move'].search([('reversed_entry_id', '=', invoice_id)])
            self.assertTrue(refund.is_post_processed)
            self.assertEqual(credit_notes, refund.invoice_ids, "one credit note")
            self.assertEqual(credit_notes.amount_total, 4.0)
            self.assertEqual(
                env['account.payment'].search_count([('payment_transaction_id', '=', refund_id)]), 1
            )
            self.assertEqual((invoice.amount_residual, credit_notes.amount_residual), (0.0, 0.0))
            installment = env['payment.plan.installment'].browse(installment_id)
            self.assertEqual((installment.state, installment.amount_refunded), ('paid', 4.0))

    def test_concurrent_duplicate_webhook_posts_record_one_payment(self):
        """The same event, and two events confirming the same installment, posted at once by
        separate workers: one payment."""
        code = f'concurrent-{uuid.uuid4().hex[:8]}'
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            gateway = env['payment.plan.gateway'].create(
                {'name': "Concurrent Gateway", 'code': code, 'secret': 'concurrent-secret'}
            )
            gateway.journal_id.write({})
            partner = env['res.partner'].create({'name': "webhook concurrency customer"})
            plan = env['payment.plan'].create(
                {
                    'partner_id': partner.id,
                    'plan_type': 'installments',
                    'installment_count': 2,
                    'amount': 50.0,
                    'collection_mode': 'gateway',
                    'gateway_id': gateway.id,
                }
            )
            plan.action_activate()
            installment = plan.installment_ids.sorted('sequence')[0]
            installment_id, reference = installment.id, installment.name
            currency = installment.currency_id.name

        def body(event_id):
            return json.dumps(
                {
                    'event_id': event_id,
                    'reference': reference,
                    'amount': 25.0,
                    'currency': currency,
                    'status': 'confirmed',
                    'occurred_at': '2026-03-01T10:00:00+01:00',
                }
            ).encode()

        answers = []

        def post(event_id):
            def job(env):
                payload = body(event_id)
                signature = webhook.sign('concurrent-secret', payload)
                # As Odoo's HTTP layer does: a serialization failure retries the request.
                answers.append(
                    retrying(
                        lambda: env['payment.plan.event']._receive(code, payload, signature),
                        env,
                    )
                )

            return job

        self._run_in_threads([post('evt-a'), post('evt-a'), post('evt-b')])
        self.assertEqual(sorted(status for status, _answer in answers), [200, 200, 200])
        self.assertEqual(
            sorted(answer['status'] for _status, answer in answers),
            ['applied', 'applied', 'replay'],
        )
        with self._fresh_env() as env:
            installment = env['payment.plan.installment'].browse(installment_id)
            self.assertEqual(installment.state, 'paid')
            # Two charges by the gateway: both recorded, the second one flagged for a refund.
            self.assertEqual(len(installment.payment_ids), 2)
            self.assertIn(
                "Charged twice by the gateway: refund the customer",
                installment.plan_id.activity_ids.mapped('summary'),
            )
            self.assertEqual(
                env['payment.plan.event'].search_count([('installment_id', '=', installment_id)]), 2
            )

    def _committed_invoices(self, label, count):
        """Create, in a committed transaction, `count` customers with a demo card that confirms
        payments, consent, and one open invoice of 10 each; return the invoices' ids."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            provider = env.ref('payment.payment_provider_demo')
            provider.write({'journal_id': provider.journal_id.id})
            partners = env['res.partner'].create(
                [{'name': f"{label} customer {n}"} for n in range(count)]
            )
            create_demo_cards(env, partners, provider=provider)
            invoices = env['account.move'].create(
                [
                    {
                        'move_type': 'out_invoice',
                        'partner_id': partner.id,
                        'invoice_line_ids': [
                            Command.create({'name': "Fee", 'price_unit': 10.0, 'tax_ids': []})
                        ],
                    }
                    for partner in partners
                ]
            )
            invoices.action_post()
            return invoices.ids

    def _assert_each_invoice_charged_once(self, invoice_ids):
        with self._fresh_env() as env:
            invoices = env['account.move'].browse(invoice_ids)
            self.assertEqual(set(invoices.mapped('amount_residual')), {0.0})
            for invoice in invoices:
                done = invoice.transaction_ids.filtered(lambda tx: tx.state == 'done')
                self.assertEqual(len(done), 1, f"{invoice.name} was charged {len(done)} times")
            lines = env['payment.plan.charge.batch.line'].search(
                [('invoice_ids', 'in', invoice_ids)]
            )
            self.assertEqual(len(lines.filtered(lambda line: line.state == 'done')), len(invoices))
            self.assertEqual(
                set((lines - lines.filtered(lambda line: line.state == 'done')).mapped('state')),
                {'skipped'},
            )

    def test_two_mass_charges_at_once_charge_each_invoice_once(self):
        """The wizard run twice at the same time (two users, two workers) on the same invoices."""
        invoice_ids = self._committed_invoices('mass charge twice', 30)

        def charge(env):
            def run():
                wizard = env['payment.plan.mass.charge'].create(
                    {'invoice_ids': [Command.set(invoice_ids)]}
                )
                wizard.action_charge()

            # As Odoo's HTTP layer does: a serialization failure retries the request.
            retrying(run, env)

        self._run_in_threads([charge, charge])
        self._assert_each_invoice_charged_once(invoice_ids)

    def test_two_background_batches_over_the_same_invoices_charge_each_once(self):
        invoice_ids = self._committed_invoices('background twice', 120)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            for _run in range(2):
                wizard = env['payment.plan.mass.charge'].create(
                    {'invoice_ids': [Command.set(invoice_ids)]}
                )
                batch = env['payment.plan.charge.batch'].browse(wizard.action_charge()['res_id'])
                self.assertEqual(batch.state, 'queued')

        def collect(env):
            env['payment.plan.charge.batch.line']._collect(batch_size=15, commit=True)
            env['payment.plan.charge.batch']._update_unfinished()

        self._run_in_threads([collect, collect])
        # A payment that could not be recorded at once (journal contention) is finished by
        # Odoo's post-processing, and the batches by the cron's next run, as in production.
        self._run_in_threads([lambda env: env['payment.transaction']._cron_post_process()])
        self._run_in_threads([lambda env: env['payment.plan.charge.batch']._update_unfinished()])
        with self._fresh_env() as env:
            batches = (
                env['payment.plan.charge.batch.line']
                .search([('invoice_ids', 'in', invoice_ids)])
                .batch_id
            )
            self.assertEqual(set(batches.mapped('state')), {'done'})
            self.assertEqual(sum(batches.mapped('done_count')), 120)
        self._assert_each_invoice_charged_once(invoice_ids)


@tagged('post_install', '-at_install')
class TestCollectionIsolation(TransactionCase):
    def test_one_failing_installment_never_stops_the_others(self):
        """50 due installments, one of which cannot be invoiced (its company has no accounting):
        49 are paid, the failing one is recorded with its error and rescheduled, and a second
        run charges nothing again."""
        env = self.env
        provider = env.ref('payment.payment_provider_demo')
        provider.state = 'test'
        no_accounting = env['res.company'].create({'name': "No Accounting Ltd"})
        env.user.company_ids = [Command.link(no_accounting.id)]
        other_provider = provider.copy({'company_id': no_accounting.id, 'state': 'test'})
        method = env.ref('payment_demo.payment_method_demo')
        today = env['payment.plan.installment']._get_collection_today()
        plans = env['payment.plan']
        for n in range(50):
            company = no_accounting if n == 17 else env.company
            partner = env['res.partner'].create({'name': f"Isolation customer {n}"})
            card = env['payment.token'].create(
                {
                    'provider_id': (other_provider if n == 17 else provider).id,
                    'payment_method_id': method.id,
                    'partner_id': partner.id,
                    'provider_ref': f'isolation-{n}',
                    'demo_simulated_state': 'done',
                }
            )
            env['payment.plan.consent']._record(partner, 'link', token=card)
            plans |= (
                env['payment.plan']
                .with_company(company)
                .create(
                    {
                        'partner_id': partner.id,
                        'company_id': company.id,
                        'plan_type': 'subscription',
                        'installment_count': 1,
                        'amount': 15.0,
                        'date_start': today,
                        'collection_mode': 'token',
                        'token_id': card.id,
                    }
                )
            )
        plans.action_activate()
        installments = plans.installment_ids
        failing = installments.filtered(lambda i: i.company_id == no_accounting)

        installments._collect(batch_size=10)

        self.assertEqual(set((installments - failing).mapped('state')), {'paid'})
        self.assertEqual(failing.state, 'pending')
        self.assertEqual(failing.attempt_count, 1)
        self.assertGreater(failing.next_attempt_date, today)
        self.assertIn("Technical error", failing.last_error)
        self.assertFalse(failing.transaction_ids)

        transactions_before = installments.transaction_ids
        self.assertEqual(installments._collect(batch_size=10), 0)
        self.assertEqual(installments.transaction_ids, transactions_before)
