import logging
from collections import defaultdict
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tools import SQL, format_date

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import collection, providers

_logger = logging.getLogger(__name__)

# Written by the add-on's own code only (`_write_internal`), never through `write`: an RPC call
# controls its context, so no context key can tell the add-on from a caller.
PROTECTED_FIELDS = {
    'state',
    'authentication_required',
    'invoice_id',
    'attempt_count',
    'fallback_token_id',
    'plan_id',
    'sequence',
    'name',
    'date_paid',
    'date_denied',
    'amount',
}

# Moved by staff while the installment waits (its form), each move told in its chatter; fixed
# once it is charged, paid, denied or cancelled.
PENDING_EDITABLE_FIELDS = {'due_date', 'next_attempt_date'}


class PaymentPlanInstallment(models.Model):
    _name = 'payment.plan.installment'
    _inherit = ['payment.plan.collection.mixin', 'mail.thread', 'mail.activity.mixin']
    _description = "Payment Plan Installment"
    _order = 'due_date, plan_id, sequence'
    _check_company_auto = True
    _rec_names_search = ['name', 'partner_id']

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, index='trigram'
    )
    plan_id = fields.Many2one(
        comodel_name='payment.plan',
        required=True,
        ondelete='cascade',
        index=True,
    )
    sequence = fields.Integer(string="Number", required=True, readonly=True)
    due_date = fields.Date(required=True, index=True, tracking=True)
    amount = fields.Monetary(required=True)
    currency_id = fields.Many2one(related='plan_id.currency_id', store=True)
    partner_id = fields.Many2one(related='plan_id.partner_id', store=True, index=True)
    company_id = fields.Many2one(related='plan_id.company_id', store=True, index=True)
    plan_type = fields.Selection(related='plan_id.plan_type', store=True)
    plan_state = fields.Selection(related='plan_id.state', string="Plan Status")
    collection_mode = fields.Selection(related='plan_id.collection_mode', store=True)
    state = fields.Selection(
        string="Status",
        selection=const.INSTALLMENT_STATES,
        required=True,
        default='pending',
        index=True,
        copy=False,
    )
    attempt_count = fields.Integer(string="Attempts", readonly=True, copy=False)
    next_attempt_date = fields.Date(
        string="Next Attempt",
        copy=False,
        tracking=True,
        help="When a denied charge is tried again; empty for the first attempt (the due date).",
    )
    last_error = fields.Text(readonly=True, copy=False)
    authentication_required = fields.Boolean(
        string="Waiting for the Customer",
        readonly=True,
        copy=False,
        help="The bank asked for the customer's authentication (PSD2/SCA): the card is not charged "
        "again without them. They were sent a link to pay on-session.",
    )
    fallback_token_id = fields.Many2one(
        string="Retry On Card",
        comodel_name='payment.token',
        readonly=True,
        copy=False,
        check_company=True,
        help="The customer's other card on which the refused attempt is tried again.",
    )
    date_paid = fields.Date(string="Paid On", readonly=True, copy=False)
    date_last_online_payment = fields.Datetime(
        string="Last Paid Online",
        readonly=True,
        copy=False,
        help="When the customer last started paying the installment online.",
    )
    date_denied = fields.Date(string="Denied On", readonly=True, copy=False, index='btree_not_null')
    invoice_id = fields.Many2one(
        comodel_name='account.move',
        readonly=True,
        copy=False,
        index='btree_not_null',
        check_company=True,
        help="The invoice this installment pays (a share of it for installment plans).",
    )
    transaction_ids = fields.One2many(
        string="Transactions",
        comodel_name='payment.transaction',
        inverse_name='installment_id',
        readonly=True,
    )
    payment_ids = fields.One2many(
        string="Recorded Payments",
        comodel_name='account.payment',
        inverse_name='payment_plan_installment_id',
        readonly=True,
        help="Payments recorded without a card charge: reported by a gateway or registered by "
        "staff.",
    )
    amount_refunded = fields.Monetary(
        string="Refunded",
        compute='_compute_amount_refunded',
        help="What was refunded to the customer of the installment's card payments.",
    )

    _name_uniq = models.Constraint('unique(name)', "An installment reference must be unique.")
    _plan_sequence_uniq = models.Constraint(
        'unique(plan_id, sequence)',
        "A plan cannot have two installments with the same number.",
    )
    _due_idx = models.Index("(due_date, id) WHERE state = 'pending'")

    @api.model
    def _create_quietly(self, vals_list):
        """Create installments of a schedule: no creation message nor follower each (the plan
        tells the story; an installment's chatter is for what happens to it)."""
        return self.with_context(
            mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True
        )._create_internal(vals_list)

    # === COMPUTE METHODS === #

    @api.depends('transaction_ids.child_transaction_ids.state')
    def _compute_amount_refunded(self):
        for installment in self:
            refunds = installment.sudo().transaction_ids.child_transaction_ids.filtered(
                lambda tx: tx.operation == 'refund' and tx.state == 'done'
            )
            installment.amount_refunded = -sum(refunds.mapped('amount'))

    # === CONSTRAINT METHODS === #

    @api.constrains('amount')
    def _check_amount(self):
        for installment in self:
            if installment.currency_id.compare_amounts(installment.amount, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The amount of installment %(name)s must be positive.",
                        name=installment.name,
                    )
                )

    @api.constrains('invoice_id')
    def _check_invoice(self):
        """An installment is paid on an invoice of its customer, company and currency only."""
        for installment in self.filtered('invoice_id'):
            invoice = installment.invoice_id
            plan = installment.plan_id
            if (
                invoice.commercial_partner_id != plan.partner_id.commercial_partner_id
                or invoice.company_id != plan.company_id
                or invoice.currency_id != plan.currency_id
                or invoice.move_type != 'out_invoice'
            ):
                raise ValidationError(
                    self.env._(
                        "Installment %(name)s can only be paid on an invoice of %(customer)s in "
                        "%(currency)s.",
                        name=installment.name,
                        customer=plan.partner_id.commercial_partner_id.display_name,
                        currency=plan.currency_id.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):  # pylint: disable=method-required-super
        """Installments are created by their plan's schedule only (`_create_internal`): what a
        customer owes, and when, is the plan's to say."""
        raise UserError(
            self.env._(
                "Installments are created by their plan's schedule: activate the plan, or change "
                "it with Change Schedule."
            )
        )

    @api.model
    def _create_internal(self, vals_list):
        """Create the installments of a plan's schedule, pending."""
        for vals in vals_list:
            if vals.get('state', 'pending') != 'pending':
                raise UserError(
                    self.env._("An installment is created pending, by its plan's schedule.")
                )
        # The parent's create, past this model's guard.
        return super().create(vals_list)  # pylint: disable=super-method-mismatch

    def write(self, vals):
        """The state of an installment has one owner, its `_set_*` methods; what it owes and how
        it is charged (its amount, invoice, attempts, card) are the collection service's: none is
        written from outside (`_write_internal`). Staff may move the dates of a pending
        installment only, each move tracked."""
        if PROTECTED_FIELDS.intersection(vals):
            raise UserError(
                self.env._(
                    "The status, amount, invoice and attempts of an installment change through its "
                    "actions (charge, register a payment, cancel) or its plan's Change Schedule, "
                    "not by editing them."
                )
            )
        if PENDING_EDITABLE_FIELDS.intersection(vals):
            fixed = self.filtered(lambda i: i.state != 'pending')
            if fixed:
                raise UserError(
                    self.env._(
                        "Only the dates of a pending installment can be moved (%(installments)s "
                        "are not pending).",
                        installments=", ".join(fixed.mapped('name')),
                    )
                )
        return super().write(vals)

    def _write_internal(self, vals):
        """Write the fields that only the add-on's own code writes (`PROTECTED_FIELDS`), without
        tracking: the add-on's own changes are told by its messages."""
        # The parent's write, past this model's guard.
        return super(  # pylint: disable=super-method-mismatch
            PaymentPlanInstallment, self.with_context(tracking_disable=True)
        ).write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_charged(self):
        if self.filtered(lambda i: i.state != 'pending' or i.transaction_ids):
            raise UserError(
                self.env._(
                    "Installments that were charged, paid or cancelled are kept for the record."
                )
            )

    # === ACTION METHODS === #

    def action_cancel(self):
        """Waive the installments: the customer no longer owes them."""
        if self.filtered(lambda i: i.state not in ('pending', 'denied')):
            raise UserError(self.env._("Only pending or denied installments can be cancelled."))
        self._lock_for_charge()
        self._set_cancelled()
        for plan in self.plan_id:
            plan.message_post(
                body=self.env._(
                    "Installments cancelled: %(names)s",
                    names=", ".join(self.filtered(lambda i, p=plan: i.plan_id == p).mapped('name')),
                )
            )
        self.plan_id._check_done()
        return True

    def action_retry_now(self):
        """Charge the installments now, one more attempt, whatever their retry schedule.

        The installments are locked and made due today here; they are charged once this request
        is committed, in a cursor of their own (`_collect_after_commit`), so that a request
        killed after the provider answered never leads to a second charge.
        """
        self._check_charge_rights()
        retriable = self.filtered(
            lambda i: i.state in ('pending', 'denied') and i.collection_mode == 'token'
        )
        if retriable != self:
            under_way = self.filtered(lambda i: i.state == 'processing')
            if under_way:
                raise UserError(
                    self.env._(
                        "A payment of %(names)s is already under way.",
                        names=under_way._get_names(),
                    )
                )
            raise UserError(
                self.env._(
                    "Only pending or denied installments of plans charged to a card can be retried."
                )
            )
        if retriable.plan_id.filtered(lambda p: p.state != 'active'):
            raise UserError(self.env._("Resume the plan before charging its installments."))
        retriable._lock_for_charge()
        retriable._check_no_payment_under_way()
        today = self._get_collection_today()
        retriable._set_pending({'next_attempt_date': today, 'date_denied': False})
        retriable._collect_after_commit()
        return True

    def action_check_payment_status(self):
        """Ask the provider for the outcome of the installments' payments under way, and apply
        it (an unknown outcome, an interrupted charge, a charge the provider still processes)."""
        self._check_charge_rights()
        self.sudo().transaction_ids.filtered(
            lambda tx: tx.state in ('draft', 'pending')
        )._payment_plan_refresh()
        return True

    def action_confirm_not_charged(self):
        """Record that staff checked with the provider that a charge whose outcome is unknown
        (no answer came back, or it was interrupted) never went through: it is closed as the
        provider's failure, not the card's, and the installment is charged again tomorrow.

        For providers whose API cannot be asked (they report by notification only); a charge
        the provider did take arrives by its notification, or is registered as a payment.
        """
        if not self.env.user.has_group('payment_plan.group_manager'):
            raise AccessError(
                self.env._("Only Payment Plans administrators may close a charge as not charged.")
            )
        threshold = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.INTERRUPTED_AFTER_MINUTES
        )
        unknown_sudo = self.sudo().transaction_ids.filtered(
            lambda tx: (
                (
                    (tx.state == 'pending' and tx.payment_plan_outcome_unknown)
                    or (tx.state == 'draft' and tx.create_date < threshold)
                )
                and tx.operation in ('offline', 'online_token')
            )
        )
        if not unknown_sudo:
            raise UserError(
                self.env._(
                    "No charge of these installments has an unknown outcome: nothing to close."
                )
            )
        message = self.env._(
            "Checked with the provider by %(user)s: not charged.", user=self.env.user.name
        )
        unknown_sudo._set_error(message, extra_allowed_states=('pending',))
        unknown_sudo.write(
            {'payment_plan_decline_kind': providers.PROVIDER, 'payment_plan_outcome_unknown': False}
        )
        unknown_sudo._post_process()
        for installment in unknown_sudo.installment_id:
            installment.plan_id.message_post(
                body=self.env._("%(name)s: %(message)s", name=installment.name, message=message)
            )
        return True

    def action_register_payment(self):
        """Open the wizard that records a payment received for the installment."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Register Payment"),
            'res_model': 'payment.plan.register.payment',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_installment_id': self.id},
        }

    # === BUSINESS METHODS: COLLECTION === #

    @api.model
    def _lock_collectable(self, today, limit, ids=None, after_id=None):
        """Select and lock pending installments due by `today` that no other worker holds.

        `FOR UPDATE SKIP LOCKED` lets any number of crons, workers and servers run at once: each
        takes rows the others do not hold, and a claimed row is no longer pending once committed.

        :param date today: Installments due or to retry on or before this day are selected.
        :param int limit: The maximum number of installments.
        :param list ids: Only among these installments (for "retry now" and "pay now").
        :param int after_id: Select without locking, by id, those after this id (the pages of
                             the jobs a collection is split into).
        :return: The locked installments, in order of due date.
        """
        id_filter = SQL("AND inst.id = ANY(%s)", list(ids)) if ids is not None else SQL()
        if after_id is not None:
            order = SQL("AND inst.id > %s ORDER BY inst.id LIMIT %s", after_id, limit)
        else:
            order = SQL(
                """ORDER BY COALESCE(inst.next_attempt_date, inst.due_date), inst.id
                   LIMIT %s FOR UPDATE OF inst SKIP LOCKED""",
                limit,
            )
        self.flush_model(
            ['state', 'authentication_required', 'next_attempt_date', 'due_date', 'plan_id']
        )
        self.env['payment.plan'].flush_model(['state', 'collection_mode'])
        self.env.cr.execute(
            SQL(
                """
                SELECT inst.id
                  FROM payment_plan_installment inst
                  JOIN payment_plan plan ON plan.id = inst.plan_id
                 WHERE inst.state = 'pending'
                   AND plan.state = 'active'
                   AND plan.collection_mode = 'token'
                   AND inst.authentication_required IS NOT TRUE
                   AND COALESCE(inst.next_attempt_date, inst.due_date) <= %(today)s
                   %(id_filter)s
                   %(order)s
                """,
                today=today,
                id_filter=id_filter,
                order=order,
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    def _register_claim_failure(self, message):
        """Record a failed attempt of the installment that could not be claimed."""
        self._write_internal({'attempt_count': self.attempt_count + 1})
        self._register_failure(message, hard=False)

    def _claim_attempts_batch(self):
        """Override of `payment.plan.collection.mixin`: claim what is still open of each
        installment on its invoice (the ledger), on a card the customer may be charged on.

        An installment whose invoice share was paid by any path (a mass charge, Pay on Behalf,
        the customer paying the invoice, a registered payment, a credit note) is settled without
        a charge; one whose invoice another charge is paying waits until the next day; the
        others get their attempt's transaction, of the open amount at this moment.
        """
        today = self._get_collection_today()
        consented_ids = self.env['payment.plan.consent']._get_consented_token_ids(
            self.fallback_token_id | self.plan_id.token_id
        )
        refusals = {
            installment.id: installment._get_card_refusal(today, consented_ids=consented_ids)
            for installment in self
        }
        no_card = self.filtered(lambda i: refusals[i.id])
        with_card = self - no_card
        # The first payment of an order is invoiced by the order once it is paid.
        with_card.filtered(lambda i: not i._awaits_order_payment())._ensure_invoices()
        # A cancelled invoice is owed by nobody: staff decide what the installment becomes.
        void = with_card.filtered(lambda i: i.invoice_id.state == 'cancel')
        with_card -= void
        busy = with_card._claim_invoices()
        open_amounts = (with_card - busy)._get_open_amounts()
        settled = (with_card - busy)._filter_paid(open_amounts)
        to_charge = with_card - busy - settled
        Transaction = self.env['payment.transaction']
        references = {i.id: i._get_next_reference() for i in to_charge}
        existing = {
            tx.reference: tx
            for tx in Transaction.search([('reference', 'in', list(references.values()))])
        }
        # A reference another payment took (before references were reserved) is not the
        # attempt's: the installment never waits on it, the next attempt number is used.
        squatted = to_charge.filtered(
            lambda i: (
                references[i.id] in existing and existing[references[i.id]].installment_id != i
            )
        )
        for installment in squatted:
            _logger.warning(
                "Installment %s: reference %s is another payment's; the next one is used.",
                installment.name,
                references[installment.id],
            )
            installment._write_internal({'attempt_count': installment.attempt_count + 1})
        to_charge -= squatted
        # An attempt that already has its transaction is looked up, never sent again: its
        # outcome arrives through the provider's webhook or the post-processing.
        values_list = []
        for installment in to_charge:
            if references[installment.id] in existing:
                continue
            values = installment._prepare_transaction_values(
                installment._get_next_attempt(), amount=open_amounts[installment.id]
            )
            values['reference'] = references[installment.id]
            values_list.append(values)
        transactions = Transaction.create(values_list)
        fallbacks = to_charge.filtered('fallback_token_id')
        fallbacks._set_processing({'fallback_token_id': False})
        for attempts, installments in (to_charge - fallbacks).grouped('attempt_count').items():
            installments._set_processing({'attempt_count': attempts + 1})
        for installment in busy:
            installment._set_pending(
                {
                    'next_attempt_date': today + timedelta(days=1),
                    'last_error': self.env._(
                        "Another charge of invoice %(invoice)s is under way: tried again "
                        "tomorrow, for what is still open.",
                        invoice=installment.invoice_id.name,
                    ),
                }
            )
        if settled:
            settled._register_payment(
                note=self.env._("already paid on its invoice by another payment: nothing charged")
            )
        for installment in no_card:
            installment._register_failure(refusals[installment.id], hard=True)
        void._register_failure(
            self.env._("Its invoice was cancelled: nothing is charged."), hard=True
        )
        return transactions

    def _get_card(self):
        """Return the card the next attempt charges: the plan's, or the fallback card of a
        refused attempt."""
        self.ensure_one()
        return self.fallback_token_id or self.plan_id.token_id

    def _get_next_attempt(self):
        """Return the number of the next attempt (a fallback retries the current one)."""
        self.ensure_one()
        return self.attempt_count if self.fallback_token_id else self.attempt_count + 1

    def _get_next_reference(self):
        """Return the transaction reference of the next attempt."""
        self.ensure_one()
        reference = collection.attempt_reference(self.name, max(self._get_next_attempt(), 1))
        return collection.fallback_reference(reference) if self.fallback_token_id else reference

    def _get_card_refusal(self, on_date, consented_ids=None):
        """Return why the card of the next attempt may not be charged, or None.

        :param set consented_ids: The cards a consent covers, read for the batch.
        """
        self.ensure_one()
        plan = self.plan_id
        card = self._get_card()
        if not card:
            return self.env._("The customer has no valid card on file.")
        return card._payment_plan_get_charge_refusal(
            plan.partner_id,
            plan.company_id,
            plan.currency_id,
            on_date=on_date,
            consented_ids=consented_ids,
        )

    def _claim_invoices(self):
        """Claim the rows of the installments' invoices (any other path charging them then
        conflicts with this transaction) and return the installments whose invoice another path
        is charging: a charge batch line, or another installment's or payment's charge."""
        invoices = self.invoice_id
        invoices._payment_plan_claim()
        charging = invoices._payment_plan_get_charges_under_way()
        return self.filtered(
            lambda i: (
                i.invoice_id
                and (
                    i.invoice_id.payment_plan_charge_line_id
                    or charging.get(i.invoice_id.id, set()) - {i.id}
                )
            )
        )

    def _check_no_payment_under_way(self):
        """Refuse a new charge while a payment of the installments is under way: a transaction
        sent and not settled, or a payment the customer started online a moment ago.

        :raise UserError: When one is under way.
        """
        hold_since = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.ONLINE_PAYMENT_HOLD_MINUTES
        )
        # Transactions are the payment administrators' records: only their state is read.
        busy = self.filtered(
            lambda i: i.sudo().transaction_ids.filtered(
                lambda tx: (
                    tx.state in ('pending', 'authorized')
                    or (tx.state == 'draft' and tx.create_date >= hold_since)
                )
            )
        )
        # Invoices are the accountants' records: plan users only learn whether one is charged.
        busy |= self.browse(self.sudo()._claim_invoices().ids)
        if busy:
            raise UserError(
                self.env._("A payment of %(names)s is already under way.", names=busy._get_names())
            )

    def _get_open_amounts(self):
        """Return what is still owed of each of these installments: {installment id: amount}.

        Invoices are the ledger. What is still open on an installment's invoice, whatever paid
        the rest (a charge, a mass charge, the customer on the invoice, a registered payment, a
        credit note), is owed by the installments it backs (a subscription period has an
        invoice of its own; an installment plan shares one): each owes its amount less what was
        paid for it in particular (its charges, the payments registered for it), and the open
        balance is owed by the last of them, installments being paid in their order. No charge
        ever exceeds what is open. An installment without a posted invoice owes its amount
        until it is paid.

        :rtype: dict
        """
        if not self:
            return {}
        result = {}
        invoices = self.invoice_id.filtered(lambda inv: inv.state == 'posted')
        siblings = self.search(
            [('invoice_id', 'in', invoices.ids), ('state', '!=', 'cancelled')],
            order='plan_id, sequence desc, id desc',
        )
        paid_for = siblings._get_amounts_paid_for()
        # What is open on the invoice: money received and not yet recorded counts as paid.
        invoice_open = invoices._payment_plan_get_open_amounts()
        for invoice, backed in siblings.grouped('invoice_id').items():
            residual = invoice_open[invoice.id]
            for installment in backed:  # the last ones first
                unpaid = max(installment.amount - paid_for.get(installment.id, 0.0), 0.0)
                owed = invoice.currency_id.round(min(unpaid, max(residual, 0.0)))
                residual -= owed
                result[installment.id] = owed
        rest = self.filtered(lambda i: i.id not in result)
        paid_for_rest = rest._get_amounts_paid_for()
        for installment in rest:
            if installment.state in ('paid', 'cancelled') or installment.invoice_id in invoices:
                result[installment.id] = 0.0
            else:
                result[installment.id] = installment.currency_id.round(
                    max(installment.amount - paid_for_rest[installment.id], 0.0)
                )
        # Only these installments: a sum over the answer is what they owe, not their siblings.
        return {installment.id: result[installment.id] for installment in self}

    def _filter_paid(self, open_amounts=None):
        """Return the installments nothing is owed of any more (`_get_open_amounts`): the one
        rule of "an installment is paid", whatever paid it (a charge, the customer on the
        invoice, a mass charge, a gateway, a registered payment, a credit note).

        :param dict open_amounts: The open amounts, when the caller already read them.
        """
        if open_amounts is None:
            open_amounts = self._get_open_amounts()
        return self.filtered(lambda i: i.currency_id.compare_amounts(open_amounts[i.id], 0) <= 0)

    def _get_amounts_paid_for(self):
        """Return what was paid for each installment in particular: its done charges (not card
        validations) and the payments registered for it. {installment id: amount}"""
        if not self:
            return {}
        paid = dict.fromkeys(self.ids, 0.0)
        # Transactions and payments are the payment and accounting users' records: only their
        # amounts are read.
        for installment, amount in (
            self.env['payment.transaction']
            .sudo()
            ._read_group(
                [
                    ('installment_id', 'in', self.ids),
                    ('state', '=', 'done'),
                    ('operation', '!=', 'validation'),
                ],
                ['installment_id'],
                ['amount:sum'],
            )
        ):
            paid[installment.id] += amount
        for installment, amount in (
            self.env['account.payment']
            .sudo()
            ._read_group(
                [
                    ('payment_plan_installment_id', 'in', self.ids),
                    ('state', 'not in', ('draft', 'canceled', 'rejected')),
                ],
                ['payment_plan_installment_id'],
                ['amount:sum'],
            )
        ):
            paid[installment.id] += amount
        return paid

    # === BUSINESS METHODS: STATE === #

    def _update_state(self, allowed_states, target_state, values=None):
        """Move the installments to `target_state` from one of `allowed_states`, with `values`.

        The one way the state of an installment changes, as `payment.transaction` does: an
        installment in a state that does not allow the transition is left as it is, and the
        refusal logged.

        :return: The installments moved.
        """
        allowed = self.filtered(lambda i: i.state in allowed_states)
        # Waiting for the customer's authentication ends with any change of state.
        values = {'authentication_required': False, **(values or {})}
        for installment in self - allowed:
            if installment.state != target_state:
                _logger.warning(
                    "Installment %s: refused to go from %s to %s.",
                    installment.name,
                    installment.state,
                    target_state,
                )
        if allowed:
            allowed._write_internal({'state': target_state, **values})
        return allowed

    def _set_processing(self, values=None):
        """A charge of the installments is under way (claimed)."""
        return self._update_state(('pending',), 'processing', values)

    def _set_pending(self, values=None):
        """The installments are due again (a retry, a retry now, a charge that found its invoice
        busy)."""
        return self._update_state(('pending', 'processing', 'denied'), 'pending', values)

    def _set_paid(self, values=None):
        return self._update_state(
            ('pending', 'processing', 'denied'),
            'paid',
            {
                'date_paid': self._get_collection_today(),
                'next_attempt_date': False,
                'last_error': False,
                'date_denied': False,
                **(values or {}),
            },
        )

    def _set_denied(self, values=None):
        return self._update_state(('pending', 'processing'), 'denied', values)

    def _set_cancelled(self, values=None):
        return self._update_state(
            ('pending', 'denied'), 'cancelled', {'next_attempt_date': False, **(values or {})}
        )

    def _get_charge_values(self):
        """Override of `payment.plan.collection.mixin`: the plan's card and the installment's
        invoice; the first payment of an order is also linked to the order."""
        self.ensure_one()
        extra_values = {'installment_id': self.id}
        if self._awaits_order_payment():
            extra_values['sale_order_ids'] = [Command.set(self.plan_id.sale_order_id.ids)]
        return self._get_card(), self.invoice_id, extra_values

    def _awaits_order_payment(self):
        """Return whether the installment is the first payment its plan's order waits for."""
        self.ensure_one()
        order = self.plan_id.sale_order_id
        return (
            bool(order)
            and not order.payment_plan_paid_date
            and order.payment_plan_id == self.plan_id
        )

    def _ensure_invoices(self):
        """Create and post the invoices the installments pay, where they have none yet.

        Subscriptions: one invoice per period. Installment plans: one invoice of the total per
        plan, which each installment pays a share of.
        """
        for installment in self.filtered(lambda i: not i.invoice_id and i._awaits_order_payment()):
            if invoice := installment.plan_id.sale_order_id._payment_plan_invoice():
                installment._write_internal({'invoice_id': invoice.id})
                if installment.plan_type == 'installments':
                    installment.plan_id._write_internal({'invoice_id': invoice.id})
        missing = self.filtered(lambda i: not i.invoice_id)
        per_period = missing.filtered(lambda i: i.plan_type == 'subscription')
        shared = missing - per_period
        plans = shared.plan_id.filtered(lambda p: not p.invoice_id)
        today = self._get_collection_today()
        to_invoice = [
            (inst, inst.plan_id, inst.amount, inst._prepare_invoice_values()) for inst in per_period
        ] + [
            (plan, plan, plan.amount, plan._prepare_invoice_values(plan.amount, today))
            for plan in plans
        ]
        Move = self.env['account.move']
        for company in {item[0].company_id for item in to_invoice}:
            company_items = [item for item in to_invoice if item[0].company_id == company]
            # The invoice says where it comes from (its origin): no "created" log is needed.
            moves = (
                Move.with_company(company)
                .with_context(mail_create_nolog=True)
                .create([item[3] for item in company_items])
            )
            for (_record, plan, amount, _vals), move in zip(company_items, moves, strict=True):
                plan._round_invoice(move, amount)
            moves.action_post()
            for (record, _plan, _amount, _vals), move in zip(company_items, moves, strict=True):
                record._write_internal({'invoice_id': move.id})
                record._align_with_invoice(move)
        for installment in shared:
            installment._write_internal({'invoice_id': installment.plan_id.invoice_id.id})
        # Every installment of a plan backs the plan's one invoice: the ledger reads them all.
        for plan in self.plan_id.filtered(lambda p: p.plan_type == 'installments' and p.invoice_id):
            plan.installment_ids.filtered(
                lambda i: not i.invoice_id and i.state != 'cancelled'
            )._write_internal({'invoice_id': plan.invoice_id.id})

    def _align_with_invoice(self, invoice):
        """Make the schedule owe what `invoice` of this period says (a taxed line's tax changed
        since the plan was made): the installment pays its invoice, to the cent."""
        self.ensure_one()
        self.plan_id._align_with_invoice(invoice, self)

    def _prepare_invoice_values(self):
        """Return the values of the invoice of one subscription period."""
        self.ensure_one()
        return self.plan_id._prepare_invoice_values(
            self.amount, self._get_collection_today(), period=self
        )

    def _schedule_fallback_card(self, refused_tx):
        """Retry a refused attempt once on the customer's other card, if the plan allows.

        The retry is not charged here (this runs while an outcome is applied): the installment
        is due again at once with the other card, and the collection service claims, commits
        and charges it like any attempt, under the attempt's fallback reference.

        :param payment.transaction refused_tx: The refused transaction of the current attempt.
        :return: Whether a retry on another card was scheduled (its outcome decides the attempt).
        :rtype: bool
        """
        self.ensure_one()
        plan = self.plan_id
        kind = refused_tx.payment_plan_decline_kind or providers.classify_message(
            refused_tx.state_message
        )
        if not plan.allow_card_fallback or kind != providers.SOFT:
            return False
        other_card = plan.partner_id._payment_plan_get_chargeable_card(
            plan.company_id, plan.currency_id, exclude=refused_tx.token_id
        )
        if not other_card:
            return False
        self._set_pending(
            {
                'fallback_token_id': other_card.id,
                'next_attempt_date': self._get_collection_today(),
                'last_error': refused_tx.state_message,
            }
        )
        plan.message_post(
            body=self.env._(
                "%(card)s was refused for %(name)s: trying %(other)s.",
                card=refused_tx.token_id.display_name,
                name=self.name,
                other=other_card.display_name,
            )
        )
        return True

    def _register_short_payment(self, tx, open_amount):
        """Record a done payment that does not cover what is due: the rest stays owed.

        :param payment.transaction tx: The payment received.
        :param float open_amount: What is still open of the installment.
        """
        self.ensure_one()
        message = self.env._(
            "A payment of %(received)s did not cover %(name)s: %(open)s is still owed.",
            received=tx.currency_id.format(tx.amount),
            name=self.name,
            open=self.currency_id.format(open_amount),
        )
        self.plan_id.message_post(body=message)
        if self.state == 'processing':
            tomorrow = self._get_collection_today() + timedelta(days=1)
            self._set_pending({'next_attempt_date': tomorrow, 'last_error': message})
        else:
            self.last_error = message

    def _register_failure(self, message, hard=None, kind=None):
        """Record a failed attempt: retry it later per the plan's policy, deny the installment,
        or, when the bank asked for the customer's authentication, wait for them.

        :param str message: The provider's message, shown to staff and kept on the installment.
        :param bool hard: Whether the decline must not be retried.
        :param str kind: The decline's kind (`const.DECLINE_KINDS`); guessed from the message
                         when neither it nor `hard` is given.
        """
        if not kind:
            kind = providers.classify_message(message) if hard is None else None
        if hard is not None:
            kind = providers.HARD if hard else providers.SOFT
        if kind == providers.AUTHENTICATION:
            waiting = self.filtered(lambda i: i.state in ('pending', 'processing'))
            waiting._set_pending(
                {'authentication_required': True, 'next_attempt_date': False, 'last_error': message}
            )
            waiting._notify_authentication_required()
            return
        if kind == providers.PROVIDER:
            # The provider refused the request, not the card: tried again tomorrow, never denied
            # nor dunned for it (staff see why).
            tomorrow = self._get_collection_today() + timedelta(days=1)
            self._set_pending({'next_attempt_date': tomorrow, 'last_error': message})
            return
        today = self._get_collection_today()
        for installment in self:
            plan = installment.plan_id
            retry_on = collection.next_attempt_date(
                today,
                installment.attempt_count,
                plan.max_attempts,
                plan.retry_interval_days,
                hard=kind == providers.HARD,
            )
            if retry_on:
                installment._set_pending({'next_attempt_date': retry_on, 'last_error': message})
            elif installment._set_denied(
                {'next_attempt_date': False, 'last_error': message, 'date_denied': today}
            ):
                installment._notify_denied()

    def _register_payment(self, note=None):
        """Mark the installments paid and close the plans that have nothing left to collect.

        Callers pay an installment only on a done, non-validation transaction covering what is
        due, or a payment on its invoice (`_get_open_amounts`).

        :param str note: Why, posted on the plans when given (e.g. paid by another path).
        """
        paid = self._set_paid()
        if note:
            for plan, installments in paid.grouped('plan_id').items():
                values = {'names': installments._get_names(), 'note': note}
                plan.message_post(
                    body=self.env._("Installment %(names)s paid: %(note)s.", **values)
                    if len(installments) == 1
                    else self.env._("Installments %(names)s paid: %(note)s.", **values)
                )
        paid.plan_id._check_done()
        paid.plan_id.sale_order_id.filtered(
            lambda o: o.payment_plan_id in paid.plan_id
        )._payment_plan_close()
        paid._send_paid_invoices()
        return paid

    def _send_paid_invoices(self):
        """Send the customers the invoices these installments paid, with their PDF, where their
        plan says so (`payment.plan.invoice_mail`, by default the company's setting): Odoo's own
        sending of invoices, in the background (`account.ir_cron_account_move_send`)."""
        mailed = self.filtered(lambda i: i.plan_id.invoice_mail)
        if not mailed:
            return
        # An installment plan's invoice is mailed again at each later payment, with what is left
        # to pay; an invoice is mailed once for its first payment, also when Odoo's Automatic
        # Invoice already sent it, and never queued twice.
        paid_before = self.search(
            [
                ('invoice_id', 'in', mailed.invoice_id.ids),
                ('state', '=', 'paid'),
                ('id', 'not in', self.ids),
            ]
        ).invoice_id
        to_send = mailed.invoice_id.filtered(
            lambda inv: (
                inv.state == 'posted'
                and not inv.sending_data
                and (not inv.is_move_sent or inv in paid_before)
            )
        )
        if not to_send:
            return
        # Invoices are the accountants' records: the payment is what sends them, whoever paid.
        # A customer's payment sends them as OdooBot, as Odoo's own paid orders do: never from
        # the public user, nor from the customer to themselves.
        author = self.env.user
        if not author._is_internal():
            author = self.env['res.users'].browse(SUPERUSER_ID)
        to_send.sudo().sending_data = {
            'author_user_id': author.id,
            'author_partner_id': author.sudo().partner_id.id,
        }
        self.env.ref('account.ir_cron_account_move_send').sudo()._trigger()

    def _register_external_payment(self, amount, date, journal, memo=None):
        """Record a payment received without a card charge (reported by a gateway, registered by
        staff), reconcile it with the installment's invoice and mark the installment paid.

        :param float amount: The amount received.
        :param date date: The payment date.
        :param account.journal journal: The bank or cash journal of the payment.
        :param str memo: The payment's memo (default: the installment's reference).
        :return: The posted payment.
        :rtype: account.payment
        """
        self.ensure_one()
        if not journal:
            raise UserError(self.env._("Choose the journal of the payment."))
        self._ensure_invoices()
        invoice = self.invoice_id.filtered(lambda inv: inv.state == 'posted')
        term_lines = invoice.line_ids.filtered(lambda line: line.display_type == 'payment_term')
        payment = (
            self.env['account.payment']
            .with_company(self.company_id)
            ._payment_plan_create_reconciled(
                [
                    {
                        'amount': amount,
                        'payment_type': 'inbound',
                        'partner_type': 'customer',
                        'partner_id': self.partner_id.commercial_partner_id.id,
                        'currency_id': self.currency_id.id,
                        'journal_id': journal.id,
                        'company_id': self.company_id.id,
                        'date': date,
                        'memo': memo or self.name,
                        'payment_method_line_id': journal.inbound_payment_method_line_ids[:1].id,
                        'invoice_ids': [Command.set(invoice.ids)],
                        'payment_plan_installment_id': self.id,
                        **(
                            {'destination_account_id': term_lines[0].account_id.id}
                            if term_lines
                            else {}
                        ),
                    }
                ],
                [invoice],
            )
        )
        # Only a payment covering what was open pays the installment (the ledger); a smaller
        # one stays on the invoice and the installment owes the rest.
        open_amount = self._get_open_amounts()[self.id]
        if self._filter_paid({self.id: open_amount}):
            self._register_payment()
        else:
            self.plan_id.message_post(
                body=self.env._(
                    "A payment of %(received)s was recorded for %(name)s: %(open)s is still owed.",
                    received=self.currency_id.format(amount),
                    name=self.name,
                    open=self.currency_id.format(open_amount),
                )
            )
        return payment

    def _notify_denied(self):
        """Tell the plan's responsible (an activity) and the customer (a mail with a link to
        update the card and pay) that the installment is denied."""
        template = self.env.ref('payment_plan.mail_template_installment_denied')
        for installment in self:
            plan = installment.plan_id
            plan.activity_schedule(
                'mail.mail_activity_data_todo',
                user_id=(plan.user_id or self.env.user).id,
                summary=self.env._("Payment denied: %(name)s", name=installment.name),
                note=installment.last_error,
            )
            values = {
                'name': installment.name,
                'count': installment.attempt_count,
                'error': installment.last_error or "",
            }
            plan.message_post(
                body=self.env._(
                    "Installment %(name)s was denied after 1 attempt: %(error)s", **values
                )
                if installment.attempt_count == 1
                else self.env._(
                    "Installment %(name)s was denied after %(count)s attempts: %(error)s", **values
                ),
            )
            installment.partner_id._payment_plan_notify(installment, mail_template=template)

    def _notify_authentication_required(self):
        """Ask the customers to pay on-session the installments their bank refused to charge
        without them (PSD2/SCA), by email and, where the company texts its customers, by SMS."""
        template = self.env.ref('payment_plan.mail_template_installment_authentication')
        for installment in self:
            plan = installment.plan_id
            plan.message_post(
                body=self.env._(
                    "The bank asks %(customer)s to authenticate the payment of %(name)s: it is not "
                    "charged again without them, and they were sent a link to pay it.",
                    customer=installment.partner_id.display_name,
                    name=installment.name,
                )
            )
            installment.partner_id._payment_plan_notify(
                installment,
                mail_template=template,
                sms_template=self.env.ref('payment_plan.sms_template_installment_authentication'),
            )

    def _get_payment_url(self, redacted=False):
        """Return the customer's link to update their card and pay this installment: signed and
        valid for `const.PAY_LINK_VALIDITY_DAYS` days, it opens without a login."""
        self.ensure_one()
        return self.plan_id._get_pay_url(redacted=redacted)

    @api.model
    def _flag_interrupted_charges(self):
        """Override of the collection service: flag the attempts interrupted between their claim
        and their outcome.

        Their transaction may or may not have reached the provider: it is looked up (its outcome
        arrives by webhook or post-processing), never sent again.
        """
        threshold = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.INTERRUPTED_AFTER_MINUTES
        )
        stale = self.search(
            [
                ('state', '=', 'processing'),
                (
                    'transaction_ids',
                    'any',
                    [('state', '=', 'draft'), ('create_date', '<', threshold)],
                ),
                ('last_error', '=', False),
            ]
        )
        stale.write(
            {
                'last_error': self.env._(
                    "The charge was interrupted: its outcome is unknown until the provider reports "
                    "it. Check the payment with the provider before charging again."
                ),
            }
        )
        return stale

    # === BUSINESS METHODS: OUTCOME === #

    def _apply_outcome(self, transactions):
        """Pay, retry or deny the installments according to the state of their `transactions`
        (the installment owns its charge's outcome, as a charge batch line does).

        A done payment pays its installment when nothing is left open of it afterwards
        (`_filter_paid`, the ledger). A validation never pays; money that came in late still
        pays. A failure only counts when it is the outcome of the
        installment's current attempt, so replayed or out-of-order outcomes change nothing.
        """
        confirmed = transactions.filtered(
            lambda tx: (
                tx.state == 'done'
                and tx.operation != 'validation'
                and tx.installment_id.state not in ('paid', 'cancelled')
            )
        )
        open_amounts = confirmed.installment_id._get_open_amounts()
        paid = confirmed.installment_id._filter_paid(open_amounts)
        for tx in confirmed.filtered(lambda t: t.installment_id not in paid):
            tx.installment_id._register_short_payment(tx, open_amounts[tx.installment_id.id])
        paid._register_payment()
        story = defaultdict(list)  # {plan: [lines]}: every charge is told on its plan.
        for tx in confirmed.filtered(lambda t: t.installment_id in paid):
            story[tx.installment_id.plan_id].append(
                self.env._(
                    "%(name)s paid: %(amount)s charged on %(card)s (%(reference)s).",
                    name=tx.installment_id.name,
                    amount=tx.currency_id.format(tx.amount),
                    card=tx.token_id.display_name or tx.payment_method_id.name,
                    reference=tx.reference,
                )
            )
        for tx in transactions - confirmed:
            installment = tx.installment_id
            if installment.state in ('paid', 'cancelled') or tx.state == 'done':
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
            story[installment.plan_id].append(
                self.env._(
                    "%(name)s declined (%(reference)s, %(kind)s): %(reason)s",
                    name=installment.name,
                    reference=tx.reference,
                    kind=dict(const.DECLINE_KINDS).get(
                        tx.payment_plan_decline_kind, self.env._("Declined")
                    ),
                    reason=message,
                )
            )
            if tx.reference == current_reference and installment._schedule_fallback_card(tx):
                continue
            installment._register_failure(message, kind=tx.payment_plan_decline_kind)
            if installment.state == 'pending' and installment.next_attempt_date:
                story[installment.plan_id].append(
                    self.env._(
                        "Next attempt of %(name)s on %(date)s.",
                        name=installment.name,
                        date=format_date(self.env, installment.next_attempt_date),
                    )
                )
        self.env['payment.plan']._log_story(story)
