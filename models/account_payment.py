from odoo import api, fields, models


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

    # === BUSINESS METHODS === #

    @api.model
    def _payment_plan_create_reconciled(self, values_list, invoices_list):
        """Create, post and reconcile with their invoices the payments of confirmed charges or
        received payments, at once: the one way the add-on records money that came in.

        :param list values_list: The values of each payment.
        :param list invoices_list: The invoices (`account.move`) each payment pays, in order.
        :return: The posted payments.
        :rtype: account.payment
        """
        # The invoice each payment pays and its chatter say where it comes from: no "created"
        # log nor field tracking on top of it.
        payments = self.with_context(mail_create_nolog=True, mail_notrack=True).create(values_list)
        payments.action_post()
        reconciliation_plan = []
        for payment, invoices in zip(payments, invoices_list, strict=True):
            posted = invoices.filtered(lambda inv: inv.state == 'posted')
            lines = (payment.move_id.line_ids + posted.line_ids).filtered(
                lambda line, p=payment: (
                    line.account_id == p.destination_account_id and not line.reconciled
                )
            )
            if posted and lines:
                reconciliation_plan.append(lines)
        self.env['account.move.line'].with_context(mail_notrack=True)._reconcile_plan(
            reconciliation_plan
        )
        return payments
