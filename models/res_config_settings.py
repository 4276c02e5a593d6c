from odoo import fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan import const


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    payment_plan_max_attempts = fields.Integer(
        string="Attempts per Installment",
        config_parameter='payment_plan.max_attempts',
        default=const.DEFAULT_MAX_ATTEMPTS,
        help="Default maximum of attempts of new plans before an installment is denied.",
    )
    payment_plan_retry_interval_days = fields.Integer(
        string="Days Between Attempts",
        config_parameter='payment_plan.retry_interval_days',
        default=const.DEFAULT_RETRY_INTERVAL_DAYS,
    )
    payment_plan_expiry_warning_days = fields.Integer(
        string="Warn Before Card Expiry (Days)",
        config_parameter='payment_plan.expiry_warning_days',
        default=const.DEFAULT_EXPIRY_WARNING_DAYS,
    )
    payment_plan_batch_size = fields.Integer(
        string="Collection Batch Size",
        config_parameter='payment_plan.batch_size',
        default=const.DEFAULT_BATCH_SIZE,
        help="Installments charged and committed together by the collection cron.",
    )
    payment_plan_recently_denied_days = fields.Integer(
        string="Recently Denied (Days)",
        config_parameter='payment_plan.recently_denied_days',
        default=const.DEFAULT_RECENTLY_DENIED_DAYS,
    )

    def set_values(self):
        """Refuse a policy that would never charge or would charge in a loop."""
        for field_name in (
            'payment_plan_max_attempts',
            'payment_plan_retry_interval_days',
            'payment_plan_batch_size',
        ):
            if self[field_name] < 1:
                raise ValidationError(
                    self.env._(
                        "%(setting)s must be at least 1.",
                        setting=self._fields[field_name].get_description(self.env)['string'],
                    )
                )
        if self.payment_plan_expiry_warning_days < 0:
            raise ValidationError(
                self.env._("The card expiry warning cannot be a negative number of days.")
            )
        return super().set_values()
