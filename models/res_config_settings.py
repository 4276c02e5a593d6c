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
    payment_plan_recently_denied_days = fields.Integer(
        related='company_id.payment_plan_recently_denied_days', readonly=False
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

    def set_values(self):
        """Refuse a batch size that would never charge."""
        if self.payment_plan_batch_size < 1:
            raise ValidationError(
                self.env._(
                    "%(setting)s must be at least 1.",
                    setting=self._fields['payment_plan_batch_size'].get_description(self.env)[
                        'string'
                    ],
                )
            )
        return super().set_values()
