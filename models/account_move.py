from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
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

    def _payment_plan_get_charges_under_way(self, online_drafts=True):
        """Return, for each of the invoices with a payment sent and not settled, claimed by the
        collection service, or started online a moment ago, the installments those payments are
        for (`False` for a payment of no installment): {invoice id: set of installment ids}.

        :param bool online_drafts: Whether a payment started online and not sent yet counts (the
                                   customer may be on the provider's page); the customer's own
                                   new payment on Odoo's invoice page ignores their drafts.
        :rtype: dict
        """
        if not self:
            return {}
        hold_since = fields.Datetime.subtract(
            fields.Datetime.now(),
            minutes=const.ONLINE_PAYMENT_HOLD_MINUTES if online_drafts else 0,
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

    def _payment_plan_credit(self, amount, reason, reconcile=True):
        """Credit `amount` of the invoice: a posted credit note of its lines in proportion, with
        their products, accounts, taxes and analytic distribution, whose total is `amount` exactly
        (a last untaxed line takes the cents the taxes' rounding leaves). The one way the add-on
        credits an invoice: what a changed plan no longer owes, what was refunded on a card.

        :param float amount: The amount credited, taxes included, in the invoice's currency.
        :param str reason: The credit note's reference.
        :param bool reconcile: Whether to reconcile the credit note with the invoice (what it no
                               longer owes); else it is left for the refund's payment.
        :return: The credit note.
        """
        self.ensure_one()
        currency = self.currency_id
        product_lines = self.invoice_line_ids.filtered(lambda line: line.display_type == 'product')
        ratio = amount / self.amount_total if self.amount_total else 0.0
        credit_note = (
            self.with_company(self.company_id)
            .with_context(mail_create_nolog=True)
            .create(
                {
                    'move_type': 'out_refund',
                    'partner_id': self.partner_id.id,
                    'currency_id': currency.id,
                    'fiscal_position_id': self.fiscal_position_id.id,
                    'invoice_user_id': self.invoice_user_id.id,
                    'invoice_date': fields.Date.context_today(self),
                    'invoice_origin': self.invoice_origin,
                    # Posting a credit note of an invoice reconciles them (Odoo's reversal): a
                    # refund's credit note is linked to its invoice once posted, for the refund's
                    # payment to be reconciled with it.
                    'reversed_entry_id': reconcile and self.id,
                    'ref': reason,
                    'invoice_line_ids': [
                        Command.create(
                            {
                                'product_id': line.product_id.id,
                                'name': line.name,
                                'quantity': line.quantity,
                                'price_unit': line.price_unit * ratio,
                                'discount': line.discount,
                                'account_id': line.account_id.id,
                                'tax_ids': [Command.set(line.tax_ids.ids)],
                                'analytic_distribution': line.analytic_distribution,
                            }
                        )
                        for line in product_lines
                    ],
                }
            )
        )
        # Its taxes are its share of the invoice's, counted on all that is credited so far: the
        # parts of a refund credit the invoice's taxes exactly. The total is `amount` regardless.
        label = reason if not product_lines else None
        taxes = credit_note._payment_plan_get_tax_corrections(
            *self._payment_plan_get_creditable_taxes(amount)
        )
        credit_note._payment_plan_round_to(
            amount,
            label,
            tax=credit_note.amount_tax
            + sum(target - current for current, target in taxes.values()),
        )
        credit_note._payment_plan_set_tax_amounts(
            {group: target for group, (_current, target) in taxes.items()}
        )
        credit_note._payment_plan_round_to(amount, label)
        credit_note.action_post()
        credit_note.reversed_entry_id = self
        if reconcile:
            receivable = self.line_ids.filtered(
                lambda line: line.display_type == 'payment_term' and not line.reconciled
            )
            (
                receivable
                + credit_note.line_ids.filtered(
                    lambda line: line.account_id in receivable.account_id and not line.reconciled
                )
            ).reconcile()
        self.message_post(
            body=self.env._(
                "%(amount)s credited (%(credit_note)s): %(reason)s.",
                amount=currency.format(amount),
                credit_note=credit_note.name,
                reason=reason,
            )
        )
        return credit_note

    def _payment_plan_get_tax_amounts(self):
        """Return the tax of each tax group of the invoices and credit notes, positive, and how
        many tax lines make it.

        :rtype: dict[int, tuple[float, int]]
        """
        amounts = {}
        for line in self.line_ids.filtered('tax_line_id'):
            sign = -1 if line.move_id.is_inbound() else 1
            tax, count = amounts.get(line.tax_group_id.id, (0.0, 0))
            amounts[line.tax_group_id.id] = (tax + sign * line.amount_currency, count + 1)
        return amounts

    def _payment_plan_get_creditable_taxes(self, amount):
        """Return the tax of each tax group that a credit note of `amount` credits: its share of
        the invoice's taxes counted on all that is credited so far, less what earlier credit notes
        credited; and by how much, at most, rounding may have made earlier credit notes miss their
        share. Refunds in parts that make the invoice credit its taxes exactly, to the cent. Only
        groups of one tax line (one tax, one account) are counted: a correction is made on one
        line.

        :return: ({tax group id: tax}, the largest correction rounding explains)
        :rtype: tuple[dict, float]
        """
        self.ensure_one()
        currency = self.currency_id
        earlier = self.search(
            [
                ('reversed_entry_id', '=', self.id),
                ('move_type', '=', 'out_refund'),
                ('state', '=', 'posted'),
            ]
        )
        credited = sum(earlier.mapped('amount_total')) + amount
        share = min(credited / self.amount_total, 1.0) if self.amount_total else 0.0
        before = earlier._payment_plan_get_tax_amounts()
        targets = {
            group: currency.round(currency.round(tax * share) - before.get(group, (0.0, 0))[0])
            for group, (tax, count) in self._payment_plan_get_tax_amounts().items()
            if count == 1
        }
        return targets, currency.rounding * (len(earlier) + 1)

    def _payment_plan_get_tax_corrections(self, targets, tolerance):
        """Return the tax groups of the draft credit note to correct to `targets`: those of one
        tax line whose tax its lines' rounding misses by at most `tolerance` (a credit note made
        by hand of some lines only is no share: the taxes of its lines are left as they are).

        :return: {tax group id: (tax, corrected tax)}
        :rtype: dict
        """
        self.ensure_one()
        currency = self.currency_id
        return {
            group: (tax, targets[group])
            for group, (tax, count) in self._payment_plan_get_tax_amounts().items()
            if count == 1
            and group in targets
            and currency.compare_amounts(targets[group], 0) >= 0
            and currency.compare_amounts(abs(targets[group] - tax), tolerance) <= 0
        }

    def _payment_plan_set_tax_amounts(self, amounts):
        """Set the tax of each tax group of the draft move to `amounts` ({tax group id: tax}),
        as staff do in the form's totals (Odoo's `tax_totals`): the receivable follows."""
        self.ensure_one()
        totals = self.tax_totals
        if not totals or not amounts:
            return
        changed = False
        for subtotal in totals['subtotals']:
            for group in subtotal['tax_groups']:
                target = amounts.get(group['id'])
                if target is not None and self.currency_id.compare_amounts(
                    target, group['tax_amount_currency']
                ):
                    group['tax_amount_currency'] = target
                    changed = True
        if changed:
            self.tax_totals = totals

    def _payment_plan_round_to(self, amount, label=None, tax=None):
        """Make the draft invoice (or credit note) total `amount` exactly: a last line without
        tax takes the cents by which its lines in proportion miss it once their taxes are
        rounded. The one home of "what is charged (credited) is what is invoiced, to the cent".

        :param float amount: The total the move must have, in its currency.
        :param str label: The line's label (default: "Rounding").
        :param float tax: The tax the move is about to have (`_payment_plan_set_tax_amounts`),
                          instead of the tax its lines make now.
        """
        self.ensure_one()
        tax = self.amount_tax if tax is None else tax
        difference = self.currency_id.round(amount - self.amount_untaxed - tax)
        if self.currency_id.is_zero(difference):
            return
        product_lines = self.invoice_line_ids.filtered(lambda line: line.display_type == 'product')
        self.write(
            {
                'invoice_line_ids': [
                    Command.create(
                        {
                            'name': label or self.env._("Rounding"),
                            'quantity': 1,
                            'price_unit': difference,
                            'account_id': (
                                product_lines[:1].account_id or self.journal_id.default_account_id
                            ).id,
                            'tax_ids': [Command.clear()],
                        }
                    )
                ]
            }
        )

    # === BUSINESS METHODS: WHAT IS OPEN (the one home of these rules) === #

    @api.model
    def _payment_plan_get_open_invoice_domain(self, commercial_partners, company=None):
        """Return the domain of the posted customer invoices of `commercial_partners` (of
        `company`) with something left to pay: the candidates every path filters with
        `_payment_plan_filter_payable`."""
        domain = [
            *const.OPEN_INVOICE_DOMAIN,
            ('commercial_partner_id', 'in', commercial_partners.ids),
        ]
        if company:
            domain.append(('company_id', '=', company.id))
        return domain

    def _payment_plan_get_received_amounts(self):
        """Return, for each invoice, the money received but not yet recorded: done payments
        (not card validations, not refunds) whose payment Odoo's post-processing has not created
        yet. A transaction paying several invoices is shared among them, the oldest due first,
        up to what each has open. {invoice id: amount in the invoice's currency}

        :rtype: dict
        """
        received = dict.fromkeys(self.ids, 0.0)
        if not self:
            return received
        # Transactions are the payment administrators' records: only their amounts are read.
        transactions_sudo = (
            self.env['payment.transaction']
            .sudo()
            .search(
                [
                    ('invoice_ids', 'in', self.ids),
                    ('state', '=', 'done'),
                    ('payment_id', '=', False),
                    ('operation', 'not in', ('validation', 'refund')),
                ]
            )
        )
        shared = {}
        for tx in transactions_sudo:
            remaining = tx.amount
            for invoice in tx.invoice_ids.sudo().sorted(
                lambda inv: (inv.invoice_date_due or inv.date, inv.id)
            ):
                if remaining <= 0:
                    break
                amount = tx.currency_id._convert(
                    remaining, invoice.currency_id, invoice.company_id, tx.create_date.date()
                )
                share = min(amount, max(invoice.amount_residual - shared.get(invoice.id, 0.0), 0.0))
                shared[invoice.id] = shared.get(invoice.id, 0.0) + share
                remaining -= invoice.currency_id._convert(
                    share, tx.currency_id, invoice.company_id, tx.create_date.date()
                )
        for invoice_id in received:
            received[invoice_id] = shared.get(invoice_id, 0.0)
        return received

    def _payment_plan_get_open_amounts(self):
        """Return what is still open on each invoice: nothing on an invoice that is not a posted
        customer invoice left to pay (a cancelled one keeps its residual), else its residual less the money received but not yet recorded
        (`_payment_plan_get_received_amounts`). No charge of any path exceeds it.
        {invoice id: amount}

        :rtype: dict
        """
        received = self._payment_plan_get_received_amounts()
        return {
            invoice.id: (
                invoice.currency_id.round(max(invoice.amount_residual - received[invoice.id], 0.0))
                if invoice.state == 'posted'
                and invoice.move_type == 'out_invoice'
                and invoice.payment_state in const.OPEN_INVOICE_PAYMENT_STATES
                else 0.0
            )
            for invoice in self
        }

    def _payment_plan_get_open_amount(self):
        """Return what is open on the invoices together (`_payment_plan_get_open_amounts`)."""
        return sum(self._payment_plan_get_open_amounts().values())

    def _payment_plan_get_collected_by_plans(self):
        """Return the invoices that a running plan collects: those backing an installment still
        open of an active or paused plan. They are the plan's to collect."""
        # Installments are the plan users' records: only which invoices they back is read.
        installments_sudo = (
            self.env['payment.plan.installment']
            .sudo()
            .search(
                [
                    ('invoice_id', 'in', self.ids),
                    ('state', 'in', const.OPEN_INSTALLMENT_STATES),
                    ('plan_id.state', 'in', ('active', 'paused')),
                ]
            )
        )
        return self & self.browse(installments_sudo.invoice_id.ids)

    def _payment_plan_filter_payable(self, exclude_lines=None, settle_plans=False):
        """Return the invoices that a charge may pay now, the oldest due first: the one rule of
        "payable", for every path that charges or asks for the payment of an invoice.

        Payable: a posted customer invoice with something open (`_payment_plan_get_open_amounts`,
        money received and not yet recorded counted as paid), that no charge pays right now
        (neither a charge batch line other than `exclude_lines` nor a payment under way), and that
        no running plan collects, unless `settle_plans` (the user chose to settle those plans
        early: the plans, and their gateways, are then told).

        :param payment.plan.charge.batch.line exclude_lines: Lines whose own charge is ignored.
        :param bool settle_plans: Whether invoices collected by running plans are payable.
        :rtype: account.move
        """
        exclude_lines = exclude_lines or self.env['payment.plan.charge.batch.line']
        candidates = self.filtered(
            lambda inv: (
                not inv.payment_plan_charge_line_id
                or inv.payment_plan_charge_line_id in exclude_lines
            )
        )
        open_amounts = candidates._payment_plan_get_open_amounts()
        charging = candidates._payment_plan_get_charges_under_way()
        collected = (
            self.browse() if settle_plans else candidates._payment_plan_get_collected_by_plans()
        )
        return (
            candidates.filtered(
                lambda inv: (
                    inv.currency_id.compare_amounts(open_amounts[inv.id], 0) > 0
                    and inv.id not in charging
                    and inv not in collected
                )
            )
        ).sorted(lambda inv: (inv.invoice_date_due or inv.invoice_date or inv.date, inv.id))

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
        paid = installments_sudo._filter_paid()._register_payment(
            note=self.env._("paid on their invoice by another payment")
        )
        # A gateway that runs the plan's schedule must not charge what was paid here.
        paid.plan_id._gateway_notify_after_commit('schedule.updated')
        return paid
