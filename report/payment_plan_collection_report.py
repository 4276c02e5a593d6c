from odoo import fields, models, tools
from odoo.tools import SQL

from odoo.addons.payment_plan import const


class PaymentPlanCollectionReport(models.Model):
    """Recurring collections: one row per installment, with its latest transaction."""

    _name = 'payment.plan.collection.report'
    _description = "Recurring Collections Report"
    _auto = False
    _order = 'due_date desc, id desc'
    _rec_name = 'installment_id'
    _depends = {
        'payment.plan.installment': [
            'plan_id',
            'partner_id',
            'company_id',
            'currency_id',
            'plan_type',
            'collection_mode',
            'state',
            'due_date',
            'date_paid',
            'amount',
            'attempt_count',
            'invoice_id',
        ],
        'payment.transaction': ['installment_id', 'provider_id', 'state'],
        'payment.plan': ['amount', 'amount_untaxed', 'amount_tax'],
        'account.move': ['amount_untaxed', 'amount_total', 'state'],
    }

    installment_id = fields.Many2one(comodel_name='payment.plan.installment', readonly=True)
    plan_id = fields.Many2one(comodel_name='payment.plan', readonly=True)
    partner_id = fields.Many2one(string="Customer", comodel_name='res.partner', readonly=True)
    company_id = fields.Many2one(comodel_name='res.company', readonly=True)
    currency_id = fields.Many2one(comodel_name='res.currency', readonly=True)
    plan_type = fields.Selection(string="Plan Kind", selection=const.PLAN_TYPES, readonly=True)
    collection_mode = fields.Selection(selection=const.COLLECTION_MODES, readonly=True)
    state = fields.Selection(
        string="Status", selection=const.COLLECTION_REPORT_STATES, readonly=True
    )
    installment_state = fields.Selection(
        string="Installment Status", selection=const.INSTALLMENT_STATES, readonly=True
    )
    due_date = fields.Date(readonly=True)
    date_paid = fields.Date(string="Payment Date", readonly=True)
    amount = fields.Monetary(string="Amount Due", readonly=True)
    amount_untaxed = fields.Monetary(
        string="Untaxed",
        readonly=True,
        help="The installment's share of its plan's untaxed amount (MRR is untaxed).",
    )
    amount_tax = fields.Monetary(string="Taxes", readonly=True)
    amount_paid = fields.Monetary(string="Confirmed", readonly=True)
    amount_awaiting = fields.Monetary(string="Awaiting", readonly=True)
    amount_denied = fields.Monetary(string="Denied", readonly=True)
    attempt_count = fields.Integer(string="Attempts", readonly=True, aggregator='sum')
    transaction_id = fields.Many2one(
        string="Latest Transaction", comodel_name='payment.transaction', readonly=True
    )
    provider_id = fields.Many2one(comodel_name='payment.provider', readonly=True)
    transaction_state = fields.Char(readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE OR REPLACE VIEW %(table)s AS (
                    SELECT inst.id AS id,
                           inst.id AS installment_id,
                           inst.plan_id,
                           inst.partner_id,
                           inst.company_id,
                           inst.currency_id,
                           inst.plan_type,
                           inst.collection_mode,
                           CASE inst.state
                               WHEN 'paid' THEN 'confirmed'
                               WHEN 'denied' THEN 'denied'
                               WHEN 'cancelled' THEN 'cancelled'
                               ELSE 'awaiting'
                           END AS state,
                           inst.state AS installment_state,
                           inst.due_date,
                           inst.date_paid,
                           inst.amount,
                           ROUND(inst.amount * %(untaxed_ratio)s, cur.decimal_places)
                               AS amount_untaxed,
                           inst.amount - ROUND(inst.amount * %(untaxed_ratio)s, cur.decimal_places)
                               AS amount_tax,
                           CASE WHEN inst.state = 'paid' THEN inst.amount ELSE 0 END AS amount_paid,
                           CASE WHEN inst.state IN ('pending', 'processing')
                                THEN inst.amount ELSE 0 END AS amount_awaiting,
                           CASE WHEN inst.state = 'denied' THEN inst.amount ELSE 0 END
                               AS amount_denied,
                           inst.attempt_count,
                           tx.id AS transaction_id,
                           tx.provider_id,
                           tx.state AS transaction_state
                      FROM payment_plan_installment inst
                      JOIN payment_plan plan ON plan.id = inst.plan_id
                      JOIN res_currency cur ON cur.id = inst.currency_id
                 LEFT JOIN account_move inv
                        ON inv.id = inst.invoice_id AND inv.state = 'posted'
                 LEFT JOIN LATERAL (
                               SELECT t.id, t.provider_id, t.state
                                 FROM payment_transaction t
                                WHERE t.installment_id = inst.id
                             ORDER BY t.id DESC
                                LIMIT 1
                           ) tx ON TRUE
                )
                """,
                table=SQL.identifier(self._table),
                # The untaxed share of the installment's invoice; before it is invoiced, its plan's
                # lines' (`payment.plan._get_untaxed_share`), else none taxed.
                untaxed_ratio=SQL(
                    """CASE WHEN inv.amount_total <> 0
                            THEN inv.amount_untaxed / inv.amount_total
                            WHEN plan.amount_untaxed + plan.amount_tax <> 0
                            THEN plan.amount_untaxed / (plan.amount_untaxed + plan.amount_tax)
                            ELSE 1 END"""
                ),
            )
        )
