from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.payment_plan import const


class PaymentPlanInstallment(models.Model):
    _name = 'payment.plan.installment'
    _description = "Payment Plan Installment"
    _order = 'due_date, plan_id, sequence'
    _check_company_auto = True
    _rec_names_search = ['name', 'partner_id']

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, index='trigram'
    )
    plan_id = fields.Many2one(
        comodel_name='payment.plan',
        required=True,
        ondelete='cascade',
        index=True,
    )
    sequence = fields.Integer(string="Number", required=True, readonly=True)
    due_date = fields.Date(required=True, index=True)
    amount = fields.Monetary(required=True)
    currency_id = fields.Many2one(related='plan_id.currency_id', store=True)
    partner_id = fields.Many2one(related='plan_id.partner_id', store=True, index=True)
    company_id = fields.Many2one(related='plan_id.company_id', store=True, index=True)
    plan_type = fields.Selection(related='plan_id.plan_type', store=True)
    plan_state = fields.Selection(related='plan_id.state', string="Plan Status")
    collection_mode = fields.Selection(related='plan_id.collection_mode', store=True)
    state = fields.Selection(
        string="Status",
        selection=const.INSTALLMENT_STATES,
        required=True,
        default='pending',
        index=True,
        copy=False,
    )
    attempt_count = fields.Integer(string="Attempts", readonly=True, copy=False)
    next_attempt_date = fields.Date(
        string="Next Attempt",
        copy=False,
        help="When a denied charge is tried again; empty for the first attempt (the due date).",
    )
    last_error = fields.Text(readonly=True, copy=False)
    date_paid = fields.Date(string="Paid On", readonly=True, copy=False)
    transaction_ids = fields.One2many(
        string="Transactions",
        comodel_name='payment.transaction',
        inverse_name='installment_id',
        readonly=True,
    )

    _name_uniq = models.Constraint('unique(name)', "An installment reference must be unique.")
    _plan_sequence_uniq = models.Constraint(
        'unique(plan_id, sequence)',
        "A plan cannot have two installments with the same number.",
    )
    _due_idx = models.Index("(due_date, id) WHERE state = 'pending'")

    # === CONSTRAINT METHODS === #

    @api.constrains('amount')
    def _check_amount(self):
        for installment in self:
            if installment.currency_id.compare_amounts(installment.amount, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The amount of installment %(name)s must be positive.",
                        name=installment.name,
                    )
                )

    # === CRUD METHODS === #

    @api.ondelete(at_uninstall=False)
    def _unlink_except_charged(self):
        if self.filtered(lambda i: i.state != 'pending' or i.transaction_ids):
            raise UserError(
                self.env._(
                    "Installments that were charged, paid or cancelled are kept for the record."
                )
            )

    # === ACTION METHODS === #

    def action_cancel(self):
        """Waive the installments: the customer no longer owes them."""
        if self.filtered(lambda i: i.state not in ('pending', 'denied')):
            raise UserError(self.env._("Only pending or denied installments can be cancelled."))
        self.write({'state': 'cancelled'})
        for plan in self.plan_id:
            plan.message_post(
                body=self.env._(
                    "Installments cancelled: %(names)s",
                    names=", ".join(self.filtered(lambda i, p=plan: i.plan_id == p).mapped('name')),
                )
            )
        self.plan_id._check_done()
        return True
