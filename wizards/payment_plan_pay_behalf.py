from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from odoo.addons.payment_plan import const

PAY_BEHALF_MODES = [
    ('total', "Charge the open balance"),
    ('partial', "Charge part of it"),
    ('installments', "Split it into installments"),
    ('oneoff', "Charge a card given by phone, this time only"),
]


class PaymentPlanPayBehalf(models.TransientModel):
    _name = 'payment.plan.pay.behalf'
    _description = "Pay on Behalf of a Customer"
    _check_company_auto = True

    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related='company_id.currency_id')
    partner_id = fields.Many2one(string="Customer", comodel_name='res.partner', required=True)
    invoice_ids = fields.Many2many(
        string="Invoices",
        comodel_name='account.move',
        compute='_compute_invoice_ids',
        store=True,
        readonly=False,
        domain="[('commercial_partner_id', '=', partner_id), "
        + repr(const.OPEN_INVOICE_DOMAIN)[1:],
        check_company=True,
    )
    settle_plans = fields.Boolean(
        string="Settle Plans Early",
        help="Also charge invoices that running plans collect: the plans are then settled early "
        "(and the gateways that run their schedules told).",
    )
    open_amount = fields.Monetary(string="Open Balance", compute='_compute_open_amount')
    mode = fields.Selection(
        string="What to Do", selection=PAY_BEHALF_MODES, required=True, default='total'
    )
    amount = fields.Monetary(string="Amount to Charge")
    token_id = fields.Many2one(
        string="Card", comodel_name='payment.token', compute='_compute_token_id'
    )
    oneoff_amount = fields.Monetary(
        string="Amount", help="Charged to the card given by phone (at most the open balance)."
    )
    billing_street = fields.Char(help="The card's billing address, when not the customer's.")
    billing_zip = fields.Char(string="Billing ZIP")
    billing_city = fields.Char()
    billing_country_id = fields.Many2one(comodel_name='res.country')
    installment_count = fields.Integer(string="Installments", default=3)
    interval_number = fields.Integer(string="Every", default=1)
    interval_unit = fields.Selection(selection=const.INTERVAL_UNITS, default='month')
    date_start = fields.Date(string="First Due Date", default=fields.Date.context_today)

    # === COMPUTE METHODS === #

    @api.depends('partner_id', 'company_id')
    def _compute_invoice_ids(self):
        for wizard in self:
            if not wizard.partner_id:
                wizard.invoice_ids = False
                continue
            Move = self.env['account.move']
            invoices = Move.search(
                Move._payment_plan_get_open_invoice_domain(
                    wizard.partner_id.commercial_partner_id, wizard.company_id
                )
            )
            # Invoices that a running plan collects are left to it unless chosen by hand.
            wizard.invoice_ids = invoices._payment_plan_filter_payable()

    @api.depends('invoice_ids', 'settle_plans')
    def _compute_open_amount(self):
        Line = self.env['payment.plan.charge.batch.line']
        for wizard in self:
            wizard.open_amount = Line._compute_charge_amount(
                wizard.invoice_ids._origin._payment_plan_filter_payable(
                    settle_plans=wizard.settle_plans
                ),
                'open',
                0,
            )

    @api.depends('partner_id', 'company_id')
    def _compute_token_id(self):
        Line = self.env['payment.plan.charge.batch.line']
        for wizard in self:
            wizard.token_id = wizard.partner_id and Line._get_card(
                wizard.partner_id.commercial_partner_id, wizard.company_id
            )

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        if self.env.context.get('active_model') == 'res.partner' and 'partner_id' in fields:
            values.setdefault('partner_id', self.env.context.get('active_id'))
        return values

    # === ACTION METHODS === #

    def _open_oneoff_card_page(self, invoices):
        """Open, for the staff member on the phone with the customer, the provider's own form to
        charge a card given by phone once (mail/telephone order: not saved), for the invoices.

        The amount, the invoices and the customer are the link's, set here; the page only takes
        the card.
        """
        if (
            not self.env['payment.provider']
            .sudo()
            ._payment_plan_get_moto_providers(self.company_id)
        ):
            raise UserError(
                self.env._("No payment provider of the company accepts cards given by phone.")
            )
        open_amount = invoices._payment_plan_get_open_amount()
        amount = self.oneoff_amount or open_amount
        currency = invoices.currency_id[:1] or self.currency_id
        if (
            currency.compare_amounts(amount, 0) <= 0
            or currency.compare_amounts(amount, open_amount) > 0
        ):
            raise ValidationError(
                self.env._(
                    "The amount to charge must be positive and at most the open balance "
                    "(%(balance)s).",
                    balance=currency.format(open_amount),
                )
            )
        link = (
            self.env['payment.plan.payment.link']
            .sudo()
            .create(
                {
                    'partner_id': self.partner_id.id,
                    'company_id': self.company_id.id,
                    'currency_id': currency.id,
                    'amount': amount,
                    'reason': self.env._(
                        "Invoices %(names)s", names=", ".join(invoices.mapped('name'))
                    ),
                    'invoice_ids': [Command.set(invoices.ids)],
                    'channel': 'moto',
                    'moto': True,
                    'user_id': self.env.uid,
                    'billing_street': self.billing_street,
                    'billing_zip': self.billing_zip,
                    'billing_city': self.billing_city,
                    'billing_country_id': self.billing_country_id.id,
                }
            )
        )
        return {'type': 'ir.actions.act_url', 'url': link._get_url(), 'target': 'new'}

    def action_confirm(self):
        """Charge the card now (total or part), or set up an installment plan for the balance."""
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id
        # Only the customer's own invoices of the company, whatever the form sent.
        chosen = self.invoice_ids.filtered(
            lambda inv: inv.commercial_partner_id == partner and inv.company_id == self.company_id
        )
        invoices = chosen._payment_plan_filter_payable(settle_plans=self.settle_plans)
        if not invoices:
            if chosen._payment_plan_get_collected_by_plans():
                raise UserError(
                    self.env._(
                        "A running payment plan collects these invoices: choose to settle the "
                        "plan early to charge them now."
                    )
                )
            raise UserError(
                self.env._(
                    "%(customer)s has no open invoice to pay.", customer=self.partner_id.name
                )
            )
        if self.mode == 'installments':
            return self._create_installment_plan(invoices)
        if self.mode == 'oneoff':
            return self._open_oneoff_card_page(invoices)
        amount = self.open_amount
        if self.mode == 'partial':
            if not self.currency_id.compare_amounts(self.amount, 0) > 0 or (
                self.currency_id.compare_amounts(self.amount, self.open_amount) > 0
            ):
                raise ValidationError(
                    self.env._(
                        "The amount to charge must be positive and at most the open balance "
                        "(%(balance)s).",
                        balance=self.currency_id.format(self.open_amount),
                    )
                )
            amount = self.amount
        Line = self.env['payment.plan.charge.batch.line']
        card = Line._get_card(partner, self.company_id)
        reason = Line._get_skip_reason(partner, card, invoices, amount, invoices.currency_id[:1])
        if reason:
            raise UserError(
                self.env._(
                    "%(customer)s cannot be charged: %(reason)s",
                    customer=partner.name,
                    reason=reason,
                )
            )
        batch = self.env['payment.plan.charge.batch'].create(
            {
                'company_id': self.company_id.id,
                'charge_mode': 'fixed',
                'settle_plans': self.settle_plans,
                'line_ids': [
                    Command.create(
                        {
                            'partner_id': partner.id,
                            'currency_id': invoices.currency_id[:1].id,
                            'invoice_ids': [Command.set(invoices.ids)],
                            'amount': amount,
                            'token_id': card.id,
                        }
                    )
                ],
            }
        )
        return batch._process()

    # === BUSINESS METHODS === #

    def _create_installment_plan(self, invoices):
        """Create and start a plan of installments paying the open balance of one invoice."""
        if len(invoices) != 1:
            raise UserError(
                self.env._(
                    "Choose the one invoice to split into installments: a plan pays one invoice."
                )
            )
        if self.installment_count < 2:
            raise ValidationError(self.env._("Split the balance into at least 2 installments."))
        partner = self.partner_id.commercial_partner_id
        card = self.env['payment.plan.charge.batch.line']._get_card(partner, self.company_id)
        if card and card._payment_plan_get_charge_refusal(
            partner, self.company_id, invoices.currency_id
        ):
            card = self.env['payment.token']  # Collected by staff until a card may be charged.
        plan = self.env['payment.plan'].create(
            {
                'partner_id': partner.id,
                'company_id': self.company_id.id,
                'currency_id': invoices.currency_id.id,
                'plan_type': 'installments',
                'description': self.env._("Balance of %(invoice)s", invoice=invoices.name),
                'amount': invoices._payment_plan_get_open_amount(),
                'installment_count': self.installment_count,
                'interval_number': self.interval_number,
                'interval_unit': self.interval_unit,
                'date_start': self.date_start,
                'collection_mode': 'token' if card else 'manual',
                'token_id': card.id,
                'invoice_id': invoices.id,
            }
        )
        plan.action_activate()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'payment.plan',
            'res_id': plan.id,
            'view_mode': 'form',
        }
