import logging

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.models.payment_plan_collection import lock_rows_nowait
from odoo.addons.payment_plan.tools import collection, providers

_logger = logging.getLogger(__name__)


class _AmountMismatchError(Exception):
    """The provider's data about a collection charge names another amount or currency."""

    def __init__(self, tx, message):
        super().__init__(message)
        self.tx = tx
        self.message = message


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
    payment_plan_payment_link_id = fields.Many2one(
        string="Payment Link",
        comodel_name='payment.plan.payment.link',
        index='btree_not_null',
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
    payment_plan_decline_kind = fields.Selection(
        string="Decline Kind",
        selection=const.DECLINE_KINDS,
        readonly=True,
        copy=False,
        help="How the provider's refusal is handled: a soft decline is retried, a hard one is not, "
        "and one that needs the customer's authentication waits for them to pay on-session.",
    )
    payment_plan_make_default = fields.Boolean(
        string="Make Default Card",
        readonly=True,
        copy=False,
        help="The payer asked that the card of this payment becomes their default card.",
    )
    payment_plan_lookup_date = fields.Datetime(
        string="Last Looked Up",
        readonly=True,
        copy=False,
        help="When the provider was last asked for the outcome of this charge.",
    )
    payment_plan_card_plan_id = fields.Many2one(
        string="Card For Plan",
        comodel_name='payment.plan',
        index='btree_not_null',
        readonly=True,
        help="The plan whose card on file the card of this payment or validation replaces.",
    )
    payment_plan_saved_card = fields.Boolean(
        string="Saved the Card",
        readonly=True,
        copy=False,
        help="The card of this payment was saved by it (Odoo clears `tokenize` once it is).",
    )
    payment_plan_consent_text = fields.Text(
        string="Consent Text",
        readonly=True,
        copy=False,
        help="What the payer agreed to for the card this payment saves, as their page stated it "
        "when they paid: kept with their consent once the payment succeeds.",
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `payment` to bill a charge to another address than the customer's (a card
        given by phone): Odoo copies the customer's address into the transaction at creation."""
        billings = [vals.pop('payment_plan_billing', None) for vals in vals_list]
        for vals in vals_list:
            # Collection references are the collection's own: a payment of any other path that
            # took one would leave the attempt it belongs to waiting forever.
            if collection.is_attempt_reference(vals.get('reference')) and not (
                vals.get('installment_id') or vals.get('payment_plan_charge_line_id')
            ):
                raise ValidationError(
                    self.env._(
                        "The reference %(reference)s is reserved for the collection of payment "
                        "plans.",
                        reference=vals['reference'],
                    )
                )
        transactions = super().create(vals_list)
        for tx, billing in zip(transactions, billings, strict=True):
            if billing:
                tx.write(billing)
        # What the payer agrees to for the card, as it stands when they pay (their page's route
        # may have set it already, checked against what the page showed).
        for tx in transactions.filtered(lambda t: t.tokenize and not t.payment_plan_consent_text):
            tx.payment_plan_consent_text = tx._payment_plan_get_consent_text()
        return transactions

    # === BUSINESS METHODS: REFERENCES === #

    @api.model
    def _compute_reference(self, provider_code, prefix=None, separator='-', **kwargs):
        """Override of `payment` never to make a collection attempt's reference for a payment
        of another path: a prefix of that shape (sent by a payment form, say) is ignored."""
        if prefix and collection.is_attempt_reference(prefix):
            _logger.warning(
                "Payment reference prefix %s refused: reserved for collections.", prefix
            )
            prefix = None
        reference = super()._compute_reference(
            provider_code, prefix=prefix, separator=separator, **kwargs
        )
        if collection.is_attempt_reference(reference):  # Computed from a document's name.
            reference = super()._compute_reference(provider_code, prefix=None, separator=separator)
        return reference

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

    def _charge_with_token(self):
        """Override of `payment` to keep the outcome of a collection charge unknown, not
        refused, when the provider's answer never came back, and to classify a refusal.

        Odoo records any error of the request as a refusal. For a merchant-initiated charge that
        would be retried under a new reference or sent to another card: a timeout, a connection
        error or a provider error (5xx) after the request left leaves the transaction pending
        and flagged, to be looked up; only a refusal the provider answered is one. Its kind (soft,
        hard, authentication required) is read from the provider's own codes (`tools.providers`).
        """
        if not self._is_payment_plan_charge():
            return super()._charge_with_token()
        self.ensure_one()
        if not self._payment_plan_lock_draft():
            _logger.info("%s is no longer a draft to charge: not sent.", self.reference)
            return
        self._ensure_provider_is_not_disabled()
        self._log_sent_message()
        answers = []
        try:
            self.with_context(payment_plan_http_answers=answers)._send_payment_request()
        except ValidationError as error:
            # The request that failed is the last one (a provider may make others before it,
            # such as a card token): refused when it was answered 4xx, and no request went
            # unanswered.
            if (
                answers
                and answers[-1]['status']
                and 400 <= answers[-1]['status'] < 500
                and all(a['status'] for a in answers)
            ):
                self._set_error(str(error))
            else:
                self._payment_plan_set_outcome_unknown(str(error))
        if self.state in ('error', 'cancel') and not self.payment_plan_decline_kind:
            refusals = [a for a in answers if a['status'] and 400 <= a['status'] < 500]
            if refusals:
                profile = providers.get_profile(self.provider_code)
                if profile.is_card_refusal(refusals[-1]['status']):
                    self._payment_plan_classify_decline(refusals[-1]['body'] or {})
                else:  # A rate limit, bad credentials, a bad request: not the card.
                    self.payment_plan_decline_kind = providers.PROVIDER

    def _payment_plan_lock_draft(self):
        """Lock the transaction's row and tell whether it is still a draft to send.

        A charge is sent once: a worker that finds its claimed transaction already settled (a
        look-up concluded it, another worker sent it) or locked by another does not send it.
        """
        self.ensure_one()
        return (lock_rows_nowait(self, 'state') or {}).get(self.id) == 'draft'

    def _set_error(self, state_message, extra_allowed_states=()):
        """Override of `payment` to leave a collection charge whose request got no answer, or a
        provider error, pending with its outcome unknown: the provider's module may record any
        failed request as a refusal."""
        answers = self.env.context.get('payment_plan_http_answers')
        if answers is None or not any(a['status'] is None for a in answers):
            return super()._set_error(state_message, extra_allowed_states=extra_allowed_states)
        unknown = self.filtered(lambda tx: tx._is_payment_plan_charge() and tx.state == 'draft')
        for tx in unknown:
            tx._payment_plan_set_outcome_unknown(state_message)
        return super(PaymentTransaction, self - unknown)._set_error(
            state_message, extra_allowed_states=extra_allowed_states
        )

    def _process(self, provider_code, payment_data):
        """Override of `payment` to classify the refusal of a collection charge from the
        provider's own codes, whichever way it arrives (the charge's answer, a webhook, a
        look-up)."""
        try:
            tx = super()._process(provider_code, payment_data)
        except _AmountMismatchError as mismatch:
            # Never a refusal: looked up, checked by staff, never charged again blindly.
            mismatch.tx._payment_plan_set_outcome_unknown(
                mismatch.message, extra_allowed_states=('error',)
            )
            return mismatch.tx
        profile = providers.get_profile(provider_code)
        if (
            tx
            and tx.state in ('draft', 'pending')
            and tx.operation in ('offline', 'online_token')
            and tx._is_payment_plan_charge()
            and profile.needs_customer(payment_data)
        ):
            # Off-session, nobody can authenticate: the charge is over, the customer is asked.
            tx._set_canceled(
                state_message=self.env._(
                    "The bank asks the customer to authenticate this payment (3-D Secure)."
                ),
                extra_allowed_states=('pending',),
            )
            tx.write({'payment_plan_decline_kind': providers.AUTHENTICATION})
        if tx and tx.state in ('error', 'cancel') and tx._is_payment_plan_charge():
            tx._payment_plan_classify_decline(payment_data)
        elif tx.payment_plan_outcome_unknown and tx.state in (
            'done',
            'authorized',
            'error',
            'cancel',
        ):
            tx.payment_plan_outcome_unknown = False
        return tx

    def _validate_amount(self, payment_data):
        """Override of `payment` to check, besides the amount the payment data echoes, the
        amount the provider charged where it tells it (`_payment_plan_validate_charged_amount`).
        A collection charge that fails these checks is not a refusal: see
        `_payment_plan_check_amount_mismatch`."""
        state = self.state
        super()._validate_amount(payment_data)
        if self.state != 'error' and self.operation not in ('validation', 'refund'):
            self._payment_plan_validate_charged_amount(payment_data)
        self._payment_plan_check_amount_mismatch(state)

    def _payment_plan_validate_charged_amount(self, payment_data):
        """Set the transaction in error when the provider's data says it charged another amount
        than the transaction's. Providers that tell it override this in their file."""

    def _payment_plan_check_amount_mismatch(self, state_before):
        """Stop the processing of a collection charge whose provider data names another amount
        or currency than the charge's (the amount check just set it in error): the provider
        may have charged something, so the charge is not a refusal to retry.

        :raise _AmountMismatchError: When the amount check failed on a collection charge.
        """
        if (
            self.state == 'error'
            and state_before != 'error'
            and self.operation == 'offline'
            and self._is_payment_plan_charge()
        ):
            raise _AmountMismatchError(self, self.state_message)

    def _payment_plan_classify_decline(self, payment_data):
        """Record how the refusal is handled, from the provider's data when its profile reads
        codes, else from the refusal's message."""
        self.ensure_one()
        if self.payment_plan_decline_kind:
            return
        profile = providers.get_profile(self.provider_code)
        kind = profile.classify(payment_data) if profile.classify else None
        self.write(
            {
                'payment_plan_decline_kind': kind or providers.classify_message(self.state_message),
                'payment_plan_outcome_unknown': False,
            }
        )

    def _payment_plan_set_outcome_unknown(self, message, extra_allowed_states=()):
        """Leave the charge pending with its outcome unknown: looked up, never sent again."""
        self.ensure_one()
        self.payment_plan_outcome_unknown = True
        review = self.env._(
            "The provider's answer did not come back (%(error)s): the outcome is unknown until it "
            "is looked up. Check the payment with the provider before charging again.",
            error=message,
        )
        self._set_pending(
            state_message=review, extra_allowed_states=('pending', *extra_allowed_states)
        )
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
        """Override of `payment` to record the card's expiry, where the provider tells it. The
        customer's consent is recorded once the payment succeeds
        (`_payment_plan_settle_saved_cards`)."""
        super()._tokenize(payment_data)
        if not self.token_id:
            return
        self.payment_plan_saved_card = True
        profile = providers.get_profile(self.provider_code)
        if profile.saved_refused_card(payment_data):
            # A card whose payment failed is neither kept, nor consented, nor offered again.
            self.token_id.active = False
            return
        expiry = profile.card_expiry(payment_data)
        if expiry:
            self.token_id.write({'expiry_month': expiry[0], 'expiry_year': expiry[1]})

    def _payment_plan_settle_saved_cards(self):
        """Keep the card a payment saved only when the payment succeeded: record the customer's
        consent to charge the card they saved at checkout or in their portal, with the text they
        agreed to (a card registration link records its own); archive the card of a payment that
        failed (a provider may save it before the payment's outcome), never consented nor
        offered again."""
        Consent = self.env['payment.plan.consent'].sudo()
        for tx in self.filtered(
            lambda t: (
                t.payment_plan_saved_card and t.token_id and not t.payment_plan_card_request_id
            )
        ):
            if tx.state in ('done', 'authorized'):
                if not Consent.search_count([('token_id', '=', tx.token_id.id)], limit=1):
                    Consent._record(
                        tx.partner_id,
                        'portal' if tx.operation == 'validation' else 'checkout',
                        token=tx.token_id,
                        user_id=False,
                        text=tx.payment_plan_consent_text,
                    )
            elif tx.state in ('error', 'cancel') and tx.token_id.active:
                tx.token_id.sudo().active = False

    def _payment_plan_get_consent_text(self):
        """Return the statement the payer agreed to on the page that saved the card: the plan's
        (an order's, or the plan's own pay page), or nothing for a card saved without a plan."""
        self.ensure_one()
        plan = (
            self.sale_order_ids.payment_plan_id[:1]
            or self.installment_id.plan_id
            or self.payment_plan_card_plan_id
        )
        if not plan:
            return False
        paying = self.installment_id and plan._get_installments_to_pay_now()
        return plan.with_context(lang=self.env.lang or self.partner_id.lang)._get_consent_text(
            paying=paying
        )

    def _post_process(self):
        """Override of `account_payment` to settle the installments the transactions pay.

        Runs whichever way the outcome arrives: the charge itself, the provider's webhook, the
        customer returning from the payment page, or the post-processing cron.
        """
        refunds = self.filtered(lambda t: t.operation == 'refund' and not t.is_post_processed)
        self._payment_plan_settle_saved_cards()
        self._prepare_order_first_payments()
        self._create_collection_payments()
        refunds._payment_plan_credit_refunds()
        super()._post_process()
        charges = self.filtered('installment_id')
        charges.installment_id._apply_outcome(charges)
        for tx in self.filtered(
            lambda t: (
                t.payment_plan_card_request_id
                and t.state in ('done', 'authorized')
                and t.token_id
                and t.payment_plan_card_request_id.state == 'sent'
            )
        ):
            tx.payment_plan_card_request_id._register_card(tx.token_id)
        self._payment_plan_update_plan_cards()
        refunds._payment_plan_log_refunds()
        for tx in self.filtered(lambda t: t.payment_plan_payment_link_id and t.state == 'done'):
            tx.payment_plan_payment_link_id._register_payment(tx)
        charged_by_batch = self.filtered('payment_plan_charge_line_id')
        charged_by_batch.payment_plan_charge_line_id._apply_outcome(charged_by_batch)
        # Invoices are the ledger: a payment of any path settles the installments it covers.
        self.filtered(
            lambda tx: tx.state == 'done' and tx.operation != 'validation'
        ).invoice_ids._payment_plan_settle_installments()

    def _check_amount_and_confirm_order(self):
        """Override of `sale`: an order paid by plan is confirmed by its first payment, by
        `_prepare_order_first_payments`, once; Odoo's confirmation on the amount paid (a payment
        that does not cover the first installment, an authorized one, the payment processed
        again after another module refused the confirmation) leaves it alone."""
        by_plan = self.filtered(
            lambda tx: (
                len(tx.sale_order_ids) == 1
                and (tx.sale_order_ids.payment_plan_id or tx.sale_order_ids._is_confirmed_by_plan())
            )
        )
        return super(PaymentTransaction, self - by_plan)._check_amount_and_confirm_order()

    def _invoice_sale_orders(self):
        """Override of `sale`: an order paid by plan is invoiced by its plan (the order's one
        invoice, made when its first payment arrives, `sale.order._payment_plan_invoice`), never
        by Odoo's automatic invoicing of paid orders, which would add a down payment to it."""
        by_plan = self.filtered(lambda tx: tx.sale_order_ids.filtered('payment_plan_id'))
        return super(PaymentTransaction, self - by_plan)._invoice_sale_orders()

    def _payment_plan_credit_refunds(self):
        """Credit the invoices that a refunded charge of the add-on paid: a credit note of the
        refunded amount, its lines in proportion to the invoice's (`_payment_plan_credit`), which
        Odoo's post-processing then reconciles with the refund's payment. The invoice stays paid,
        the customer owes nothing more, the installment stays paid with its *Refunded* amount,
        and the ledger says the same."""
        for tx in self.filtered(
            lambda t: (
                t.operation == 'refund'
                and t.state == 'done'
                and not t.payment_id
                and t.source_transaction_id._is_payment_plan_charge()
            )
        ):
            # Two workers post-processing the same refund credit it once.
            self.env.cr.execute(
                SQL("SELECT id FROM payment_transaction WHERE id = %s FOR UPDATE", tx.id)
            )
            tx.invalidate_recordset(['invoice_ids', 'payment_id'])
            if tx.invoice_ids or tx.payment_id:
                continue
            remaining = -tx.amount
            source = tx.source_transaction_id
            reason = self.env._("Refund of %(reference)s", reference=source.reference)
            credit_notes = self.env['account.move']
            # Invoices are the accountants' records: a refund credits what it gives back, on
            # each invoice at most what the charge paid of it less what was refunded of it.
            for invoice, creditable in source.sudo()._payment_plan_get_creditable().items():
                share = min(remaining, creditable)
                if tx.currency_id.compare_amounts(share, 0) <= 0:
                    continue
                credit_notes |= invoice._payment_plan_credit(share, reason, reconcile=False)
                remaining = tx.currency_id.round(remaining - share)
            tx.invoice_ids = credit_notes

    def _payment_plan_get_creditable(self):
        """Return, per invoice the charge paid (posted customer invoices of its currency, in
        order), what a refund of it may still credit: what the charge's payment paid of the
        invoice (its whole total when the payment is not reconciled yet), less the credit notes
        of its earlier refunds.

        :rtype: dict[account.move, float]
        """
        self.ensure_one()
        currency = self.currency_id
        invoices = self.invoice_ids.filtered_domain(
            [
                ('state', '=', 'posted'),
                ('move_type', '=', 'out_invoice'),
                ('currency_id', '=', currency.id),
            ]
        ).sorted('id')
        paid = dict.fromkeys(invoices, 0.0)
        partials = self.payment_id.move_id.line_ids.matched_debit_ids
        for partial in partials:
            invoice = partial.debit_move_id.move_id
            if invoice in paid:
                paid[invoice] += partial.debit_amount_currency
        if not partials:
            paid = {invoice: invoice.amount_total for invoice in invoices}
        earlier = self.child_transaction_ids.filtered(lambda tx: tx.operation == 'refund')
        credited = dict.fromkeys(invoices, 0.0)
        for credit_note in earlier.invoice_ids:
            if credit_note.reversed_entry_id in credited:
                credited[credit_note.reversed_entry_id] += credit_note.amount_total
        return {
            invoice: currency.round(amount - credited[invoice]) for invoice, amount in paid.items()
        }

    def _payment_plan_log_refunds(self):
        """Tell the plans that a charge of one of their installments was refunded."""
        for tx in self.filtered(
            lambda t: (
                t.operation == 'refund'
                and t.state == 'done'
                and t.source_transaction_id.installment_id
            )
        ):
            installment = tx.source_transaction_id.installment_id
            installment.plan_id.message_post(
                body=self.env._(
                    "%(amount)s of %(name)s was refunded to the customer (%(reference)s).",
                    amount=tx.currency_id.format(-tx.amount),
                    name=installment.name,
                    reference=tx.reference,
                )
            )

    def _payment_plan_update_plan_cards(self):
        """Make the card the customer saved on their plan's pay page the plan's card.

        The card of a payment of an overdue installment, or of a validation made to replace
        the plan's card, pays the plan from now on, once the provider confirmed it.
        """
        for tx in self.filtered(
            lambda t: (
                t.payment_plan_card_plan_id
                and t.state in ('done', 'authorized')
                and t.token_id
                and (t.operation == 'validation' or t.installment_id.state == 'paid')
            )
        ):
            plan = tx.payment_plan_card_plan_id
            if (
                plan.collection_mode != 'token'
                or plan.state not in const.RUNNING_PLAN_STATES
                or plan.token_id == tx.token_id
                or tx.token_id.partner_id.commercial_partner_id
                != plan.partner_id.commercial_partner_id
            ):
                continue
            plan.token_id = tx.token_id
            plan.message_post(
                body=self.env._(
                    "The customer saved %(card)s on their payment page: it pays the plan from now "
                    "on.",
                    card=tx.token_id.display_name,
                )
            )
            if tx.payment_plan_make_default and not tx.token_id.is_default:
                tx.token_id.sudo().is_default = True

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
                if plan.collection_mode == 'token':
                    # Paid by someone else (a logged-in user paying the customer's link): the
                    # payment counts, their card is not the customer's.
                    if tx.token_id.partner_id in plan._get_card_holders():
                        plan.token_id = tx.token_id
                    elif not plan.token_id:
                        order.message_post(
                            body=self.env._(
                                "The first payment, made by %(payer)s, saved no card of the "
                                "customer: the plan waits for the customer's card.",
                                payer=tx.partner_id.display_name,
                            )
                        )
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
        """Ask the providers for the outcome of the transactions still under way, and apply it.

        Providers whose API reports a transaction (their profile's `outcome_lookup`) have a
        `_payment_plan_lookup_<code>` method; the others' transactions are read again (their
        webhook may have updated them meanwhile). A look-up that fails changes nothing.
        """
        for tx in self.filtered(lambda t: t.state in ('draft', 'pending')):
            lookup = getattr(tx, f'_payment_plan_lookup_{tx.provider_code}', None)
            if not providers.get_profile(tx.provider_code).outcome_lookup or not lookup:
                continue
            tx.payment_plan_lookup_date = fields.Datetime.now()
            try:
                with self.env.cr.savepoint():
                    lookup()
            except ValidationError as error:
                _logger.warning("Looking up %s with the provider failed: %s", tx.reference, error)
        self.invalidate_recordset(['state', 'state_message'])

    def _payment_plan_conclude_not_charged(self):
        """Record that the provider has no trace of the charge: it never reached them.

        Only for a merchant-initiated charge of the collection (a customer's online payment may
        still be finished on the provider's page), only once no request can land any more: a
        charge answered with an unknown outcome `const.LOOKUP_SETTLE_MINUTES` after it was
        sent, a claimed charge never answered `const.INTERRUPTED_AFTER_MINUTES` after its claim
        (its worker may still be sending it before that), and only when no worker holds it. The
        card was not charged: the attempt is tried again without counting as the card's
        refusal.
        """
        self.ensure_one()
        if not self._is_payment_plan_charge() or self.operation not in ('offline', 'online_token'):
            return
        wait = (
            const.LOOKUP_SETTLE_MINUTES
            if self.state == 'pending'
            else const.INTERRUPTED_AFTER_MINUTES
        )
        since = self.last_state_change if self.state == 'pending' else self.create_date
        if since > fields.Datetime.subtract(fields.Datetime.now(), minutes=wait):
            return
        # A worker holding it is sending or settling it; one that changed it settled it.
        if (lock_rows_nowait(self, 'state') or {}).get(self.id) != self.state:
            return
        self._set_error(
            self.env._(
                "The provider has no trace of this charge: it never reached them, and the card "
                "was not charged."
            ),
            extra_allowed_states=('pending',),
        )
        self.write(
            {'payment_plan_decline_kind': providers.PROVIDER, 'payment_plan_outcome_unknown': False}
        )

    def _payment_plan_refresh(self):
        """Ask the providers for the outcome of the transactions and apply what is final."""
        self._payment_plan_fetch_outcome()
        self.filtered(
            lambda tx: (
                tx.state in ('authorized', 'done', 'error', 'cancel') and not tx.is_post_processed
            )
        )._post_process()

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
            'memo': ' - '.join(
                filter(
                    None,
                    [
                        self.reference,
                        self.provider_reference,
                        self.payment_plan_charge_line_id.batch_id.note,
                    ],
                )
            ),
            'invoice_ids': self.invoice_ids,
        }
        term_lines = self.invoice_ids.line_ids.filtered(
            lambda line: line.display_type == 'payment_term'
        )
        if term_lines:
            values['destination_account_id'] = term_lines[0].account_id.id
        return values

    def _payment_plan_is_moto(self):
        """Tell whether the card of this payment was given by phone to a member of staff."""
        self.ensure_one()
        return (
            self.payment_plan_card_request_id.channel == 'moto'
            or self.payment_plan_payment_link_id.moto
        )
