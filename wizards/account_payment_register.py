from odoo import models


class AccountPaymentRegister(models.TransientModel):
    _inherit = 'account.payment.register'

    def _create_payments(self):
        """Override of `account` to settle the plan installments that the registered payments
        cover: invoices are the ledger, whichever path paid them."""
        payments = super()._create_payments()
        self.line_ids.move_id._payment_plan_settle_installments()
        return payments
