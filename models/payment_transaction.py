from odoo import fields, models

from odoo.addons.payment_plan.tools import collection


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    installment_id = fields.Many2one(
        comodel_name='payment.plan.installment',
        index='btree_not_null',
        ondelete='restrict',
        readonly=True,
    )
    payment_plan_id = fields.Many2one(
        string="Payment Plan", related='installment_id.plan_id', store=True, index='btree_not_null'
    )

    # === BUSINESS METHODS === #

    def _post_process(self):
        """Override of `account_payment` to settle the installments the transactions pay.

        Runs whichever way the outcome arrives: the charge itself, the provider's webhook, the
        customer returning from the payment page, or the post-processing cron.
        """
        super()._post_process()
        self.filtered('installment_id')._apply_outcome_to_installments()

    def _apply_outcome_to_installments(self):
        """Pay, retry or deny the installments according to their transactions' state.

        A confirmed charge always pays its installment (money came in, even late); a failure
        only counts when it is the outcome of the installment's current attempt, so replayed or
        out-of-order outcomes change nothing.
        """
        for tx in self:
            installment = tx.installment_id
            if installment.state in ('paid', 'cancelled'):
                continue
            if tx.state == 'done':
                installment._register_payment(tx)
                continue
            current_reference = collection.attempt_reference(
                installment.name, max(installment.attempt_count, 1)
            )
            fallback_reference = collection.fallback_reference(current_reference)
            if (
                tx.reference not in (current_reference, fallback_reference)
                or installment.state != 'processing'
                or tx.state not in ('error', 'cancel')
            ):
                continue
            message = tx.state_message or self.env._("The payment was refused.")
            if tx.reference == current_reference and installment._charge_fallback_card(tx):
                continue
            installment._register_failure(message)
