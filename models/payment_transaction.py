import logging

from odoo import SUPERUSER_ID, api, fields, models

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
            except Exception as error:  # recorded on the transaction.
                _logger.exception("Charging %s failed.", tx.reference)
                tx._set_error(self.env._("Technical error: %(error)s", error=str(error)))
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

    def _post_process(self):
        """Override of `account_payment` to settle the installments the transactions pay.

        Runs whichever way the outcome arrives: the charge itself, the provider's webhook, the
        customer returning from the payment page, or the post-processing cron.
        """
        extra_paid = self._prepare_order_first_payments()
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
        extra_paid._register_payment()

    def _prepare_order_first_payments(self):
        """Link the confirmed first payments of orders paid by plan to their installment and
        to the order's invoice, so that the payment is reconciled with it.

        The payment may come from the customer's payment link (which saves the card that the
        plan then charges) or from the card on file charged at confirmation.

        :return: The further installments the payments also cover (a customer who paid more
                 than the first installment); they are paid with it.
        :rtype: payment.plan.installment
        """
        extra_paid = self.env['payment.plan.installment']
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
            if plan.state == 'draft':
                if tx.token_id and plan.collection_mode == 'token':
                    plan.token_id = tx.token_id
                plan._start()
            open_installments = plan.installment_ids.filtered(
                lambda i: i.state in const.OPEN_INSTALLMENT_STATES
            ).sorted('sequence')
            installment = tx.installment_id or open_installments[:1]
            if not installment:
                continue
            if not tx.installment_id:
                tx.installment_id = installment
                installment.write(
                    {'state': 'processing', 'attempt_count': installment.attempt_count + 1}
                )
            installment._ensure_invoices()
            if not tx.invoice_ids and installment.invoice_id:
                tx.invoice_ids = installment.invoice_id
            remaining = tx.amount - installment.amount
            for following in open_installments - installment:
                if tx.currency_id.compare_amounts(remaining, following.amount) < 0:
                    break
                remaining -= following.amount
                extra_paid |= following
        return extra_paid

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
            # A payment of the cron needs no "created" log nor field tracking: the invoice it
            # pays and the transaction say where it comes from.
            payments = (
                self.env['account.payment']
                .with_company(company)
                .with_context(mail_create_nolog=True, mail_notrack=True)
                .create([tx._prepare_collection_payment_values() for tx in company_txs])
            )
            payments.action_post()
            reconciliation_plan = []
            for tx, payment in zip(company_txs, payments, strict=True):
                tx.payment_id = payment
                invoices = tx.invoice_ids.filtered(lambda inv: inv.state == 'posted')
                lines = (payment.move_id.line_ids + invoices.line_ids).filtered(
                    lambda line, p=payment: (
                        line.account_id == p.destination_account_id and not line.reconciled
                    )
                )
                if invoices and lines:
                    reconciliation_plan.append(lines)
            # The invoices' chatter tells the payment (`_log_message_on_linked_documents`): no
            # tracking message of their payment status on top of it.
            self.env['account.move.line'].with_context(mail_notrack=True)._reconcile_plan(
                reconciliation_plan
            )

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

        A confirmed charge always pays its installment (money came in, even late); a failure
        only counts when it is the outcome of the installment's current attempt, so replayed or
        out-of-order outcomes change nothing.
        """
        confirmed = self.filtered(
            lambda tx: tx.state == 'done' and tx.installment_id.state not in ('paid', 'cancelled')
        )
        confirmed.installment_id._register_payment()
        # A card the customer paid with online (the portal's "pay now") pays the plan from now on.
        for tx in confirmed.filtered(
            lambda t: (
                t.token_id
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
            if tx.reference == current_reference and installment._charge_fallback_card(tx):
                continue
            installment._register_failure(message)
