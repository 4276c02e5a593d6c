from odoo import models
from odoo.exceptions import UserError


class AccountPaymentRegister(models.TransientModel):
    _inherit = 'account.payment.register'

    def _create_payments(self):
        """Override of `account` to refuse a payment of invoices that a card payment is being
        charged for (it would be paid twice: the card's payment arrives too), and to settle the
        plan installments that the registered payments cover: invoices are the ledger, whichever
        path paid them."""
        invoices = self.line_ids.move_id
        under_way = invoices._payment_plan_get_charges_under_way()
        if under_way:
            raise UserError(
                self.env._(
                    "A card payment of %(invoices)s is under way: wait for its outcome before "
                    "registering another payment.",
                    invoices=", ".join(invoices.browse(list(under_way)).mapped('display_name')),
                )
            )
        payments = super()._create_payments()
        invoices._payment_plan_settle_installments()
        return payments
