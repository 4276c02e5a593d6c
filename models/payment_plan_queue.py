import logging

from odoo import api, fields, models
from odoo.tools import SQL, config, str2bool

from odoo.addons.payment_plan import const
from odoo.addons.queue_job.job import identity_exact
from odoo.addons.queue_job.jobrunner.channels import ChannelManager
from odoo.addons.queue_job.jobrunner.runner import _channels as jobrunner_channels

_logger = logging.getLogger(__name__)

# The states of queue_job's jobs waiting for a worker.
WAITING_STATES = ('pending', 'enqueued')


class PaymentPlanQueue(models.AbstractModel):
    """The add-on's background work on OCA's queue_job: jobs on the channel `root.payment_plan`
    while its runner takes them, the crons' own inline work otherwise.

    The crons ask `_get_runner_status` which way to go. Jobs only spread the work over workers
    and servers: each job runs the same service as the cron (for charges, the collection service,
    which locks `SKIP LOCKED`, claims and commits before any card is charged), so a job run twice,
    two jobs over the same records, or a job next to the cron's inline run never do anything
    twice.
    """

    _name = 'payment.plan.queue'
    _description = "Payment Plan Background Jobs"

    # === BUSINESS METHODS === #

    @api.model
    def _get_int_setting(self, key, default, maximum=None):
        """Return the integer setting `key` (a system parameter), within 1 and `maximum`; its
        default when it is not an integer (a value typed in System Parameters)."""
        value = self.env['ir.config_parameter'].sudo().get_param(key, default)
        try:
            value = int(value)
        except (TypeError, ValueError):
            _logger.warning("The setting %s is not an integer (%r): %s used.", key, value, default)
            value = default
        return max(1, min(value, maximum) if maximum else value)

    @api.model
    def _get_job_size(self):
        """Return the number of records per job (the `payment_plan.job_size` setting)."""
        return self._get_int_setting(
            'payment_plan.job_size', const.DEFAULT_JOB_SIZE, const.MAX_JOB_SIZE
        )

    @api.model
    def _get_runner_status(self):
        """Tell whether the background work goes to jobs, and why.

        Jobs are used once queue_job's runner started a job of the channel within
        `const.JOB_RUNNER_SEEN_DAYS` days, unless jobs have waited longer than the
        `payment_plan.job_max_wait` setting (minutes) while none started: the runner stopped.
        The `payment_plan.jobs_disabled` setting keeps the work inline.

        :return: {'use_jobs': bool, 'reason': str, 'waiting': int, 'last_started': datetime,
                 'ping': whether to enqueue a job that shows the runner runs,
                 'warning': what to change in the server's options, or ''}
        :rtype: dict
        """
        ICP = self.env['ir.config_parameter'].sudo()
        now = fields.Datetime.now()
        max_wait = self._get_max_wait()
        self.env['queue.job'].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT MAX(date_started),
                       MIN(date_created) FILTER (WHERE state IN %(waiting)s),
                       COUNT(*) FILTER (WHERE state IN %(waiting)s)
                  FROM queue_job
                 WHERE channel = %(channel)s
                   AND date_created >= %(since)s
                """,
                waiting=WAITING_STATES,
                channel=const.JOB_CHANNEL,
                since=fields.Datetime.subtract(now, days=const.JOB_RUNNER_SEEN_DAYS),
            )
        )
        last_started, oldest_waiting, waiting = self.env.cr.fetchone()
        status = {
            'use_jobs': False,
            'ping': False,
            'warning': '',
            'waiting': waiting,
            'last_started': last_started,
        }
        if str2bool(ICP.get_param('payment_plan.jobs_disabled', 'False'), False):
            status['reason'] = self.env._(
                "Parallel collection is off: the crons collect inline, one worker at a time."
            )
        elif not last_started:
            status['ping'] = True
            status['reason'] = self.env._(
                "Queue_job's job runner has started no job of the channel %(channel)s in the "
                "last %(days)s days: the crons collect inline, one worker at a time. Start Odoo "
                "with workers and the runner (server_wide_modules = base,web,queue_job) and the "
                "next run of the collection cron uses jobs.",
                channel=const.JOB_CHANNEL,
                days=const.JOB_RUNNER_SEEN_DAYS,
            )
        elif waiting and fields.Datetime.subtract(now, minutes=max_wait) > max(
            oldest_waiting, last_started
        ):
            status['reason'] = self.env._(
                "%(count)s jobs have waited since %(since)s and none started for more than "
                "%(minutes)s minutes: queue_job's job runner seems stopped. The crons collect "
                "inline until it starts jobs again.",
                count=waiting,
                since=fields.Datetime.to_string(oldest_waiting),
                minutes=max_wait,
            )
        else:
            status['use_jobs'] = True
            status['warning'] = self._get_time_limit_warning()
            status['reason'] = self.env._(
                "Collected in jobs of %(size)s on the channel %(channel)s: queue_job's job "
                "runner started a job at %(date)s (UTC); %(count)s jobs are waiting.",
                size=self._get_job_size(),
                channel=const.JOB_CHANNEL,
                date=fields.Datetime.to_string(last_started),
                count=waiting,
            )
        return status

    @api.model
    def _get_time_limit_warning(self):
        """Say when a job of this server's workers may be killed before its end: a job charges
        its records one after the other, each waiting up to the provider's timeout, within the
        request time limit of the worker that runs it."""
        limit = config['limit_time_real']
        worst = self._get_job_size() * const.PROVIDER_TIMEOUT_SECONDS
        if not config['workers'] or not limit or worst <= limit:
            return ''
        return self.env._(
            "A job of %(size)s charges may last %(worst)s s when the gateway answers slowly, "
            "more than this server's request time limit (limit_time_real = %(limit)s s): lower "
            "the installments per job, or raise the limit.",
            size=self._get_job_size(),
            worst=worst,
            limit=limit,
        )

    @api.model
    def _run(self, model_name, method_name, enqueue, inline, wait_for_jobs=True):
        """Do work in jobs when queue_job's runner takes them, else inline: the one place that
        decides (`_get_runner_status`).

        :param callable enqueue: Enqueues the work (with `_enqueue`).
        :param callable inline: Does the work without jobs (a cron's own run, or triggering
            the cron that does it).
        :param bool wait_for_jobs: A cron's run: while jobs of `model_name`.`method_name` are
            unfinished, nothing is enqueued (they do the work); and while the runner is not seen,
            the cron enqueues the job that shows it runs (`_ping_runner`).
        :return: Whether the work went to jobs.
        """
        status = self._get_runner_status()
        if not status['use_jobs']:
            if status['ping'] and wait_for_jobs:
                self._ping_runner()
            inline()
            return False
        if not wait_for_jobs or not self._has_unfinished_jobs(model_name, method_name):
            enqueue()
        return True

    @api.model
    def _dispatch(self, records, method_name, description, cron_xmlid, size=None):
        """Hand `records`.`method_name`() to the background, now: jobs of `size` records while
        queue_job's runner takes them, else the cron `cron_xmlid`, triggered, which does the same
        work.

        :return: Whether the work went to jobs.
        """
        return self._run(
            records._name,
            method_name,
            enqueue=lambda: self._enqueue(records, method_name, description, size=size),
            inline=lambda: self.env.ref(cron_xmlid).sudo()._trigger(),
            wait_for_jobs=False,
        )

    @api.model
    def _call_after_commit(self, records, method_name, *args, uid=None, sudo=False, **kwargs):
        """Call `records`.`method_name`(*args, **kwargs) once the current transaction is
        committed, in a cursor of its own, as `uid` (default: the current user), in the current
        language: work that must not run inside the request (a charge, which commits each step;
        a message to a gateway; an SMS, sent once by a transaction retried). Nothing runs if the
        transaction is rolled back. A failure is logged: the callers' crons do what was left
        undone.

        :param bool sudo: Call it in superuser mode (the caller checked the rights before).
        """
        if not records:
            return
        model, ids = records._name, list(records.ids)
        uid = uid or self.env.uid
        context = {'lang': self.env.lang, 'tz': self.env.context.get('tz')}
        registry = self.env.registry

        @self.env.cr.postcommit.add
        def call():
            try:
                with registry.cursor() as cr:
                    # Records gone meanwhile (an SMS sent and deleted by its queue) are skipped.
                    target = api.Environment(cr, uid, context)[model].browse(ids).exists()
                    getattr(target.sudo() if sudo else target, method_name)(*args, **kwargs)
            except Exception:
                _logger.exception("%s of %s %s after the request failed.", method_name, model, ids)

    @api.model
    def _get_channel_capacity(self):
        """Return the capacity of the channel in this server's job runner options (queue_job
        reads them when the runner starts: `ODOO_QUEUE_JOB_CHANNELS` or the `channels` option of
        the `[queue_job]` section), or None when they do not name it."""
        capacities = {
            channel['name'] if channel['name'].startswith('root') else f"root.{channel['name']}": (
                channel['capacity']
            )
            for channel in ChannelManager.parse_simple_config(jobrunner_channels())
        }
        capacity = capacities.get(const.JOB_CHANNEL)
        if capacity is None:
            return None
        return min(capacity, capacities.get('root', 1))

    @api.model
    def _ping_runner(self):
        """Enqueue, once, a job that does nothing: the runner is seen when it starts it."""
        self.with_delay(
            channel=const.JOB_CHANNEL,
            identity_key=identity_exact,
            description=self.env._("Payment Plans: check that the job runner runs"),
        )._job_ping()

    def _job_ping(self):
        """The job that shows the runner runs (queue_job records when it started)."""
        return "The job runner runs."

    @api.model
    def _get_max_wait(self):
        """Return the `payment_plan.job_max_wait` setting, in minutes."""
        return self._get_int_setting(
            'payment_plan.job_max_wait',
            const.DEFAULT_JOB_MAX_WAIT_MINUTES,
            const.MAX_JOB_MAX_WAIT_MINUTES,
        )

    @api.model
    def _has_unfinished_jobs(self, model_name, method_name):
        """Tell whether jobs of `model_name`.`method_name` have not ended yet.

        A job started longer ago than the maximum wait counts as ended: its worker died and
        nobody requeued it (the runner is down too). The work is enqueued again, and done
        inline once the new jobs wait too long.
        """
        self.env['queue.job'].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT 1
                  FROM queue_job
                 WHERE channel = %(channel)s
                   AND model_name = %(model)s
                   AND method_name = %(method)s
                   AND (state IN %(waiting)s OR (state = 'started' AND date_started >= %(since)s))
                 LIMIT 1
                """,
                channel=const.JOB_CHANNEL,
                model=model_name,
                method=method_name,
                waiting=('wait_dependencies', *WAITING_STATES),
                since=fields.Datetime.subtract(fields.Datetime.now(), minutes=self._get_max_wait()),
            )
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _enqueue(self, records, method_name, description, size=None):
        """Enqueue `records`.`method_name`() in jobs of `size` records (default: the
        `payment_plan.job_size` setting).

        :return: The number of jobs enqueued.
        """
        size = size or self._get_job_size()
        count = 0
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            delayable = chunk.with_delay(
                channel=const.JOB_CHANNEL,
                description=f"{description} ({chunk[:1].id}-{chunk[-1:].id})",
            )
            getattr(delayable, method_name)()
            count += 1
        return count
