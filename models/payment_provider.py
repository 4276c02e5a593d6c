from odoo import models


class PaymentProvider(models.Model):
    _inherit = 'payment.provider'

    def _is_tokenization_required(self, sale_order_id=None, payment_plan_id=None, **kwargs):
        """Override of `payment` to save the card that pays the first installment of an order,
        or an overdue installment of a plan: the plan charges it for the following ones."""
        if payment_plan_id:
            return True
        if sale_order_id:
            order_sudo = self.env['sale.order'].sudo().browse(sale_order_id).exists()
            if (
                order_sudo.payment_plan_id.collection_mode == 'token'
                and order_sudo.payment_plan_status in ('pending', 'error')
            ):
                return True
        return super()._is_tokenization_required(sale_order_id=sale_order_id, **kwargs)
