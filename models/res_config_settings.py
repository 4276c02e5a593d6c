from odoo import fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan import const


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    payment_plan_max_attempts = fields.Integer(
        related='company_id.payment_plan_max_attempts', readonly=False
    )
    payment_plan_retry_interval_days = fields.Integer(
        related='company_id.payment_plan_retry_interval_days', readonly=False
    )
    payment_plan_expiry_warning_days = fields.Integer(
        related='company_id.payment_plan_expiry_warning_days', readonly=False
    )
    payment_plan_batch_size = fields.Integer(
        string="Collection Batch Size",
        config_parameter='payment_plan.batch_size',
        default=const.DEFAULT_BATCH_SIZE,
        help="Installments charged and committed together by the collection cron (for every "
        "company: the cron's queue spans them).",
    )
    payment_plan_job_size = fields.Integer(
        string="Installments per Job",
        config_parameter='payment_plan.job_size',
        default=const.DEFAULT_JOB_SIZE,
        help="The collection cron splits what is due into jobs of this many installments (or "
        "mass charge lines, or expiring cards), which queue_job's workers run side by side.",
    )
    payment_plan_job_max_wait = fields.Integer(
        string="Maximum Wait (minutes)",
        config_parameter='payment_plan.job_max_wait',
        default=const.DEFAULT_JOB_MAX_WAIT_MINUTES,
        help="When jobs wait longer than this while none starts, the job runner is taken as "
        "stopped and the crons collect inline.",
    )
    payment_plan_jobs_disabled = fields.Boolean(
        string="Collect Inline Only",
        config_parameter='payment_plan.jobs_disabled',
        help="Never use jobs: the crons collect inline, one worker at a time.",
    )
    payment_plan_job_status = fields.Char(
        string="Parallel Collection Status", compute='_compute_payment_plan_job_status'
    )
    payment_plan_job_capacity = fields.Char(
        string="Channel Capacity", compute='_compute_payment_plan_job_status'
    )
    payment_plan_recently_denied_days = fields.Integer(
        related='company_id.payment_plan_recently_denied_days', readonly=False
    )
    payment_plan_invoice_mail = fields.Selection(
        related='company_id.payment_plan_invoice_mail', readonly=False
    )
    payment_plan_notify_sms = fields.Boolean(
        related='company_id.payment_plan_notify_sms', readonly=False
    )
    payment_plan_payer_cancel_subscriptions = fields.Boolean(
        related='company_id.payment_plan_payer_cancel_subscriptions', readonly=False
    )
    payment_plan_payer_cancel_installments = fields.Boolean(
        related='company_id.payment_plan_payer_cancel_installments', readonly=False
    )
    payment_plan_portal_url = fields.Char(
        string="Portal Link for Payers",
        compute='_compute_payment_plan_portal_url',
        help="Share it with your payers: they log in, or activate their account, and find their "
        "plans, cards and payments.",
    )

    def _compute_payment_plan_portal_url(self):
        for settings in self:
            settings.payment_plan_portal_url = (
                f'{settings.company_id.get_base_url()}/web/login?redirect=/my/plans'
            )

    def _compute_payment_plan_job_status(self):
        Queue = self.env['payment.plan.queue']
        status = Queue._get_runner_status()
        capacity = Queue._get_channel_capacity()
        for settings in self:
            settings.payment_plan_job_status = " ".join(
                filter(None, [status['reason'], status['warning']])
            )
            settings.payment_plan_job_capacity = (
                self.env._(
                    "%(capacity)s jobs at once on %(channel)s in this server's job runner",
                    capacity=capacity,
                    channel=const.JOB_CHANNEL,
                )
                if capacity
                else self.env._(
                    "Not set in this server's job runner options: %(channel)s shares the root "
                    "channel's capacity (ODOO_QUEUE_JOB_CHANNELS=root:4,%(channel)s:4).",
                    channel=const.JOB_CHANNEL,
                )
            )

    def set_values(self):
        """Refuse sizes and delays that would never charge, or outlast what they bound."""
        for field_name, maximum in (
            ('payment_plan_batch_size', None),
            ('payment_plan_job_size', const.MAX_JOB_SIZE),
            ('payment_plan_job_max_wait', const.MAX_JOB_MAX_WAIT_MINUTES),
        ):
            if self[field_name] < 1 or (maximum and self[field_name] > maximum):
                setting = self._fields[field_name].get_description(self.env)['string']
                raise ValidationError(
                    self.env._(
                        "%(setting)s must be between 1 and %(maximum)s.",
                        setting=setting,
                        maximum=maximum,
                    )
                    if maximum
                    else self.env._("%(setting)s must be at least 1.", setting=setting)
                )
        return super().set_values()
