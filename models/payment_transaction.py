from odoo import fields, models


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    installment_id = fields.Many2one(
        comodel_name='payment.plan.installment',
        index='btree_not_null',
        ondelete='restrict',
        readonly=True,
    )
    payment_plan_id = fields.Many2one(
        string="Payment Plan",
        related='installment_id.plan_id',
        store=True,
        index='btree_not_null',
    )
