from odoo import api, models
from odoo.fields import Command

# Fields of an order line that shape the plan set up from its order.
PLAN_SHAPING_LINE_FIELDS = {
    'product_id',
    'product_uom_qty',
    'product_uom_id',
    'price_unit',
    'discount',
    'tax_ids',
}


class SaleOrderLine(models.Model):
    _inherit = 'sale.order.line'

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `sale` not to add a line to an order whose plan awaits its first payment
        (`sale.order._check_payment_plan_lines_frozen`)."""
        order_ids = {vals.get('order_id') for vals in vals_list if vals.get('order_id')}
        self.env['sale.order'].browse(order_ids)._check_payment_plan_lines_frozen()
        return super().create(vals_list)

    def write(self, vals):
        """Override of `sale` not to change what a line sells or charges while its order's plan
        awaits its first payment."""
        if PLAN_SHAPING_LINE_FIELDS & set(vals):
            self.order_id._check_payment_plan_lines_frozen()
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_plan_awaiting(self):
        self.order_id._check_payment_plan_lines_frozen()

    # === BUSINESS METHODS === #

    def _prepare_payment_plan_line_values(self):
        """Return the values of the plan line billing this order line: what the plan set up
        from the order invoices each period (a subscription) or once (installments)."""
        self.ensure_one()
        return {
            'sequence': self.sequence,
            'product_id': self.product_id.id,
            'name': self.name,
            'quantity': self.product_uom_qty,
            'price_unit': self.price_unit,
            'discount': self.discount,
            'tax_ids': [Command.set(self.tax_ids.ids)],
            'analytic_distribution': self.analytic_distribution,
        }
