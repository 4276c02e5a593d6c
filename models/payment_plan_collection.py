import logging
from collections import Counter, defaultdict

from psycopg2 import OperationalError
from psycopg2.errors import LockNotAvailable

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tools import SQL

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import collection, providers

_logger = logging.getLogger(__name__)


def lock_rows_nowait(records, column='id'):
    """Lock the rows of `records` at once, without waiting: the one way a charge takes its rows.

    :return: {id: value of `column`} of the rows locked, or None when another transaction holds
             one of them. A serialization failure is not caught: the request is then run again
             on a fresh snapshot, which sees what the other transaction did.
    """
    records.flush_recordset()
    try:
        with records.env.cr.savepoint(flush=False):
            records.env.cr.execute(
                SQL(
                    "SELECT id, %s FROM %s WHERE id = ANY(%s) FOR UPDATE NOWAIT",
                    SQL.identifier(column),
                    SQL.identifier(records._table),
                    records.ids,
                )
            )
            return dict(records.env.cr.fetchall())
    except LockNotAvailable:
        return None


class _MessageBuffer(list):
    """The chatter messages of one collection batch, passed in the context: equal only to
    itself. Odoo reuses an open environment whose context is equal, and two empty lists are
    equal: a plain list would let one batch's messages land in another batch's buffer."""

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    __hash__ = object.__hash__


class PaymentPlanCollectionMixin(models.AbstractModel):
    """The collection service: what is charged to a card on file, in batches, exactly once.

    Installments (the plans' schedule) and charge batch lines (mass charges) are charged by the
    same loop: lock a batch of due records that no other worker holds, claim them (one
    transaction per record, a reference unique per attempt), commit, charge the cards, apply
    the outcomes. A model using it provides `_lock_collectable`, `_claim_attempts_batch`,
    `_register_claim_failure`, `_flag_interrupted_charges` and `_apply_outcome` (what its charge's
    outcome does to it).

    This file is the whole service: the cron's entry (`_cron_collect_due`) with its sweeps of
    interrupted and unknown charges, the loop (`_collect`: lock, claim, commit), the charge of
    the claimed transactions (`_charge_claimed`), the batch size, and the dispatch to jobs or to
    a cursor of its own after the request (`payment.plan.queue`).

    Every path charges through it: the cron in its own cursor, and the buttons, wizards and
    order confirmations through `_collect_after_commit`, which runs the same loop in a cursor of
    its own once the request's transaction is committed. No path charges inside a request's
    transaction, so that a request killed after the provider answered leaves a committed claim
    that is looked up, never a second charge.
    """

    _name = 'payment.plan.collection.mixin'
    _description = "Payment Plan Collection Service"

    # === CRON === #

    @api.model
    def _cron_collect_due(self):
        """The collection cron: settle what was interrupted or left unknown, then charge every
        due installment of the running plans charged to a card, then the queued lines of charge
        batches, and report the batches' progress."""
        Installment = self.env['payment.plan.installment']
        Line = self.env['payment.plan.charge.batch.line']
        Installment._flag_interrupted_charges()
        Line._flag_interrupted_charges()
        self._lookup_unknown_outcomes()
        self.env['ir.cron']._commit_progress()
        Installment._collect_due()
        # The lines of mass charges too large to run at once (charge batches).
        Line._collect_due()
        self.env['payment.plan.charge.batch']._update_unfinished()

    @api.model
    def _flag_interrupted_charges(self):
        """Wait for the provider's word on the charges of this model interrupted between their
        claim and their outcome: never sent again, looked up. Provided by each model.

        :return: The records flagged.
        """
        return self.browse()

    # === BUSINESS METHODS === #

    @api.model
    def _get_collection_today(self):
        """Return the date that decides what is due: today in the company's time zone (its
        address's; UTC without one), the same on every path whoever runs it (the cron, a job,
        Retry Now, the portal), never the acting user's own time zone.

        :rtype: datetime.date
        """
        tz = self.env.company.partner_id.tz or 'UTC'
        return fields.Date.context_today(self.with_context(tz=tz))

    def _collect(self, batch_size=None, commit=False):
        """Charge the due records among `self` (or all due ones when `self` is empty).

        Each batch is claimed and, when `commit` is set, committed before any card is charged,
        so that a crash can never lead to a second charge of the same attempt; then the cards are
        charged and the outcomes applied, one record's failure never stopping the others.

        :param int batch_size: Records per batch (the `payment_plan.batch_size` setting).
        :param bool commit: Commit each step (crons only; requests and tests run in one
                            transaction).
        :return: The number of records charged.
        :rtype: int
        """
        batch_size = batch_size or self._get_batch_size()
        today = self._get_collection_today()
        ids = self.ids if self else None
        charged = 0
        conflicts = 0
        passes = Counter()
        while True:
            try:
                batch = self._lock_collectable(today, batch_size, ids=ids)
                transactions = batch._claim_attempts()
                if commit:
                    self.env['ir.cron']._commit_progress()
            except OperationalError:
                # Another worker changed the same rows (or journal) after our snapshot: start
                # again from a fresh snapshot; nothing of the batch was charged.
                if not commit or conflicts >= 10:
                    raise
                conflicts += 1
                _logger.info("%s: a batch met another worker's changes; taken again.", self._name)
                self.env.cr.rollback()
                self.env.invalidate_all()
                continue
            if not batch:
                break
            self._charge_claimed(transactions, commit=commit)
            batch._after_charge()
            charged += len(batch)
            if ids is not None:
                # A record due again at once (a refused attempt tried on the other card) gets one
                # more pass; never more, whatever the records do.
                passes.update(batch.ids)
                ids = [i for i in ids if passes[i] < 2]
            if commit:
                if self.env['ir.cron']._commit_progress(len(batch)) <= 0:
                    break
                # Keep memory flat however many records are due.
                self.env.invalidate_all()
        return charged

    @api.model
    def _collect_due(self):
        """The collection cron's charges: spread over jobs of `root.payment_plan` while
        queue_job's runner takes them (`payment.plan.queue`), inline in the cron otherwise.

        The cron selects what is due, without locking it, and enqueues it in jobs of
        `payment_plan.job_size` records; each job runs the collection service over its records
        (`_job_collect`). While jobs of an earlier run are unfinished, nothing new is enqueued:
        they are collecting.
        """
        self.env['payment.plan.queue']._run(
            self._name,
            '_job_collect',
            enqueue=self._enqueue_due,
            inline=lambda: self._collect(commit=True),
        )

    @api.model
    def _enqueue_due(self):
        """Enqueue what is due in jobs, page by page (committed), memory flat however many."""
        Queue = self.env['payment.plan.queue']
        today = self._get_collection_today()
        page_size = Queue._get_job_size() * 100
        last_id = 0
        while due := self._lock_collectable(today, page_size, after_id=last_id):
            Queue._enqueue(due, '_job_collect', self._get_collect_job_description())
            last_id = due[-1].id
            self.env['ir.cron']._commit_progress()
            self.env.invalidate_all()

    def _collect_in_background(self):
        """Charge the records in the background: in jobs right away when queue_job's runner
        takes them, else in the collection cron (triggered now)."""
        self.env['payment.plan.queue']._dispatch(
            self,
            '_job_collect',
            self._get_collect_job_description(),
            'payment_plan.ir_cron_collect_due',
        )

    def _get_collect_job_description(self):
        """Return the description of the collection jobs of the model."""
        return self.env._("Payment Plans: collect")

    def _job_collect(self):
        """The job of `_collect_due`: charge the records of `self` still due, once.

        Run again (queue_job retries a job whose worker died), the records claimed by the first
        run are no longer due: only what was never claimed is charged.
        """
        # The records were selected by the cron (the superuser) or by a user whose right to
        # charge was checked before they were enqueued.
        return self.sudo()._collect(commit=True)

    def _collect_after_commit(self):
        """Charge the records once the current transaction is committed, in a cursor of their
        own that commits each step (claim, charge, outcome), as the cron does.

        The callers (buttons, wizards, order confirmation) only check and prepare the records in
        the request; the web client reloads the records after the request and shows the
        outcome. Should the worker die before charging, the collection cron (triggered now)
        charges them: the records stay due until claimed.
        """
        if not self:
            return
        self.env.ref('payment_plan.ir_cron_collect_due').sudo()._trigger()
        # The caller's right to charge was checked before the commit (`_check_charge_rights`);
        # transactions and payments are the payment and accounting administrators' records.
        self.env['payment.plan.queue']._call_after_commit(self, '_collect', commit=True, sudo=True)

    def _check_charge_rights(self, companies=None):
        """Refuse to charge a card on file for a user outside the add-on's groups, or outside
        the companies of the records charged (`res.users._payment_plan_is_staff`).

        A salesperson may sell a plan paid by link; charging a saved card without the customer
        needs the Payment Plans group. The crons (the superuser) charge what users set up.

        :param res.company companies: The companies charging (default: the records').
        :raise AccessError: When the user may not charge a card on file.
        """
        companies = self.sudo().company_id if companies is None else companies
        if self.env.user._payment_plan_is_staff(companies):
            return
        raise AccessError(
            self.env._(
                "Only Payment Plans users may charge a customer's card on file. Send the customer "
                "a payment link instead."
            )
        )

    def _lock_for_charge(self):
        """Lock the records before a charge is prepared on them, or say a charge is under way.

        `NOWAIT`: a second click, a second tab or a worker charging the same record answers at
        once instead of waiting to charge it a second time.

        :raise UserError: When another transaction holds one of the records.
        """
        if self and lock_rows_nowait(self) is None:
            raise UserError(
                self.env._("A payment of %(names)s is already under way.", names=self._get_names())
            )

    def _get_names(self):
        return ", ".join(self.mapped('display_name'))

    @api.model
    def _get_batch_size(self):
        return self.env['payment.plan.queue']._get_int_setting(
            'payment_plan.batch_size', const.DEFAULT_BATCH_SIZE
        )

    @api.model
    def _lock_collectable(self, today, limit, ids=None, after_id=None):
        """Select and lock, `FOR UPDATE SKIP LOCKED`, the records due by `today`.

        :param date today: Records due on or before this day are selected.
        :param int limit: The maximum number of records.
        :param list ids: Only among these records.
        :param int after_id: Select without locking, in order of id, the records after this id
                             (the pages `_collect_due` enqueues).
        :return: The locked records.
        """
        raise NotImplementedError()

    def _claim_attempts(self):
        """Open the next attempt of each record; return the draft transactions to charge.

        The batch is claimed at once; if that fails, one by one, so that the record at fault is
        recorded with its error while the others go on.

        :rtype: payment.transaction
        """
        try:
            with self.env.cr.savepoint():
                return self._claim_attempts_batch()
        except OperationalError:
            raise  # A concurrency conflict: the caller retries the whole batch.
        except Exception as error:  # any error: fall back to one by one.
            _logger.info(
                "Claiming %s records of %s at once failed (%s): one by one.",
                len(self),
                self._name,
                error,
            )
        transactions = self.env['payment.transaction']
        for record in self:
            try:
                with self.env.cr.savepoint():
                    transactions |= record._claim_attempts_batch()
            except OperationalError:
                raise
            except Exception as error:  # recorded on the record, others go on.
                _logger.exception("Claiming %s failed.", record.display_name)
                record._register_claim_failure(
                    self.env._("Technical error: %(error)s", error=str(error))
                )
        return transactions

    def _claim_attempts_batch(self):
        """Claim the records at once; return the transactions to charge."""
        raise NotImplementedError()

    def _register_claim_failure(self, message):
        """Record that the record could not be claimed, with `message`."""
        raise NotImplementedError()

    def _prepare_transaction_values(self, attempt, amount=None):
        """Return the values of the `offline` transaction of the attempt number `attempt`.

        :param float amount: The amount to charge: what is still open of the record at claim
                             time (default: the record's amount).
        """
        self.ensure_one()
        card, invoices, extra_values = self._get_charge_values()
        return {
            'provider_id': card.provider_id.id,
            'payment_method_id': card.payment_method_id.id,
            'token_id': card.id,
            'partner_id': self.partner_id.id,
            'amount': self.amount if amount is None else amount,
            'currency_id': self.currency_id.id,
            'reference': collection.attempt_reference(self.name, attempt),
            'operation': 'offline',
            'invoice_ids': [Command.set(invoices.ids)],
            **extra_values,
        }

    def _get_charge_values(self):
        """Return the card to charge, the invoices the charge pays, and the transaction's values
        that link it to the record.

        :rtype: tuple(payment.token, account.move, dict)
        """
        raise NotImplementedError()

    def _after_charge(self):
        """Hook run on a batch once its cards were charged and the outcomes applied."""

    @api.model
    def _charge_claimed(self, transactions, commit=False):
        """Charge the cards of the claimed attempts' `transactions` (installments', charge batch
        lines') and apply the outcomes.

        An exception while charging rolls back that charge only: it is recorded on its
        transaction as an error, which its installment or line then records. The outcomes are
        committed (when `commit` is set) before any payment is recorded, and the payments of the
        batch are created at once; should that fail, one by one. An exception after a confirmed
        charge never turns it into a failure: the transaction stays confirmed and Odoo's
        post-processing finishes it later.

        :param bool commit: Commit once the cards are charged (crons only).
        """
        # The chatter messages of the charges are logged on the invoices at the end, at once.
        log_buffer = _MessageBuffer()
        transactions = transactions.with_context(payment_plan_log_buffer=log_buffer)
        for tx in transactions:
            try:
                with self.env.cr.savepoint():
                    tx._charge_with_token()
            except Exception as error:  # the charge may have left: its outcome is unknown.
                _logger.exception("Charging %s failed: its outcome is unknown.", tx.reference)
                tx._payment_plan_set_outcome_unknown(str(error))
        pending_story = defaultdict(list)
        for tx in transactions.filtered(lambda t: t.state == 'pending' and t.installment_id):
            pending_story[tx.installment_id.plan_id].append(
                self.env._(
                    "%(name)s: the charge of %(amount)s is pending with the provider "
                    "(%(reference)s).",
                    name=tx.installment_id.name,
                    amount=tx.currency_id.format(tx.amount),
                    reference=tx.reference,
                )
            )
        self.env['payment.plan']._log_story(pending_story)
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
        transactions._log_buffered_messages(log_buffer)

    @api.model
    def _lookup_unknown_outcomes(self, limit=100):
        """Ask the providers about the collection charges whose outcome is unknown (no answer
        came back) or that were interrupted (claimed, never answered), and settle them."""
        threshold = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.INTERRUPTED_AFTER_MINUTES
        )
        codes = [code for code, profile in providers.PROFILES.items() if profile.outcome_lookup]
        transactions = self.env['payment.transaction'].search(
            [
                ('provider_code', 'in', codes),
                ('operation', 'in', ('offline', 'online_token')),
                '|',
                ('installment_id', '!=', False),
                ('payment_plan_charge_line_id', '!=', False),
                '|',
                '&',
                ('state', '=', 'pending'),
                ('payment_plan_outcome_unknown', '=', True),
                '&',
                ('state', '=', 'draft'),
                ('create_date', '<', threshold),
            ],
            limit=limit,
            # The least recently asked first: a charge the provider cannot tell about never
            # keeps the others waiting.
            order='payment_plan_lookup_date ASC NULLS FIRST, id',
        )
        transactions._payment_plan_refresh()
        return transactions
