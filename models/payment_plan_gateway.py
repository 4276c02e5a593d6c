import secrets

from odoo import api, fields, models


class PaymentPlanGateway(models.Model):
    _name = 'payment.plan.gateway'
    _description = "Payment Plan Gateway"
    _order = 'name, id'
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        copy=False,
        help="The gateway's part of its webhook URL: /payment_plan/webhook/<code>.",
    )
    company_id = fields.Many2one(
        comodel_name='res.company',
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    secret = fields.Char(
        required=True,
        copy=False,
        groups='payment_plan.group_manager',
        default=lambda self: secrets.token_hex(32),
        help="The key the gateway signs its events with (HMAC-SHA256 of the raw body, sent hex "
        "encoded in the X-Payment-Plan-Signature header).",
    )
    journal_id = fields.Many2one(
        string="Payment Journal",
        comodel_name='account.journal',
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
        compute='_compute_journal_id',
        store=True,
        readonly=False,
        help="The journal of the payments the gateway reports.",
    )
    active = fields.Boolean(default=True)
    webhook_url = fields.Char(string="Webhook URL", compute='_compute_webhook_url')
    event_ids = fields.One2many(
        string="Events", comodel_name='payment.plan.event', inverse_name='gateway_id'
    )

    _code_uniq = models.Constraint('unique(code)', "A gateway code must be unique.")
    _code_format = models.Constraint(
        "CHECK(code ~ '^[a-z0-9_-]+$')",
        "A gateway code may hold only lowercase letters, digits, '-' and '_'.",
    )

    # === COMPUTE METHODS === #

    @api.depends('company_id')
    def _compute_journal_id(self):
        for gateway in self:
            if gateway.journal_id.company_id != gateway.company_id:
                gateway.journal_id = self.env['account.journal'].search(
                    [
                        *self.env['account.journal']._check_company_domain(gateway.company_id),
                        ('type', '=', 'bank'),
                    ],
                    limit=1,
                )

    @api.depends('code')
    def _compute_webhook_url(self):
        base_url = self.get_base_url()
        for gateway in self:
            gateway.webhook_url = gateway.code and f'{base_url}/payment_plan/webhook/{gateway.code}'

    # === ACTION METHODS === #

    def action_regenerate_secret(self):
        """Replace the signing key (the gateway must be given the new one)."""
        self.ensure_one()
        self.secret = secrets.token_hex(32)
        return True
