import logging

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import SQL

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import collection

_logger = logging.getLogger(__name__)


class PaymentPlanInstallment(models.Model):
    _name = 'payment.plan.installment'
    _inherit = ['payment.plan.collection.mixin']
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
    due_date = fields.Date(required=True, index=True)
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
        help="When a denied charge is tried again; empty for the first attempt (the due date).",
    )
    last_error = fields.Text(readonly=True, copy=False)
    date_paid = fields.Date(string="Paid On", readonly=True, copy=False)
    date_denied = fields.Date(string="Denied On", readonly=True, copy=False, index='btree_not_null')
    invoice_id = fields.Many2one(
        comodel_name='account.move',
        readonly=True,
        copy=False,
        index='btree_not_null',
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

    _name_uniq = models.Constraint('unique(name)', "An installment reference must be unique.")
    _plan_sequence_uniq = models.Constraint(
        'unique(plan_id, sequence)',
        "A plan cannot have two installments with the same number.",
    )
    _due_idx = models.Index("(due_date, id) WHERE state = 'pending'")

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

    # === CRUD METHODS === #

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
        self.write({'state': 'cancelled'})
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
        """Charge the installments now, one more attempt, whatever their retry schedule."""
        retriable = self.filtered(
            lambda i: i.state in ('pending', 'denied') and i.collection_mode == 'token'
        )
        if retriable != self:
            raise UserError(
                self.env._(
                    "Only pending or denied installments of plans charged to a card can be retried."
                )
            )
        if retriable.plan_id.filtered(lambda p: p.state != 'active'):
            raise UserError(self.env._("Resume the plan before charging its installments."))
        today = fields.Date.context_today(self)
        retriable.write({'state': 'pending', 'next_attempt_date': today, 'date_denied': False})
        # Charging creates transactions and payments, which only the payment and accounting
        # administrators may write: the staff member's right here is the one checked just above.
        retriable.sudo()._collect()
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
    def _lock_collectable(self, today, limit, ids=None):
        """Select and lock pending installments due by `today` that no other worker holds.

        `FOR UPDATE SKIP LOCKED` lets any number of crons, workers and servers run at once: each
        takes rows the others do not hold, and a claimed row is no longer pending once committed.

        :param date today: Installments due or to retry on or before this day are selected.
        :param int limit: The maximum number of installments.
        :param list ids: Only among these installments (for "retry now" and "pay now").
        :return: The locked installments, in order of due date.
        """
        id_filter = SQL("AND inst.id = ANY(%s)", list(ids)) if ids is not None else SQL()
        self.flush_model(['state', 'next_attempt_date', 'due_date', 'plan_id'])
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
                   AND COALESCE(inst.next_attempt_date, inst.due_date) <= %(today)s
                   %(id_filter)s
              ORDER BY COALESCE(inst.next_attempt_date, inst.due_date), inst.id
                 LIMIT %(limit)s
                   FOR UPDATE OF inst SKIP LOCKED
                """,
                today=today,
                limit=limit,
                id_filter=id_filter,
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())

    def _register_claim_failure(self, message):
        """Record a failed attempt of the installment that could not be claimed."""
        self.attempt_count += 1
        self._register_failure(message, hard=False)

    def _claim_attempts_batch(self):
        no_card = self.filtered(lambda i: not i.plan_id.token_id or not i.plan_id.token_id.active)
        with_card = self - no_card
        # The first payment of an order is invoiced by the order once it is paid.
        with_card.filtered(lambda i: not i._awaits_order_payment())._ensure_invoices()
        Transaction = self.env['payment.transaction']
        references = {
            i.id: collection.attempt_reference(i.name, i.attempt_count + 1) for i in with_card
        }
        existing_refs = set(
            Transaction.search([('reference', 'in', list(references.values()))]).mapped('reference')
        )
        # An attempt that already has its transaction is looked up, never sent again: its
        # outcome arrives through the provider's webhook or the post-processing.
        transactions = Transaction.create(
            [
                installment._prepare_transaction_values(installment.attempt_count + 1)
                for installment in with_card
                if references[installment.id] not in existing_refs
            ]
        )
        for attempts, installments in self.grouped('attempt_count').items():
            installments.write({'state': 'processing', 'attempt_count': attempts + 1})
        no_card._register_failure(self.env._("The customer has no valid card on file."), hard=True)
        return transactions

    def _get_charge_values(self):
        """Override of `payment.plan.collection.mixin`: the plan's card and the installment's
        invoice; the first payment of an order is also linked to the order."""
        self.ensure_one()
        extra_values = {'installment_id': self.id}
        if self._awaits_order_payment():
            extra_values['sale_order_ids'] = [Command.set(self.plan_id.sale_order_id.ids)]
        return self.plan_id.token_id, self.invoice_id, extra_values

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
                installment.invoice_id = invoice
                if installment.plan_type == 'installments':
                    installment.plan_id.invoice_id = invoice
        missing = self.filtered(lambda i: not i.invoice_id)
        per_period = missing.filtered(lambda i: i.plan_type == 'subscription')
        shared = missing - per_period
        plans = shared.plan_id.filtered(lambda p: not p.invoice_id)
        today = fields.Date.context_today(self)
        to_invoice = [(inst, inst._prepare_invoice_values()) for inst in per_period] + [
            (plan, plan._prepare_invoice_values(plan.amount, today)) for plan in plans
        ]
        Move = self.env['account.move']
        for company in {record.company_id for record, _vals in to_invoice}:
            company_items = [item for item in to_invoice if item[0].company_id == company]
            # The invoice says where it comes from (its origin): no "created" log is needed.
            moves = (
                Move.with_company(company)
                .with_context(mail_create_nolog=True)
                .create([vals for _record, vals in company_items])
            )
            moves.action_post()
            for (record, _vals), move in zip(company_items, moves, strict=True):
                record.invoice_id = move
        for installment in shared:
            installment.invoice_id = installment.plan_id.invoice_id

    def _prepare_invoice_values(self):
        """Return the values of the invoice of one subscription period."""
        self.ensure_one()
        return self.plan_id._prepare_invoice_values(
            self.amount, fields.Date.context_today(self), period=self
        )

    def _charge_fallback_card(self, refused_tx):
        """Retry a refused attempt once on the customer's other valid card, if the plan allows.

        :param payment.transaction refused_tx: The refused transaction of the current attempt.
        :return: Whether a fallback charge was made (its outcome then decides the attempt).
        :rtype: bool
        """
        self.ensure_one()
        plan = self.plan_id
        if not plan.allow_card_fallback or collection.is_hard_decline(refused_tx.state_message):
            return False
        today = fields.Date.context_today(self)
        other_card = self.env['payment.token'].search(
            [
                ('partner_id', 'in', plan._get_card_holders().ids),
                ('company_id', '=', plan.company_id.id),
                ('id', '!=', refused_tx.token_id.id),
                '|',
                ('expiry_date', '=', False),
                ('expiry_date', '>=', today),
            ],
            order='is_default desc, create_date desc, id desc',
            limit=1,
        )
        if not other_card:
            return False
        values = self._prepare_transaction_values(self.attempt_count)
        values.update(
            {
                'provider_id': other_card.provider_id.id,
                'payment_method_id': other_card.payment_method_id.id,
                'token_id': other_card.id,
                'reference': collection.fallback_reference(refused_tx.reference),
            }
        )
        fallback_tx = self.env['payment.transaction'].create(values)
        plan.message_post(
            body=self.env._(
                "%(card)s was refused for %(name)s: trying %(other)s.",
                card=refused_tx.token_id.display_name,
                name=self.name,
                other=other_card.display_name,
            )
        )
        fallback_tx._payment_plan_charge()
        return True

    def _register_failure(self, message, hard=None):
        """Record a failed attempt: retry it later per the plan's policy, or deny the installment.

        :param str message: The provider's message, shown to staff and kept on the installment.
        :param bool hard: Whether the decline must not be retried; guessed from the message when
                          not given.
        """
        today = fields.Date.context_today(self)
        for installment in self:
            plan = installment.plan_id
            is_hard = collection.is_hard_decline(message) if hard is None else hard
            retry_on = collection.next_attempt_date(
                today,
                installment.attempt_count,
                plan.max_attempts,
                plan.retry_interval_days,
                hard=is_hard,
            )
            if retry_on:
                installment.write(
                    {
                        'state': 'pending',
                        'next_attempt_date': retry_on,
                        'last_error': message,
                    }
                )
            else:
                installment.write(
                    {
                        'state': 'denied',
                        'next_attempt_date': False,
                        'last_error': message,
                        'date_denied': today,
                    }
                )
                installment._notify_denied()

    def _register_payment(self):
        """Mark the installments paid and close the plans that have nothing left to collect."""
        self.write(
            {
                'state': 'paid',
                'date_paid': fields.Date.context_today(self),
                'next_attempt_date': False,
                'last_error': False,
                'date_denied': False,
            }
        )
        self.plan_id._check_done()
        self.plan_id.sale_order_id.filtered(
            lambda o: o.payment_plan_id in self.plan_id
        )._payment_plan_close()

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
            .create(
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
            )
        )
        payment.action_post()
        lines = (payment.move_id.line_ids + invoice.line_ids).filtered(
            lambda line: line.account_id == payment.destination_account_id and not line.reconciled
        )
        if invoice and lines:
            lines.reconcile()
        self._register_payment()
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
            plan.message_post(
                body=self.env._(
                    "Installment %(name)s was denied after %(count)s attempt(s): %(error)s",
                    name=installment.name,
                    count=installment.attempt_count,
                    error=installment.last_error or "",
                ),
            )
            template.send_mail(installment.id)

    def _get_payment_url(self):
        """Return the customer's link to update their card and pay this installment."""
        self.ensure_one()
        return self.plan_id.get_base_url() + self.plan_id.get_portal_url()

    @api.model
    def _cron_collect_due(self):
        """Charge every due installment of the running plans charged to a card, then the queued
        lines of charge batches."""
        self._flag_interrupted_attempts()
        self._collect(commit=True)
        # The lines of mass charges too large to run at once (charge batches).
        self.env['payment.plan.charge.batch.line']._collect(commit=True)
        self.env['payment.plan.charge.batch']._update_unfinished()

    @api.model
    def _flag_interrupted_attempts(self):
        """Flag the attempts interrupted between their claim and their outcome.

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
