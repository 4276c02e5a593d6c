"""Collection in parallel on OCA's queue_job: what the crons enqueue, what the jobs do, and the
inline fallback while the job runner does not run.

Jobs run as queue_job's runner has them run: its controller's own method (`_runjob`) performs
each stored job, or queue_job's `trap_jobs` catches what is enqueued and performs it inline.
"""

import base64
from datetime import date, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api
from odoo.exceptions import ValidationError
from odoo.fields import Command
from odoo.tests import tagged
from odoo.tools import config

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tests.common import (
    ConcurrencyCommon,
    PaymentPlanCommon,
    create_demo_cards,
)
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.tests.common import trap_jobs

CHANNEL = 'root.payment_plan'


def trapped(trap, method_name):
    """The jobs of `method_name` that `trap_jobs` caught."""
    return [job for job in trap.enqueued_jobs if job.method_name == method_name]


def run_stored_jobs(env, domain=()):
    """Run the stored jobs of the channel that are waiting, as queue_job's runner does: each is
    marked started, then performed by queue_job's controller (`/queue_job/runjob`).

    :return: The jobs run (queue.job).
    """
    records = env['queue.job'].search(
        [('channel', '=', CHANNEL), ('state', 'in', ('pending', 'enqueued')), *domain],
        order='id',
    )
    for record in records:
        job = Job.load(env, record.uuid)
        job.set_enqueued()
        job.set_started()
        job.store()
        RunJobController._runjob(env, job)
    return records


@tagged('post_install', '-at_install')
class TestQueueJobs(PaymentPlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ICP = cls.env['ir.config_parameter'].sudo()
        cls.ICP.set_param('payment_plan.job_size', 3)
        cls.Queue = cls.env['payment.plan.queue']
        cls.Installment = cls.env['payment.plan.installment']

    def setUp(self):
        super().setUp()
        if not type(self)._registry_patched:
            # The jobs commit (the collection service's claims): in a cursor of their own,
            # which the test registry wraps around the test's transaction.
            self.registry_enter_test_mode()

    def _runner_seen(self):
        """The job runner ran the add-on's first job (the ping the cron enqueues)."""
        self.Queue._ping_runner()
        self.assertTrue(run_stored_jobs(self.env))
        self.assertTrue(self.Queue._get_runner_status()['use_jobs'])

    def _due_installments(self, count, state='done', date_start='2026-03-01'):
        """`count` one-period subscriptions due on `date_start`, each on its own customer's
        card."""
        partners = self.env['res.partner'].create(
            [
                {'name': f"Job payer {n}", 'email': f'job.payer.{n}@example.com'}
                for n in range(count)
            ]
        )
        cards = create_demo_cards(self.env, partners, states=state)
        plans = self.env['payment.plan'].create(
            [
                {
                    'partner_id': card.partner_id.id,
                    'plan_type': 'subscription',
                    'installment_count': 1,
                    'amount': 10.0,
                    'date_start': date_start,
                    'collection_mode': 'token',
                    'token_id': card.id,
                }
                for card in cards
            ]
        )
        plans.action_activate()
        return plans.installment_ids

    def _in_own_cursor(self, function):
        """Run `function`(env) in a cursor of its own, as a worker does (it commits)."""
        self.env.flush_all()
        with self.registry.cursor() as cr:
            function(api.Environment(cr, SUPERUSER_ID, {}))
        self.env.invalidate_all()

    def _run_cron(self):
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})['payment.plan.installment']._cron_collect_due()
        self.env.invalidate_all()

    def _assert_charged_once(self, installments):
        self.assertEqual(set(installments.mapped('state')), {'paid'})
        self.assertEqual(
            {i.id: len(i.transaction_ids) for i in installments},
            dict.fromkeys(installments.ids, 1),
            "an installment was charged twice",
        )
        self.assertEqual(set(installments.transaction_ids.mapped('state')), {'done'})

    # === The runner is not there: inline === #

    @freeze_time('2026-03-01 08:00')
    def test_without_a_runner_the_cron_collects_inline_and_checks_for_one(self):
        installments = self._due_installments(4)
        status = self.Queue._get_runner_status()
        self.assertFalse(status['use_jobs'])
        self.assertIn("has started no job", status['reason'])
        with trap_jobs() as trap:
            self._run_cron()
            # Only the job that shows the runner runs, once however many runs.
            self.assertEqual(len(trapped(trap, '_job_ping')), 1)
            self.assertEqual(len(trapped(trap, '_job_collect')), 0)
        self._assert_charged_once(installments)
        self.Queue._ping_runner()
        self.Queue._ping_runner()
        self.assertEqual(
            self.env['queue.job'].search_count(
                [('method_name', '=', '_job_ping'), ('state', '=', 'pending')]
            ),
            1,
        )

    @freeze_time('2026-03-01 08:00')
    def test_settings_page_says_why_and_refuses_a_job_size_of_zero(self):
        settings = self.env['res.config.settings'].create({})
        self.assertIn("has started no job", settings.payment_plan_job_status)
        self.assertIn(CHANNEL, settings.payment_plan_job_capacity)
        self._runner_seen()
        settings = self.env['res.config.settings'].create({})
        self.assertIn("Collected in jobs of 3", settings.payment_plan_job_status)
        with self.assertRaisesRegex(ValidationError, "between 1 and 500"):
            self.env['res.config.settings'].create({'payment_plan_job_size': 0}).set_values()
        self.assertEqual(self.ICP.get_param('payment_plan.job_size'), '3')
        self.env['res.config.settings'].create({'payment_plan_jobs_disabled': True}).set_values()
        status = self.Queue._get_runner_status()
        self.assertFalse(status['use_jobs'])
        self.assertIn("off", status['reason'])

    @freeze_time('2026-03-01 08:00')
    def test_settings_out_of_bounds_are_refused_and_odd_parameters_change_nothing(self):
        self._runner_seen()
        for values in (
            {'payment_plan_job_max_wait': 1_500_000_000},
            {'payment_plan_job_size': const.MAX_JOB_SIZE + 1},
        ):
            with self.assertRaisesRegex(ValidationError, "between 1 and"):
                self.env['res.config.settings'].create(values).set_values()
        # Typed in System Parameters instead: the crons keep working, with the default or the
        # bound.
        due = self._due_installments(2)
        self.ICP.set_param('payment_plan.job_max_wait', '1500000000')
        self.ICP.set_param('payment_plan.job_size', '50.0')
        self.Queue._ping_runner()  # a job waiting: the maximum wait is read
        with freeze_time('2026-03-01 08:01'):
            status = self.Queue._get_runner_status()
            self.assertTrue(status['use_jobs'])
            self.assertIn("jobs of 50", status['reason'])
            with trap_jobs() as trap:
                self._run_cron()
                self.assertEqual(len(trapped(trap, '_job_collect')), 1)
                self.env.flush_all()
                trap.perform_enqueued_jobs()
            self.assertIn(
                "Collected", self.env['res.config.settings'].create({}).payment_plan_job_status
            )
        self.env.invalidate_all()
        self._assert_charged_once(due)

    @freeze_time('2026-03-01 08:00')
    def test_the_settings_warn_when_a_job_may_outlast_the_request_time_limit(self):
        self._runner_seen()
        with patch.dict(config.options, {'workers': 6, 'limit_time_real': 120}):
            status = self.env['res.config.settings'].create({}).payment_plan_job_status
            self.assertNotIn("limit_time_real", status)  # 3 charges, 10 s each at worst
            self.ICP.set_param('payment_plan.job_size', 50)
            status = self.env['res.config.settings'].create({}).payment_plan_job_status
            self.assertIn("may last 500 s", status)
            self.assertIn("limit_time_real = 120 s", status)
        with patch.dict(config.options, {'workers': 0}):  # one process: no time limit
            status = self.env['res.config.settings'].create({}).payment_plan_job_status
            self.assertNotIn("limit_time_real", status)

    # === The runner runs: jobs of N === #

    @freeze_time('2026-03-01 08:00')
    def test_the_cron_enqueues_one_job_per_n_due_installments_and_the_jobs_charge_them(self):
        self._runner_seen()
        due = self._due_installments(7)
        not_due = self._due_installments(1, date_start='2026-04-01')
        with trap_jobs() as trap:
            self._run_cron()
            self.assertEqual(len(trapped(trap, '_job_collect')), 3)
            chunks = [job.recordset for job in trap.enqueued_jobs]
            self.assertEqual([len(chunk) for chunk in chunks], [3, 3, 1])
            self.assertEqual(sorted(sum(chunks, self.Installment).ids), sorted(due.ids))
            self.assertEqual({job.channel for job in trap.enqueued_jobs}, {CHANNEL})
            # The cron only enqueued: nothing is charged yet.
            self.env.invalidate_all()
            self.assertEqual(set(due.mapped('state')), {'pending'})
            self.assertFalse(due.transaction_ids)
            self.env.flush_all()  # the request's transaction, committed before jobs run
            trap.perform_enqueued_jobs()
        self.env.invalidate_all()
        self._assert_charged_once(due)
        self.assertEqual(not_due.state, 'pending')

    @freeze_time('2026-03-01 08:00')
    def test_stored_jobs_run_by_the_runner_and_a_second_cron_run_adds_nothing(self):
        self._runner_seen()
        due = self._due_installments(5)
        self._run_cron()
        jobs = self.env['queue.job'].search([('method_name', '=', '_job_collect')])
        self.assertEqual(len(jobs), 2)
        self.assertEqual(set(jobs.mapped('channel')), {CHANNEL})
        self.assertEqual(set(jobs.mapped('state')), {'pending'})
        # The jobs have not run yet: the next run of the cron leaves the work to them.
        self._run_cron()
        self.assertEqual(
            self.env['queue.job'].search_count([('method_name', '=', '_job_collect')]), 2
        )
        self.assertEqual(set(due.mapped('state')), {'pending'})
        run_stored_jobs(self.env)
        self.env.invalidate_all()
        self.assertEqual(set(jobs.mapped('state')), {'done'})
        self._assert_charged_once(due)
        # Run again (queue_job requeues a job whose worker died): nothing more is charged.
        for job in jobs:
            self._in_own_cursor(
                lambda env, job=job: (
                    env['payment.plan.installment'].browse(job.records.ids)._job_collect()
                )
            )
        self._assert_charged_once(due)

    @freeze_time('2026-03-01 08:00')
    def test_a_job_run_again_after_a_crash_between_claim_and_charge_charges_nothing(self):
        self._runner_seen()
        due = self._due_installments(3)
        with trap_jobs() as trap:
            self._run_cron()
            [job] = trap.enqueued_jobs
            # The job claimed its installments (committed), then its worker died before any
            # card was charged.
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                batch = env['payment.plan.installment']._lock_collectable(
                    env['payment.plan.installment']._get_collection_today(), 10, ids=due.ids
                )
                self.assertEqual(len(batch), 3)
                batch._claim_attempts()
            self.env.invalidate_all()
            self.assertEqual(set(due.mapped('state')), {'processing'})
            # queue_job runs the job again: the claimed attempts are not sent again.
            self.env.flush_all()  # the request's transaction, committed before jobs run
            trap.perform_enqueued_jobs()
            job.perform()
        self.env.invalidate_all()
        self.assertEqual(len(due.transaction_ids), 3, "one attempt per installment, no other")
        self.assertEqual(set(due.transaction_ids.mapped('state')), {'draft'}, "never sent")
        self.assertEqual(set(due.mapped('state')), {'processing'})
        # An hour later, the attempts are flagged for the provider's word, never charged.
        with freeze_time('2026-03-01 09:30'):
            self._run_cron()
        self.env.invalidate_all()
        self.assertTrue(all("interrupted" in i.last_error for i in due))
        self.assertEqual(len(due.transaction_ids), 3)

    @freeze_time('2026-03-01 08:00')
    def test_jobs_waiting_longer_than_the_setting_make_the_cron_collect_inline(self):
        self._runner_seen()
        due = self._due_installments(4)
        self._run_cron()
        waiting = self.env['queue.job'].search([('method_name', '=', '_job_collect')])
        self.assertEqual(len(waiting), 2)
        # 20 minutes later, the jobs still wait: within the setting (30 minutes).
        with freeze_time('2026-03-01 08:20'):
            self.assertTrue(self.Queue._get_runner_status()['use_jobs'])
            self._run_cron()
        self.assertEqual(set(due.mapped('state')), {'pending'})
        # 40 minutes later none started: the runner is taken as stopped; the cron collects.
        with freeze_time('2026-03-01 08:40'):
            status = self.Queue._get_runner_status()
            self.assertFalse(status['use_jobs'])
            self.assertIn("seems stopped", status['reason'])
            self._run_cron()
        self.env.invalidate_all()
        self._assert_charged_once(due)
        # The runner comes back and runs the old jobs: they find nothing left to charge.
        with freeze_time('2026-03-01 09:00'):
            run_stored_jobs(self.env)
            self.assertTrue(self.Queue._get_runner_status()['use_jobs'])
        self.env.invalidate_all()
        self.assertEqual(set(waiting.mapped('state')), {'done'})
        self._assert_charged_once(due)

    @freeze_time('2026-03-01 08:00')
    def test_a_job_stuck_started_does_not_stop_collection_for_good(self):
        self._runner_seen()
        due = self._due_installments(2)
        self._run_cron()
        stuck = self.env['queue.job'].search([('method_name', '=', '_job_collect')])
        self.assertEqual(len(stuck), 1)
        # A worker takes the job and dies before it starts charging; the runner, down too,
        # never requeues it.
        job = Job.load(self.env, stuck.uuid)
        job.set_enqueued()
        job.set_started()
        job.store()
        with freeze_time('2026-03-01 08:20'):
            self._run_cron()  # it may still be charging: nothing more is enqueued
            self.assertEqual(self.env['queue.job'].search_count(self._collect_jobs()), 1)
        with freeze_time('2026-03-01 08:45'):
            self._run_cron()  # started longer ago than the maximum wait: the work goes again
            self.assertEqual(self.env['queue.job'].search_count(self._collect_jobs()), 2)
            run_stored_jobs(self.env)
        self.env.invalidate_all()
        self._assert_charged_once(due)
        # The stuck job, requeued at last, finds nothing to charge.
        self._in_own_cursor(
            lambda env: env['payment.plan.installment'].browse(stuck.records.ids)._job_collect()
        )
        self._assert_charged_once(due)

    def _collect_jobs(self):
        return [('channel', '=', CHANNEL), ('method_name', '=', '_job_collect')]

    # === Mass charges, imports and card warnings go the same way === #

    @freeze_time('2026-03-01 08:00')
    def test_a_large_mass_charge_runs_in_jobs_of_its_lines(self):
        self._runner_seen()
        self.env['ir.config_parameter'].sudo().set_param('payment_plan.job_size', 200)
        partners = self.env['res.partner'].create(
            [{'name': f"Mass job payer {n}"} for n in range(450)]
        )
        create_demo_cards(self.env, partners)
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
        with trap_jobs() as trap:
            wizard = (
                self.env['payment.plan.mass.charge']
                .with_user(self.plan_manager)
                .create({'partner_ids': [Command.set(partners.ids)]})
            )
            batch = self.env['payment.plan.charge.batch'].browse(wizard.action_charge()['res_id'])
            self.assertEqual(batch.state, 'queued')
            self.assertEqual(len(trapped(trap, '_job_collect')), 3)
            self.assertEqual([len(job.recordset) for job in trap.enqueued_jobs], [200, 200, 50])
            # The jobs run as the manager who charged, with the collection service's rights.
            self.assertEqual({job.user_id for job in trap.enqueued_jobs}, {self.plan_manager.id})
            self.env.flush_all()  # the request's transaction, committed before jobs run
            trap.perform_enqueued_jobs()
        self.env.invalidate_all()
        self.assertEqual(batch.state, 'done')
        self.assertEqual(batch.done_count, 450)
        self.assertEqual(len(batch.line_ids.transaction_ids), 450)
        self.assertTrue(all(inv.amount_residual == 0 for inv in invoices))

    @freeze_time('2026-03-01 08:00')
    def test_a_confirmed_import_is_applied_in_a_job_once(self):
        self._runner_seen()
        rows = "\n".join(f"JOB{n},Job Customer {n},0,job{n}@example.com,,,,,,," for n in range(5))
        job = (
            self.env['payment.plan.import.job']
            .with_user(self.plan_user)
            .create(
                {
                    'file': base64.b64encode(
                        (
                            "reference,name,is_company,email,phone,vat,street,street2,zip,city,"
                            f"country\n{rows}\n"
                        ).encode()
                    ),
                    'filename': 'customers.csv',
                }
            )
        )
        with trap_jobs() as trap:
            job.action_confirm()
            self.assertEqual(len(trapped(trap, '_job_process')), 1)
            self.env.flush_all()  # the request's transaction, committed before jobs run
            trap.perform_enqueued_jobs()
        self.env.invalidate_all()
        self.assertEqual(job.state, 'done')
        self.assertEqual(job.created_count, 5)
        # Run again (a requeued job, or the cron after it): nothing is applied twice.
        self._in_own_cursor(lambda env: env[job._name].browse(job.id)._job_process())
        self._in_own_cursor(lambda env: env[job._name]._cron_apply_jobs())
        self.assertEqual(job.created_count, 5)
        self.assertEqual(self.env['res.partner'].search_count([('ref', '=like', 'JOB%')]), 5)

    @freeze_time('2026-03-01 08:00')
    def test_a_warning_job_running_late_warns_only_cards_that_still_need_it(self):
        self._runner_seen()
        cards, plans = self._expiring_cards_on_plans(3)
        mails_before = self.env['mail.mail'].search([])
        with trap_jobs() as trap:
            self.env['payment.token']._cron_warn_expiring_cards()
            # Before the job runs, one plan is cancelled and one card is archived.
            plans[0].action_cancel()
            cards[1].action_archive()
            self.env.flush_all()
            trap.perform_enqueued_jobs()
        mails = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(mails.recipient_ids, cards[2].partner_id)
        self.assertFalse(cards[0].expiry_warning_date)

    def _expiring_cards_on_plans(self, count):
        partners = self.env['res.partner'].create(
            [{'name': f"Expiring {n}", 'email': f'expiring.{n}@example.com'} for n in range(count)]
        )
        cards = create_demo_cards(self.env, partners)
        cards.write({'expiry_month': 3, 'expiry_year': 2026})
        plans = self.env['payment.plan'].create(
            [
                {
                    'partner_id': card.partner_id.id,
                    'plan_type': 'subscription',
                    'installment_count': 0,
                    'amount': 10.0,
                    'date_start': '2026-04-01',
                    'collection_mode': 'token',
                    'token_id': card.id,
                }
                for card in cards
            ]
        )
        plans.action_activate()
        return cards, plans

    @freeze_time('2026-03-01 08:00')
    def test_expiring_cards_are_warned_in_jobs_each_once(self):
        self._runner_seen()
        cards, plans = self._expiring_cards_on_plans(4)
        partners = cards.partner_id
        mails_before = self.env['mail.mail'].search([])
        Token = self.env['payment.token']
        with trap_jobs() as trap:
            Token._cron_warn_expiring_cards()
            self.assertEqual(len(trapped(trap, '_warn_expiring')), 2)
            jobs = list(trap.enqueued_jobs)
            self.env.flush_all()  # the request's transaction, committed before jobs run
            trap.perform_enqueued_jobs()
            # The same jobs run twice (requeued): no card is warned twice.
            for job in jobs:
                job.perform()
        mails = self.env['mail.mail'].search([]) - mails_before
        self.assertEqual(len(mails), 4)
        self.assertEqual(mails.recipient_ids, partners)
        self.assertEqual(set(cards.mapped('expiry_warning_date')), {date(2026, 3, 1)})
        self.assertEqual(len(plans.activity_ids), 4)


@tagged('post_install', '-at_install')
class TestQueueJobsConcurrency(ConcurrencyCommon):
    """Jobs of the same installments in separate workers, with real cursors that commit."""

    def test_two_jobs_over_overlapping_installments_charge_each_once(self):
        installment_ids = self._committed_plans('overlapping jobs', 60)
        first, second = installment_ids[:40], installment_ids[20:]

        def job(ids):
            return lambda env: env['payment.plan.installment'].browse(ids)._job_collect()

        self._run_in_threads([job(first), job(second), job(first)])
        with self._fresh_env() as env:
            installments = env['payment.plan.installment'].browse(installment_ids)
            per_installment = {i.id: len(i.transaction_ids) for i in installments}
            self.assertEqual(set(per_installment.values()), {1}, "an installment was charged twice")
            self.assertEqual(set(installments.mapped('state')), {'paid'})
            self.assertEqual(set(installments.transaction_ids.mapped('state')), {'done'})

    @freeze_time(f'{date.today()} 23:30:00', tick=True)  # Any hour: due is one day everywhere.
    def test_the_cron_inline_next_to_running_jobs_charges_each_once(self):
        installment_ids = self._committed_plans('jobs and cron', 60)

        def job(ids):
            return lambda env: env['payment.plan.installment'].browse(ids)._job_collect()

        def inline(env):
            env['payment.plan.installment']._collect(commit=True)

        self._run_in_threads([job(installment_ids[:30]), job(installment_ids[30:]), inline])
        with self._fresh_env() as env:
            installments = env['payment.plan.installment'].browse(installment_ids)
            yesterday = installments._get_collection_today() - timedelta(days=1)
            self.assertEqual({i.due_date for i in installments}, {yesterday})
            per_installment = {i.id: len(i.transaction_ids) for i in installments}
            self.assertEqual(set(per_installment.values()), {1}, "an installment was charged twice")
            self.assertEqual(set(installments.mapped('state')), {'paid'})
