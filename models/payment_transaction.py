import logging

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import collection

_logger = logging.getLogger(__name__)


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    installment_id = fields.Many2one(
        comodel_name='payment.plan.installment',
        index='btree_not_null',
        ondelete='restrict',
        readonly=True,
    )
    payment_plan_charge_line_id = fields.Many2one(
        string="Charge Batch Line",
        comodel_name='payment.plan.charge.batch.line',
        index='btree_not_null',
        ondelete='restrict',
        readonly=True,
    )
    payment_plan_card_request_id = fields.Many2one(
        string="Card Registration Link",
        comodel_name='payment.plan.card.request',
        index='btree_not_null',
        readonly=True,
    )
    payment_plan_id = fields.Many2one(
        string="Payment Plan", related='installment_id.plan_id', store=True, index='btree_not_null'
    )
    payment_plan_outcome_unknown = fields.Boolean(
        string="Outcome Unknown",
        readonly=True,
        copy=False,
        help="The charge may have reached the provider but no answer came back (a timeout, a "
        "connection error, a provider error): it is looked up, never sent again.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains('token_id')
    def _check_token_is_active(self):
        """Override of `payment` to check each transaction on its own.

        The original reads `self.token_id.active`, which fails ("Expected singleton") when
        transactions of several cards are created at once, as a collection batch does.
        """
        for tx in self:
            super(PaymentTransaction, tx)._check_token_is_active()

    # === BUSINESS METHODS === #

    def _payment_plan_charge(self, commit=False):
        """Charge the cards of claimed attempts (installments, charge batch lines) and apply the
        outcomes: the charging half of the collection service.

        An exception while charging rolls back that charge only: it is recorded on its
        transaction as an error, which its installment or line then records. The outcomes are
        committed (when `commit` is set) before any payment is recorded, and the payments of the
        batch are created at once; should that fail, one by one. An exception after a confirmed
        charge never turns it into a failure: the transaction stays confirmed and Odoo's
        post-processing finishes it later.

        :param bool commit: Commit once the cards are charged (crons only).
        """
        # The chatter messages of the charges are logged on the invoices at the end, at once.
        log_buffer = []
        transactions = self.with_context(payment_plan_log_buffer=log_buffer)
        for tx in transactions:
            try:
                with self.env.cr.savepoint():
                    tx._charge_with_token()
            except Exception as error:  # the charge may have left: its outcome is unknown.
                _logger.exception("Charging %s failed: its outcome is unknown.", tx.reference)
                tx._payment_plan_set_outcome_unknown(str(error))
        if commit:
            self.env['ir.cron']._commit_progress()
        logged = len(log_buffer)
        try:
            with self.env.cr.savepoint():
                transactions._post_process()
        except Exception:  # retried one by one below.
            _logger.info("Recording %s outcomes at once failed: one by one.", len(transactions))
            del log_buffer[logged:]  # The messages of what was rolled back.
            for tx in transactions:
                logged = len(log_buffer)
                try:
                    with self.env.cr.savepoint():
                        tx._post_process()
                except Exception:  # the post-processing cron retries it.
                    del log_buffer[logged:]
                    _logger.exception(
                        "Recording the outcome of %s failed: the post-processing will retry.",
                        tx.reference,
                    )
        self._log_buffered_messages(log_buffer)

    def _charge_with_token(self):
        """Override of `payment` to keep the outcome of a collection charge unknown, not
        refused, when the provider's answer never came back.

        Odoo records any error of the request as a refusal. For a merchant-initiated charge that
        would be retried under a new reference or sent to another card: a timeout, a connection
        error or a provider error (5xx) after the request left leaves the transaction pending
        and flagged, to be looked up; only a refusal the provider answered (4xx) is one.
        """
        if not self._is_payment_plan_charge():
            return super()._charge_with_token()
        self.ensure_one()
        self._ensure_provider_is_not_disabled()
        self._log_sent_message()
        answers = []
        try:
            self.with_context(payment_plan_http_answers=answers)._send_payment_request()
        except ValidationError as error:
            if answers and all(400 <= status < 500 for status in answers):
                self._set_error(str(error))
            else:
                self._payment_plan_set_outcome_unknown(str(error))

    def _payment_plan_set_outcome_unknown(self, message):
        """Leave the charge pending with its outcome unknown: looked up, never sent again."""
        self.ensure_one()
        self.payment_plan_outcome_unknown = True
        review = self.env._(
            "The provider's answer did not come back (%(error)s): the outcome is unknown until it "
            "is looked up. Check the payment with the provider before charging again.",
            error=message,
        )
        self._set_pending(state_message=review, extra_allowed_states=('pending',))
        # Flagged for review where staff look: the installment or the batch line it charges.
        self.installment_id.last_error = review
        self.payment_plan_charge_line_id.message = review

    def _payment_plan_covers(self, amount, currency):
        """Return whether the transaction pays `amount` in `currency`: the one rule of "paid".

        Only a done payment (not a zero-amount card validation) in the same currency, of at least
        the amount due, pays an installment, a charge batch line or an order's first payment.
        """
        self.ensure_one()
        return (
            self.state == 'done'
            and self.operation != 'validation'
            and self.currency_id == currency
            and currency.compare_amounts(self.amount, amount) >= 0
        )

    def _tokenize(self, payment_data):
        """Override of `payment` to record the customer's consent to charge the card they
        saved at checkout or in their portal (a card registration link records its own)."""
        super()._tokenize(payment_data)
        if self.token_id and not self.payment_plan_card_request_id:
            self.env['payment.plan.consent']._record(
                self.partner_id,
                'portal' if self.operation == 'validation' else 'checkout',
                token=self.token_id,
                user_id=False,
            )

    def _post_process(self):
        """Override of `account_payment` to settle the installments the transactions pay.

        Runs whichever way the outcome arrives: the charge itself, the provider's webhook, the
        customer returning from the payment page, or the post-processing cron.
        """
        self._prepare_order_first_payments()
        self._create_collection_payments()
        super()._post_process()
        self.filtered('installment_id')._apply_outcome_to_installments()
        for tx in self.filtered(
            lambda t: (
                t.payment_plan_card_request_id
                and t.state in ('done', 'authorized')
                and t.token_id
                and t.payment_plan_card_request_id.state == 'sent'
            )
        ):
            tx.payment_plan_card_request_id._register_card(tx.token_id)
        charged_by_batch = self.filtered('payment_plan_charge_line_id')
        charged_by_batch.payment_plan_charge_line_id._apply_outcome(charged_by_batch)
        # Invoices are the ledger: a payment of any path settles the installments it covers.
        self.filtered(
            lambda tx: tx.state == 'done' and tx.operation != 'validation'
        ).invoice_ids._payment_plan_settle_installments()

    def _prepare_order_first_payments(self):
        """Link the confirmed first payments of orders paid by plan to their installment and
        to the order's invoice, so that the payment is reconciled with it.

        The payment may come from the customer's payment link (which saves the card that the
        plan then charges) or from the card on file charged at confirmation. Only a payment that
        covers the first installment counts (`_payment_plan_covers`): a smaller one, another
        currency or a card validation leaves the order waiting, with the reason shown.
        """
        for tx in self.filtered(
            lambda t: (
                t.state == 'done' and t.operation != 'validation' and len(t.sale_order_ids) == 1
            )
        ):
            order = tx.sale_order_ids
            plan = order.payment_plan_id
            if (
                not plan
                or order.payment_plan_paid_date
                or plan.state not in const.RUNNING_PLAN_STATES
                or (tx.installment_id and tx.installment_id.plan_id != plan)
            ):
                continue
            open_installments = plan.installment_ids.filtered(
                lambda i: i.state in const.OPEN_INSTALLMENT_STATES
            ).sorted('sequence')
            due = (
                tx.installment_id._get_open_amounts()[tx.installment_id.id]
                if tx.installment_id
                else order._get_payment_plan_first_amount()
            )
            if not tx._payment_plan_covers(due, plan.currency_id):
                order.message_post(
                    body=self.env._(
                        "A payment of %(received)s does not cover the first installment "
                        "(%(due)s): the order waits for its first payment.",
                        received=tx.currency_id.format(tx.amount),
                        due=plan.currency_id.format(due),
                    )
                )
                continue
            if plan.state == 'draft':
                if tx.token_id and plan.collection_mode == 'token':
                    plan.token_id = tx.token_id
                plan._start()
                open_installments = plan.installment_ids.sorted('sequence')
            installment = tx.installment_id or open_installments[:1]
            if not installment:
                continue
            if not tx.installment_id:
                tx.installment_id = installment
                if installment.state == 'pending':
                    installment._set_processing({'attempt_count': installment.attempt_count + 1})
            installment._ensure_invoices()
            if not tx.invoice_ids and installment.invoice_id:
                tx.invoice_ids = installment.invoice_id

    def _is_payment_plan_charge(self):
        """Return whether the transaction is a charge of the collection service (an installment's
        or a charge batch line's)."""
        self.ensure_one()
        return bool(self.installment_id or self.payment_plan_charge_line_id)

    def _payment_plan_fetch_outcome(self):
        """Ask the providers for the outcome of the transactions still under way.

        Providers whose API can report a transaction override this; by default the transactions
        are read again (the provider's webhook may have updated them meanwhile).
        """
        self.invalidate_recordset(['state', 'state_message'])

    def _log_message_on_linked_documents(self, message):
        """Override of `account_payment` to log the messages of a collection batch at once.

        Within a batch (the `payment_plan_log_buffer` context key holds a list), the message of
        an installment charge is kept in that list and logged on its invoices by
        `_log_buffered_messages` with the others; elsewhere it is posted at once, as usual.
        """
        buffer = self.env.context.get('payment_plan_log_buffer')
        if (
            buffer is not None
            and self._is_payment_plan_charge()
            and not self.source_transaction_id
            and not self.sale_order_ids
        ):
            buffer.append((self, message))
            return
        super()._log_message_on_linked_documents(message)

    @api.model
    def _log_buffered_messages(self, buffer):
        """Log the messages kept by `_log_message_on_linked_documents` on their invoices, in as
        few batches as there are messages per invoice, in the order they were kept.

        :param list buffer: The (transaction, message) pairs kept during a collection batch.
        """
        rounds = []  # [(author, {invoice id: message})]
        for tx, message in buffer:
            if self.env.uid == SUPERUSER_ID or self.env.context.get('payment_backend_action'):
                author = self.env.user.partner_id
            else:
                author = tx.partner_id
            for invoice in tx._get_invoices_to_notify():
                bodies = next(
                    (
                        bodies
                        for round_author, bodies in rounds
                        if round_author == author and invoice.id not in bodies
                    ),
                    None,
                )
                if bodies is None:
                    bodies = {}
                    rounds.append((author, bodies))
                bodies[invoice.id] = message
        for author, bodies in rounds:
            self.env['account.move'].browse(bodies)._message_log_batch(
                bodies=bodies, author_id=author.id
            )
        buffer.clear()

    def _create_collection_payments(self):
        """Create, post and reconcile at once the payments of the confirmed collection charges.

        `account_payment` creates a payment per transaction, each with its own journal entry and
        reconciliation; a batch of the collection cron does it in one go, with the same values.
        A charge whose invoice may get an early payment discount keeps the standard path.
        """
        transactions = self.filtered(
            lambda tx: (
                tx._is_payment_plan_charge()
                and tx.state == 'done'
                and tx.operation != 'validation'
                and not tx.payment_id
                and not tx.child_transaction_ids
                and not tx.invoice_ids.invoice_payment_term_id.filtered('early_discount')
            )
        )
        for company, company_txs in transactions.grouped('company_id').items():
            payments = (
                self.env['account.payment']
                .with_company(company)
                ._payment_plan_create_reconciled(
                    [tx._prepare_collection_payment_values() for tx in company_txs],
                    [tx.invoice_ids for tx in company_txs],
                )
            )
            for tx, payment in zip(company_txs, payments, strict=True):
                tx.payment_id = payment

    def _prepare_collection_payment_values(self):
        """Return the values of the payment of a confirmed charge, as `_create_payment` does.

        Without `write_off_line_vals`, which would make `account.payment.create` generate the
        journal entries one payment at a time: they are generated for the batch when posted.
        """
        self.ensure_one()
        provider = self.provider_id
        method_line = provider.journal_id.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == provider
        )
        values = {
            'amount': abs(self.amount),
            'payment_type': 'inbound' if self.amount > 0 else 'outbound',
            'currency_id': self.currency_id.id,
            'partner_id': self.partner_id.commercial_partner_id.id,
            'partner_type': 'customer',
            'journal_id': provider.journal_id.id,
            'company_id': provider.company_id.id,
            'payment_method_line_id': method_line[:1].id,
            'payment_token_id': self.token_id.id,
            'payment_transaction_id': self.id,
            'memo': f'{self.reference} - {self.provider_reference or ""}',
            'invoice_ids': self.invoice_ids,
        }
        term_lines = self.invoice_ids.line_ids.filtered(
            lambda line: line.display_type == 'payment_term'
        )
        if term_lines:
            values['destination_account_id'] = term_lines[0].account_id.id
        return values

    def _apply_outcome_to_installments(self):
        """Pay, retry or deny the installments according to their transactions' state.

        A done payment pays its installment when it covers what was open of it: after the
        payment is reconciled, nothing is left open on the invoice (the ledger), or, without an
        invoice, it covers the amount (`_payment_plan_covers`). A validation never pays; money
        that came in late still pays. A failure only counts when it is the outcome of the
        installment's current attempt, so replayed or out-of-order outcomes change nothing.
        """
        confirmed = self.filtered(
            lambda tx: (
                tx.state == 'done'
                and tx.operation != 'validation'
                and tx.installment_id.state not in ('paid', 'cancelled')
            )
        )
        open_amounts = confirmed.installment_id._get_open_amounts()
        paid = self.env['payment.plan.installment']
        for tx in confirmed:
            installment = tx.installment_id
            if installment.invoice_id.state == 'posted':
                covered = installment.currency_id.is_zero(open_amounts[installment.id])
            else:
                covered = tx._payment_plan_covers(installment.amount, installment.currency_id)
            if covered:
                paid |= installment
            else:
                installment._register_short_payment(tx, open_amounts[installment.id])
        paid._register_payment()
        # A card the customer paid with online (the portal's "pay now") pays the plan from now on.
        for tx in confirmed.filtered(
            lambda t: (
                t.installment_id in paid
                and t.token_id
                and t.operation.startswith('online')
                and t.installment_id.plan_id.collection_mode == 'token'
                and t.installment_id.plan_id.token_id != t.token_id
                and not t.sale_order_ids
            )
        ):
            plan = tx.installment_id.plan_id
            plan.token_id = tx.token_id
            plan.message_post(
                body=self.env._(
                    "The customer paid %(name)s with %(card)s, which now pays the plan.",
                    name=tx.installment_id.name,
                    card=tx.token_id.display_name,
                )
            )
        for tx in self - confirmed:
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
            if tx.reference == current_reference and installment._schedule_fallback_card(tx):
                continue
            installment._register_failure(message)
