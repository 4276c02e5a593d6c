from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan import const


class ResCompany(models.Model):
    _inherit = 'res.company'

    payment_plan_max_attempts = fields.Integer(
        string="Attempts per Installment",
        default=const.DEFAULT_MAX_ATTEMPTS,
        help="Default maximum of attempts of the company's new plans before an installment is "
        "denied.",
    )
    payment_plan_retry_interval_days = fields.Integer(
        string="Days Between Attempts", default=const.DEFAULT_RETRY_INTERVAL_DAYS
    )
    payment_plan_expiry_warning_days = fields.Integer(
        string="Warn Before Card Expiry (Days)", default=const.DEFAULT_EXPIRY_WARNING_DAYS
    )
    payment_plan_recently_denied_days = fields.Integer(
        string="Recently Denied (Days)", default=const.DEFAULT_RECENTLY_DENIED_DAYS
    )
    payment_plan_payer_cancel_subscriptions = fields.Boolean(
        string="Payers May Cancel Subscriptions",
        default=True,
        help="New subscriptions may be cancelled by the customer from the portal (each plan may "
        "say otherwise).",
    )
    payment_plan_payer_cancel_installments = fields.Boolean(
        string="Payers May Cancel Installment Plans",
        help="New installment plans may be cancelled by the customer from the portal (each plan "
        "may say otherwise).",
    )
    payment_plan_invoice_mail = fields.Selection(
        string="Mail Paid Invoices",
        selection=[
            ('none', "Never"),
            ('subscriptions', "Subscriptions' invoices"),
            ('all', "Every plan's invoice, at each payment"),
        ],
        required=True,
        default='subscriptions',
        help="Customers get the invoice a payment of their plan paid, with its PDF, by mail: "
        "each period's invoice of a subscription, or also an installment plan's invoice each "
        "time an installment of it is paid.",
    )
    payment_plan_notify_sms = fields.Boolean(
        string="Text Customers",
        help="Customers asked to act also get the link by SMS: to authenticate a payment their "
        "bank held, to pay an order's first installment or a gateway's schedule, and the payment "
        "and card links staff send by SMS. Texts use SMS credits.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains(
        'payment_plan_max_attempts',
        'payment_plan_retry_interval_days',
        'payment_plan_expiry_warning_days',
        'payment_plan_recently_denied_days',
    )
    def _check_payment_plan_settings(self):
        """Refuse a policy that would never charge or would charge in a loop."""
        for company in self:
            for field_name in ('payment_plan_max_attempts', 'payment_plan_retry_interval_days'):
                if company[field_name] < 1:
                    raise ValidationError(
                        self.env._(
                            "%(setting)s must be at least 1.",
                            setting=self._fields[field_name].get_description(self.env)['string'],
                        )
                    )
            if (
                company.payment_plan_expiry_warning_days < 0
                or company.payment_plan_recently_denied_days < 0
            ):
                raise ValidationError(self.env._("A number of days cannot be negative."))

    # === BUSINESS METHODS === #

    def _payment_plan_get_sms_refusal(self):
        """Return why the company does not text its customers, or None when it does."""
        self.ensure_one()
        if self.payment_plan_notify_sms:
            return None
        return self.env._(
            "%(company)s does not text its customers (Settings: Text Customers).",
            company=self.name,
        )
