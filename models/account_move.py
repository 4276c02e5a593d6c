from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.payment_plan import const


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

    # === BUSINESS METHODS === #

    def _payment_plan_claim(self):
        """Claim the invoices' rows before a charge of them is created.

        An update of the rows, in SQL on purpose (no field changes): any other transaction
        charging the same invoices (a worker collecting installments, a mass charge, Pay on
        Behalf) conflicts with it, and the one that comes second starts again from a fresh
        snapshot, where it sees the invoice paid or being paid.
        """
        if not self:
            return
        self.env.cr.execute(
            SQL("UPDATE account_move SET write_date = write_date WHERE id = ANY(%s)", self.ids)
        )

    def _payment_plan_get_charges_under_way(self):
        """Return, for each of the invoices with a payment sent and not settled, claimed by the
        collection service, or started online a moment ago, the installments those payments are
        for (`False` for a payment of no installment): {invoice id: set of installment ids}.

        :rtype: dict
        """
        if not self:
            return {}
        hold_since = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.ONLINE_PAYMENT_HOLD_MINUTES
        )
        # Transactions are the payment administrators' records: only their state is read.
        transactions_sudo = (
            self.env['payment.transaction']
            .sudo()
            .search(
                [
                    ('invoice_ids', 'in', self.ids),
                    '|',
                    ('state', 'in', ('pending', 'authorized')),
                    '&',
                    ('state', '=', 'draft'),
                    '|',
                    '|',
                    ('create_date', '>=', hold_since),
                    # A claimed attempt, interrupted or not: it may have reached the provider.
                    ('installment_id.state', '=', 'processing'),
                    ('payment_plan_charge_line_id.state', 'in', ('processing', 'pending')),
                ]
            )
        )
        charging = {}
        for tx in transactions_sudo:
            for invoice in tx.invoice_ids & self:
                charging.setdefault(invoice.id, set()).add(tx.installment_id.id)
        return charging

    def _payment_plan_transaction_under_way(self):
        """Return whether a payment of the invoice was sent and not settled, or started online a
        moment ago."""
        self.ensure_one()
        return bool(self._payment_plan_get_charges_under_way())

    def _payment_plan_settle_installments(self):
        """Mark paid the open installments that the payments of these invoices now cover,
        whatever paid them (a mass charge, Pay on Behalf, the customer paying the invoice, a
        registered payment): a payment made on one path shows on the plan."""
        Installment = self.env['payment.plan.installment']
        # Installments are the plan users' records: the payment is what settles them, whoever
        # recorded it.
        installments_sudo = Installment.sudo().search(
            [('invoice_id', 'in', self.ids), ('state', 'in', ('pending', 'denied'))]
        )
        if not installments_sudo:
            return Installment
        open_amounts = installments_sudo._get_open_amounts()
        covered = installments_sudo.filtered(
            lambda i: i.currency_id.compare_amounts(open_amounts[i.id], 0) <= 0
        )
        return covered._register_payment(
            note=self.env._("paid on their invoice by another payment")
        )
