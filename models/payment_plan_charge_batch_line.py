import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tools import SQL

from odoo.addons.payment_plan import const

_logger = logging.getLogger(__name__)


class PaymentPlanChargeBatchLine(models.Model):
    _name = 'payment.plan.charge.batch.line'
    _inherit = ['payment.plan.collection.mixin']
    _description = "Charge Batch Line"
    _order = 'batch_id desc, sequence, id'
    _check_company_auto = True

    batch_id = fields.Many2one(
        comodel_name='payment.plan.charge.batch', required=True, ondelete='cascade', index=True
    )
    sequence = fields.Integer(required=True, default=1)
    name = fields.Char(string="Reference", compute='_compute_name', store=True)
    company_id = fields.Many2one(related='batch_id.company_id', store=True, index=True)
    partner_id = fields.Many2one(
        string="Customer", comodel_name='res.partner', required=True, index=True
    )
    invoice_ids = fields.Many2many(
        string="Invoices",
        comodel_name='account.move',
        relation='payment_plan_charge_line_invoice_rel',
        column1='line_id',
        column2='invoice_id',
        check_company=True,
    )
    currency_id = fields.Many2one(comodel_name='res.currency', required=True)
    amount = fields.Monetary(help="The amount to charge (for the skipped lines, what was due).")
    token_id = fields.Many2one(string="Card", comodel_name='payment.token', check_company=True)
    state = fields.Selection(
        string="Status",
        selection=const.CHARGE_LINE_STATES,
        required=True,
        default='queued',
        index=True,
    )
    message = fields.Text(help="Why the line was skipped, or the provider's message.")
    attempt_count = fields.Integer(string="Attempts", readonly=True)
    transaction_id = fields.Many2one(
        comodel_name='payment.transaction',
        readonly=True,
        help="The transaction of the latest attempt.",
    )
    transaction_ids = fields.One2many(
        string="Transactions",
        comodel_name='payment.transaction',
        inverse_name='payment_plan_charge_line_id',
        readonly=True,
    )

    _queued_idx = models.Index("(id) WHERE state = 'queued'")

    # === COMPUTE METHODS === #

    @api.depends('batch_id.name', 'sequence')
    def _compute_name(self):
        for line in self:
            line.name = f'{line.batch_id.name}-{line.sequence:05d}'

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """A line starts queued, or skipped with the reason: its outcome is the service's."""
        if any(vals.get('state', 'queued') not in ('queued', 'skipped') for vals in vals_list):
            raise UserError(self.env._("A charge batch line starts queued or skipped."))
        return super().create(vals_list)

    def write(self, vals):
        """The state of a line has one owner: its `_set_*` methods."""
        if 'state' in vals:
            raise UserError(
                self.env._(
                    "The status of a charge batch line changes by charging it, not by editing it."
                )
            )
        return super().write(vals)

    def _write_internal(self, vals):
        """Write the state: only the line's `_set_*` methods do (an RPC call controls its
        context, so no context key could tell them from a caller)."""
        # The parent's write, past this model's guard.
        return super().write(vals)  # pylint: disable=super-method-mismatch

    # === BUSINESS METHODS: ELIGIBILITY === #

    @api.model
    def _get_card(self, partner, company):
        """Return the customer's default card in `company` (charged if it may be), or an empty
        recordset."""
        return partner.with_company(company)._get_default_card()

    @api.model
    def _get_skip_reason(self, partner, card, invoices, amount, currency):
        """Return why `partner` cannot be charged, or `None` when the charge may go on.

        :param res.partner partner: The customer (commercial entity) charged.
        :param payment.token card: The card that would be charged (`_get_card`).
        :param account.move invoices: The open invoices the charge pays.
        :param float amount: The amount to charge.
        :param res.currency currency: The currency of the charge.
        :rtype: str | None
        """
        if not card:
            if not self.env['payment.plan.consent']._has_consent(partner):
                return self.env._("No consent to charge a card on file was recorded.")
            return self.env._("No valid card on file (none, archived or expired).")
        refusal = card._payment_plan_get_charge_refusal(
            partner, invoices.company_id[:1] or card.company_id, currency
        )
        if refusal:
            return refusal
        if not invoices:
            return self.env._("No open invoice to pay.")
        if currency.compare_amounts(amount, 0) <= 0:
            return self.env._("Nothing to charge.")
        return None

    @api.model
    def _get_unpayable_reason(self, invoices):
        """Return why none of `invoices` may be charged (`_payment_plan_filter_payable`)."""
        if invoices._payment_plan_get_collected_by_plans():
            return self.env._(
                "Collected by a running payment plan: left to the plan (choose to settle plans "
                "early to charge it now)."
            )
        return self.env._("Already paid, or being paid by a charge under way.")

    @api.model
    def _compute_charge_amount(self, invoices, mode, value):
        """Return the amount to charge for `invoices` under `mode` (`const.CHARGE_MODES`).

        :param float value: The fixed amount (`fixed`) or the percentage (`percent`).
        """
        currency = invoices[:1].currency_id
        balance = invoices._payment_plan_get_open_amount()
        if mode == 'fixed':
            amount = min(value, balance)
        elif mode == 'percent':
            amount = balance * value / 100.0
        else:
            amount = balance
        return currency.round(amount) if currency else amount

    # === BUSINESS METHODS: COLLECTION === #

    @api.model
    def _lock_collectable(self, today, limit, ids=None, after_id=None):
        """Override of `payment.plan.collection.mixin`: the queued lines nobody else holds."""
        id_filter = SQL("AND line.id = ANY(%s)", list(ids)) if ids is not None else SQL()
        self.flush_model(['state'])
        self.env.cr.execute(
            SQL(
                """
                SELECT line.id
                  FROM payment_plan_charge_batch_line line
                 WHERE line.state = 'queued'
                   AND line.id > %(after_id)s
                   %(id_filter)s
              ORDER BY line.id
                 LIMIT %(limit)s
                   %(lock)s
                """,
                limit=limit,
                after_id=after_id or 0,
                id_filter=id_filter,
                lock=SQL("FOR UPDATE OF line SKIP LOCKED") if after_id is None else SQL(),
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    def _claim_attempts_batch(self):
        """Override of `payment.plan.collection.mixin`: mark the invoices as being charged, skip
        what was paid meanwhile, and open one transaction per line.

        The invoices are marked in the database before any card is charged: two runs over the
        same invoice (two wizards, two workers) conflict on that row, and the one that comes
        second starts again from a fresh snapshot, where it sees the invoice paid or being paid.
        """
        to_charge = self.browse()
        for line in self:
            # Only the customer's own invoices, whatever the line was given.
            invoices = line.invoice_ids.filtered(
                lambda inv, line=line: (
                    inv.commercial_partner_id == line.partner_id.commercial_partner_id
                )
            )._payment_plan_filter_payable(
                exclude_lines=line, settle_plans=line.batch_id.settle_plans
            )
            if line.batch_id.charge_mode == 'open':
                amount = self._compute_charge_amount(invoices, 'open', 0)
            else:
                amount = min(line.amount, self._compute_charge_amount(invoices, 'open', 0))
            card = self._get_card(line.partner_id, line.company_id)
            reason = self._get_skip_reason(
                line.partner_id, card, invoices, amount, line.currency_id
            )
            if reason is None:
                line.write(
                    {
                        'invoice_ids': [Command.set(invoices.ids)],
                        'amount': amount,
                        'token_id': card.id,
                    }
                )
                to_charge |= line
                continue
            if line.invoice_ids and not invoices:
                reason = self._get_unpayable_reason(line.invoice_ids)
            line._set_skipped({'message': reason, 'amount': 0.0})  # Nothing charged.
        to_charge._mark_invoices()
        transactions = self.env['payment.transaction'].create(
            [line._prepare_transaction_values(line.attempt_count + 1) for line in to_charge]
        )
        for line, tx in zip(to_charge, transactions, strict=True):
            line._set_processing(
                {'attempt_count': line.attempt_count + 1, 'transaction_id': tx.id, 'message': False}
            )
        return transactions

    def _mark_invoices(self):
        """Write on the invoices which line charges them (or none when `self` is empty).

        Done in SQL, in one query, on purpose: it is the row-level claim that makes concurrent
        runs conflict, and no computed field depends on it.
        """
        pairs = [(line.id, invoice.id) for line in self for invoice in line.invoice_ids]
        if not pairs:
            return
        self.env['account.move'].flush_model(['payment_plan_charge_line_id'])
        self.env.cr.execute(
            SQL(
                """
                UPDATE account_move move
                   SET payment_plan_charge_line_id = claim.line_id
                  FROM (SELECT unnest(%(lines)s::int[]) AS line_id,
                               unnest(%(invoices)s::int[]) AS invoice_id) claim
                 WHERE move.id = claim.invoice_id
                """,
                lines=[line_id for line_id, _inv in pairs],
                invoices=[invoice_id for _line, invoice_id in pairs],
            )
        )
        self.env['account.move'].invalidate_model(['payment_plan_charge_line_id'])

    def _release_invoices(self):
        """Clear the mark of the invoices whose charge by these lines is over."""
        if not self:
            return
        self.env['account.move'].flush_model(['payment_plan_charge_line_id'])
        self.env.cr.execute(
            SQL(
                """
                UPDATE account_move
                   SET payment_plan_charge_line_id = NULL
                 WHERE payment_plan_charge_line_id = ANY(%s)
                """,
                self.ids,
            )
        )
        self.env['account.move'].invalidate_model(['payment_plan_charge_line_id'])

    def _register_claim_failure(self, message):
        """Override of `payment.plan.collection.mixin`: the line fails with `message`."""
        self._set_failed({'message': message})

    def _after_charge(self):
        """Override of `payment.plan.collection.mixin`: report the progress on the batches."""
        self.batch_id._update_progress()

    def _get_charge_values(self):
        """Override of `payment.plan.collection.mixin`: the line's card and invoices."""
        self.ensure_one()
        return self.token_id, self.invoice_ids, {'payment_plan_charge_line_id': self.id}

    @api.model
    def _flag_interrupted_charges(self):
        """Wait for the provider's word on the charges interrupted between their claim and their
        outcome (the server stopped): their transaction may or may not have reached the provider.

        Such a line is never charged again automatically: it becomes pending, its invoice stays
        marked as being paid, and the provider's webhook or Odoo's post-processing settles it;
        staff check the payment with the provider meanwhile.
        """
        threshold = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.INTERRUPTED_AFTER_MINUTES
        )
        interrupted = self.search(
            [
                ('state', '=', 'processing'),
                ('transaction_id.state', '=', 'draft'),
                ('transaction_id.create_date', '<', threshold),
            ]
        )
        interrupted._set_pending(
            {
                'message': self.env._(
                    "The charge was interrupted: its outcome is unknown until the provider "
                    "reports it. Check the payment with the provider before charging again."
                ),
            }
        )
        return interrupted

    def _apply_outcome(self, transactions):
        """Record on the lines the outcome of their current transaction among `transactions`.

        An outcome of an older attempt (a replay, a late webhook) changes nothing.
        """
        finished = self.browse()
        for tx in transactions:
            line = tx.payment_plan_charge_line_id
            if line.transaction_id != tx or line.state not in ('processing', 'pending'):
                continue
            if tx.state == 'done':
                if tx._payment_plan_covers(line.amount, line.currency_id):
                    line._set_done({'message': False})
                else:
                    line._set_failed(
                        {
                            'message': self.env._(
                                "A payment of %(received)s did not cover the %(due)s charged.",
                                received=tx.currency_id.format(tx.amount),
                                due=line.currency_id.format(line.amount),
                            )
                        }
                    )
            elif tx.state in ('pending', 'authorized'):
                line._set_pending()
                continue
            elif tx.state in ('error', 'cancel'):
                line._set_failed(
                    {'message': tx.state_message or self.env._("The payment was refused.")}
                )
            else:
                continue
            finished |= line
        finished._release_invoices()

    # === BUSINESS METHODS: STATE === #

    def _update_state(self, allowed_states, target_state, values=None):
        """Move the lines to `target_state` from one of `allowed_states`, with `values`: the
        one way a line's state changes; a refused transition is logged and changes nothing.

        :return: The lines moved.
        """
        allowed = self.filtered(lambda line: line.state in allowed_states)
        for line in self - allowed:
            if line.state != target_state:
                _logger.warning(
                    "Charge batch line %s: refused to go from %s to %s.",
                    line.name,
                    line.state,
                    target_state,
                )
        if allowed:
            allowed._write_internal({'state': target_state, **(values or {})})
        return allowed

    def _set_queued(self, values=None):
        """Charge the lines (again): only failed ones are charged again."""
        return self._update_state(('failed',), 'queued', values)

    def _set_processing(self, values=None):
        return self._update_state(('queued',), 'processing', values)

    def _set_pending(self, values=None):
        return self._update_state(('processing', 'pending'), 'pending', values)

    def _set_done(self, values=None):
        return self._update_state(('processing', 'pending'), 'done', values)

    def _set_failed(self, values=None):
        return self._update_state(('queued', 'processing', 'pending'), 'failed', values)

    def _set_skipped(self, values=None):
        return self._update_state(('queued',), 'skipped', values)
