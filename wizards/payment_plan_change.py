from odoo import api, fields, models
from odoo.exceptions import ValidationError


class PaymentPlanChange(models.TransientModel):
    _name = 'payment.plan.change'
    _description = "Change a Running Payment Plan"

    plan_id = fields.Many2one(comodel_name='payment.plan', required=True, ondelete='cascade')
    plan_type = fields.Selection(related='plan_id.plan_type')
    currency_id = fields.Many2one(related='plan_id.currency_id')
    amount = fields.Monetary(
        string="New Amount",
        compute='_compute_from_plan',
        store=True,
        readonly=False,
        help="Subscriptions: the amount of each coming period. Installment plans: the total "
        "still to pay, split again over the remaining installments.",
    )
    next_due_date = fields.Date(compute='_compute_from_plan', store=True, readonly=False)
    remaining_count = fields.Integer(
        string="Remaining Installments", compute='_compute_from_plan', store=True, readonly=False
    )
    reason = fields.Char(help="Logged in the plan's chatter with the change.")

    # === COMPUTE METHODS === #

    @api.depends('plan_id')
    def _compute_from_plan(self):
        for wizard in self:
            unpaid = wizard.plan_id._get_regenerable_installments()
            wizard.next_due_date = min(
                unpaid.mapped('due_date'),
                default=self.env['payment.plan.installment']._get_collection_today(),
            )
            if wizard.plan_id.plan_type == 'installments':
                # What is still owed of them (the ledger), not their scheduled amounts.
                wizard.amount = sum(unpaid._get_open_amounts().values())
                wizard.remaining_count = len(unpaid)
            else:
                wizard.amount = wizard.plan_id.amount
                wizard.remaining_count = 0

    # === CONSTRAINT METHODS === #

    @api.constrains('amount', 'remaining_count', 'next_due_date')
    def _check_values(self):
        for wizard in self:
            if wizard.currency_id.compare_amounts(wizard.amount, 0) <= 0:
                raise ValidationError(self.env._("The new amount must be positive."))
            if wizard.plan_type == 'installments' and wizard.remaining_count < 1:
                raise ValidationError(self.env._("At least one installment must remain."))
            if wizard.plan_type == 'installments':
                wizard.plan_id._check_schedule_bounds(
                    wizard.plan_id.interval_number,
                    wizard.plan_id.interval_unit,
                    wizard.remaining_count,
                )
            today = self.env['payment.plan.installment']._get_collection_today()
            if wizard.next_due_date and wizard.next_due_date < today:
                raise ValidationError(self.env._("The next due date cannot be in the past."))

    # === ACTION METHODS === #

    def action_apply(self):
        """Regenerate the unpaid installments of the plan with the new values."""
        self.ensure_one()
        self.plan_id._reschedule(
            self.amount, self.next_due_date, self.remaining_count, reason=self.reason
        )
        return {'type': 'ir.actions.act_window_close'}
