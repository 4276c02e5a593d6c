from collections import Counter, defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from odoo.addons.payment_plan import const


class PaymentPlanMassCharge(models.TransientModel):
    _name = 'payment.plan.mass.charge'
    _description = "Charge Many Customers' Cards on File"
    _check_company_auto = True

    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related='company_id.currency_id')
    partner_ids = fields.Many2many(string="Customers", comodel_name='res.partner')
    invoice_ids = fields.Many2many(
        string="Invoices",
        comodel_name='account.move',
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted')]",
        check_company=True,
    )
    charge_mode = fields.Selection(
        string="Charge", selection=const.CHARGE_MODES, required=True, default='open'
    )
    fixed_amount = fields.Monetary(
        string="Amount per Customer",
        help="Charged to each customer, at most their open balance, oldest invoice first.",
    )
    note = fields.Char(
        help="Shown on the payments' receipts (their memo) and on the batch, e.g. what is charged.",
    )
    percent = fields.Float(
        string="Share of the Balance (%)", default=100.0, help="Of each customer's open balance."
    )
    settle_plans = fields.Boolean(
        string="Settle Plans Early",
        help="Also charge the invoices that running plans collect (their future installments): "
        "the plans are then settled early, and the gateways that run their schedules told. "
        "Otherwise those invoices are left to their plans.",
    )
    charge_count = fields.Integer(string="Customers to Charge", compute='_compute_summary')
    skip_count = fields.Integer(string="Customers Skipped", compute='_compute_summary')
    amount_total = fields.Monetary(string="Total to Charge", compute='_compute_summary')
    summary = fields.Text(compute='_compute_summary')
    preview_html = fields.Html(
        string="Preview",
        compute='_compute_summary',
        sanitize=False,
        help="One line per customer charged (a company or household pays for its contacts): "
        "what is charged, with which card, or why the customer is skipped. The charge does "
        "exactly this.",
    )

    # === COMPUTE METHODS === #

    @api.depends(
        'partner_ids', 'invoice_ids', 'charge_mode', 'fixed_amount', 'percent', 'settle_plans'
    )
    def _compute_summary(self):
        for wizard in self:
            lines = wizard._prepare_line_values()
            charged = [vals for vals in lines if vals['state'] == 'queued']
            wizard.charge_count = len(charged)
            wizard.skip_count = len(lines) - len(charged)
            wizard.amount_total = sum(vals['amount'] for vals in charged)
            reasons = Counter(vals['message'] for vals in lines if vals['state'] == 'skipped')
            wizard.summary = "\n".join(
                self.env._("%(count)s skipped: %(reason)s", count=count, reason=reason)
                for reason, count in reasons.most_common()
            )
            wizard.preview_html = wizard._render_preview(lines)

    def _render_preview(self, lines):
        """Return the table of what the charge will do, one row per line of the batch."""
        self.ensure_one()
        if not lines:
            return False
        rows = []
        for vals in lines:
            partner = self.env['res.partner'].browse(vals['partner_id'])
            contacts = self.partner_ids._origin.filtered(
                lambda p, entity=partner: p.commercial_partner_id == entity and p != entity
            )
            rows.append(
                {
                    'partner': partner,
                    'contacts': contacts,
                    'invoices': self.env['account.move'].browse(vals['invoice_ids'][0][2]),
                    'amount': self.env['res.currency']
                    .browse(vals['currency_id'])
                    .format(vals['amount']),
                    'card': self.env['payment.token'].sudo().browse(vals['token_id'] or []),
                    'skipped': vals['state'] == 'skipped',
                    'reason': vals['message'],
                }
            )
        return self.env['ir.qweb']._render('payment_plan.mass_charge_preview', {'rows': rows})

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        active_model = self.env.context.get('active_model')
        active_ids = self.env.context.get('active_ids') or []
        if active_model == 'res.partner' and 'partner_ids' in fields:
            values['partner_ids'] = [Command.set(active_ids)]
        elif active_model == 'account.move' and 'invoice_ids' in fields:
            values['invoice_ids'] = [Command.set(active_ids)]
        return values

    # === CONSTRAINT METHODS === #

    @api.constrains('charge_mode', 'fixed_amount', 'percent')
    def _check_amounts(self):
        for wizard in self:
            if (
                wizard.charge_mode == 'fixed'
                and wizard.currency_id.compare_amounts(wizard.fixed_amount, 0) <= 0
            ):
                raise ValidationError(self.env._("Give the amount to charge each customer."))
            if wizard.charge_mode == 'percent' and not 0 < wizard.percent <= 100:
                raise ValidationError(
                    self.env._("The share of the balance must be between 0 and 100%.")
                )

    # === ACTION METHODS === #

    def action_charge(self):
        """Record the mass charge as a batch and charge it, at once or in the background."""
        self.ensure_one()
        lines = self._prepare_line_values()
        if not lines:
            raise UserError(self.env._("Select the customers or the invoices to charge."))
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'company_id': self.company_id.id,
                'charge_mode': self.charge_mode,
                'settle_plans': self.settle_plans,
                'note': self.note,
                'line_ids': [
                    Command.create({**vals, 'sequence': sequence})
                    for sequence, vals in enumerate(lines, start=1)
                ],
            }
        )
        return batch._process()

    # === BUSINESS METHODS === #

    def _get_open_invoices(self):
        """Return the open invoices to charge: those selected, or the selected customers'."""
        self.ensure_one()
        # The dialog's records are new ones until it is saved: their originals are compared.
        if self.invoice_ids:
            invoices = self.invoice_ids._origin
        elif self.partner_ids:
            Move = self.env['account.move']
            invoices = Move.search(
                Move._payment_plan_get_open_invoice_domain(
                    self.partner_ids._origin.commercial_partner_id, self.company_id
                )
            )
        else:
            return self.env['account.move']
        return invoices.filtered(
            lambda inv: inv.move_type == 'out_invoice' and inv.company_id == self.company_id
        )

    def _prepare_line_values(self):
        """Return the values of the batch lines: one per customer (commercial entity) and
        currency, with the open invoices it pays, the amount and the card, or why it is skipped.

        :rtype: list[dict]
        """
        self.ensure_one()
        Line = self.env['payment.plan.charge.batch.line']
        invoices = self._get_open_invoices()
        payable = invoices._payment_plan_filter_payable(settle_plans=self.settle_plans)
        per_customer = defaultdict(lambda: self.env['account.move'])
        for invoice in invoices:
            per_customer[invoice.commercial_partner_id, invoice.currency_id] |= invoice
        # Selected customers without any open invoice are listed too, as skipped.
        invoiced = invoices.commercial_partner_id
        for partner in self.partner_ids._origin.commercial_partner_id - invoiced:
            per_customer[partner, self.currency_id] = self.env['account.move']
        value = self.fixed_amount if self.charge_mode == 'fixed' else self.percent
        lines = []
        for (partner, currency), customer_invoices in per_customer.items():
            open_invoices = customer_invoices & payable
            amount = Line._compute_charge_amount(open_invoices, self.charge_mode, value)
            card = Line._get_card(partner, self.company_id)
            reason = Line._get_skip_reason(partner, card, open_invoices, amount, currency)
            if reason and customer_invoices and not open_invoices:
                reason = Line._get_unpayable_reason(customer_invoices)
            lines.append(
                {
                    'partner_id': partner.id,
                    'currency_id': currency.id,
                    'invoice_ids': [Command.set((open_invoices or customer_invoices).ids)],
                    'amount': 0.0 if reason else amount,  # A skipped customer is charged nothing.
                    'token_id': card.id,
                    'state': 'skipped' if reason else 'queued',
                    'message': reason or False,
                }
            )
        return lines
