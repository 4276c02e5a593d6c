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
            # The oldest invoice is paid first: an amount that covers part of the balance pays
            # the oldest in full before the next one.
            posted = invoices.filtered(lambda inv: inv.state == 'posted').sorted(
                lambda inv: (inv.invoice_date_due or inv.invoice_date or inv.date, inv.id)
            )

            def open_lines(lines, account=payment.destination_account_id):
                return lines.filtered(
                    lambda line: line.account_id == account and not line.reconciled
                )

            steps = [open_lines(invoice.line_ids) for invoice in posted]
            steps = [lines for lines in steps if lines]
            payment_lines = open_lines(payment.move_id.line_ids)
            if steps and payment_lines:
                # One invoice after the other, each with what is left of the payment.
                reconciliation_plan.append([payment_lines + lines for lines in steps])
        self.env['account.move.line'].with_context(mail_notrack=True)._reconcile_plan(
            reconciliation_plan
        )
        return payments
