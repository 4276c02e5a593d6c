from odoo import fields, models
from odoo.exceptions import UserError


class AccountMove(models.Model):
    _inherit = 'account.move'

    payment_plan_charge_line_id = fields.Many2one(
        string="Card Charge Under Way",
        comodel_name='payment.plan.charge.batch.line',
        readonly=True,
        copy=False,
        index='btree_not_null',
        help="The charge batch line charging this invoice right now: no other charge may start.",
    )

    # === ACTION METHODS === #

    def action_payment_plan_pay_on_behalf(self):
        """Open the wizard that charges the customer's card for this invoice, or splits it."""
        self.ensure_one()
        if self.move_type != 'out_invoice' or self.state != 'posted':
            raise UserError(self.env._("Only posted customer invoices can be charged."))
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Pay on Behalf of the Customer"),
            'res_model': 'payment.plan.pay.behalf',
            'view_mode': 'form',
            'target': 'new',
            'context': {
                'default_partner_id': self.commercial_partner_id.id,
                'default_invoice_ids': self.ids,
            },
        }
