from odoo import fields, models


class AccountPayment(models.Model):
    _inherit = 'account.payment'

    payment_plan_installment_id = fields.Many2one(
        string="Plan Installment",
        comodel_name='payment.plan.installment',
        index='btree_not_null',
        readonly=True,
        copy=False,
        ondelete='restrict',
        help="The installment this payment settles, when recorded without a card charge.",
    )
