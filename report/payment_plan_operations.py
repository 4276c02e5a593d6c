from odoo import models


class PaymentPlan(models.Model):
    """The rows of a plan's operations export (`payment.plan.export`), for an accountant."""

    _inherit = 'payment.plan'

    # === BUSINESS METHODS: REPORTS === #

    def _get_operation_rows(self):
        """Return the header and the rows of the plans' operations, for an accountant.

        One row per charge attempt (transaction) and per recorded payment of each installment,
        and one row for an installment with neither yet; plans and installments in order.

        :return: (header, rows) where rows hold dates, numbers and text.
        :rtype: tuple[list, list[list]]
        """
        header = [
            self.env._("Plan"),
            self.env._("Customer"),
            self.env._("Tax ID"),
            self.env._("Plan Kind"),
            self.env._("Installment"),
            self.env._("Due Date"),
            self.env._("Installment Amount"),
            self.env._("Currency"),
            self.env._("Installment Status"),
            self.env._("Operation"),
            self.env._("Attempt"),
            self.env._("Date"),
            self.env._("Transaction Reference"),
            self.env._("Provider"),
            self.env._("Provider Reference"),
            self.env._("Card"),
            self.env._("Transaction Status"),
            self.env._("Message"),
            self.env._("Payment"),
            self.env._("Payment Date"),
            self.env._("Amount Paid"),
            self.env._("Journal"),
            self.env._("Invoice"),
        ]
        kinds = dict(self._fields['plan_type']._description_selection(self.env))
        inst_states = dict(
            self.env['payment.plan.installment']._fields['state']._description_selection(self.env)
        )
        tx_states = dict(
            self.env['payment.transaction']._fields['state']._description_selection(self.env)
        )
        rows = []
        for plan in self.sorted('name'):
            partner = plan.partner_id
            for inst in plan.installment_ids.sorted('sequence'):
                base = [
                    plan.name,
                    partner.display_name,
                    partner.vat or '',
                    kinds.get(plan.plan_type),
                    inst.name,
                    inst.due_date,
                    inst.amount,
                    inst.currency_id.name,
                    inst_states.get(inst.state),
                ]
                # Transactions are the payment administrators': the staff's right to the plan
                # is the one that counts for its own history.
                transactions = inst.sudo().transaction_ids.sorted('id')
                for attempt, tx in enumerate(transactions, start=1):
                    payment = tx.payment_id
                    rows.append(
                        [
                            *base,
                            self.env._("Card charge"),
                            attempt,
                            tx.create_date,
                            tx.reference,
                            tx.provider_id.name,
                            tx.provider_reference or '',
                            tx.token_id.display_name or '',
                            tx_states.get(tx.state),
                            tx.state_message or '',
                            payment.name or '',
                            payment.date or None,
                            payment.amount if payment else None,
                            payment.journal_id.name or '',
                            ', '.join(tx.invoice_ids.mapped('name')),
                        ]
                    )
                for payment in inst.sudo().payment_ids.sorted('id'):
                    rows.append(
                        [
                            *base,
                            self.env._("Recorded payment"),
                            None,
                            payment.create_date,
                            '',
                            '',
                            '',
                            '',
                            '',
                            payment.memo or '',
                            payment.name,
                            payment.date,
                            payment.amount,
                            payment.journal_id.name,
                            inst.invoice_id.name or '',
                        ]
                    )
                if not transactions and not inst.payment_ids:
                    rows.append(
                        [*base, self.env._("Scheduled"), None, None]
                        + [''] * 6
                        + ['', None, None, '', inst.invoice_id.name or '']
                    )
        return header, rows
