import binascii
import logging
from datetime import timedelta

from markupsafe import Markup
from werkzeug.urls import url_encode

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import format_date, hash_sign, verify_hash_signed

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import schedule

_logger = logging.getLogger(__name__)

# The scope of the signed links of mails that open a plan's pay page without a login.
PAY_LINK_SCOPE = 'payment_plan.pay'

# Written by the add-on's own code only (`_write_internal`), never through `write`: the state
# changes through the actions, the reference, invoice and gateway link are the add-on's, the
# schedule's anchor moves with Change Schedule.
PROTECTED_FIELDS = {
    'state',
    'name',
    'invoice_id',
    'sale_order_id',
    'gateway_payment_url',
    'schedule_anchor_date',
    'schedule_anchor_sequence',
}

# Fields that shape the schedule: frozen once the plan runs (changed through the change wizard).
SCHEDULE_FIELDS = {
    'fiscal_position_id',
    'invoice_period',
    'company_id',
    'currency_id',
    'plan_type',
    'amount',
    'interval_number',
    'interval_unit',
    'date_start',
    'installment_count',
}


class PaymentPlan(models.Model):
    _name = 'payment.plan'
    _description = "Payment Plan"
    _inherit = ['portal.mixin', 'mail.thread', 'mail.activity.mixin']
    _order = 'date_start desc, id desc'
    _check_company_auto = True
    _rec_names_search = ['name', 'partner_id']

    name = fields.Char(
        string="Reference",
        readonly=True,
        copy=False,
        index='trigram',
        help="Taken from the sequence when the plan is activated: a draft has none, so a draft "
        "that is never activated (or fails to save) uses no number.",
    )
    description = fields.Char(
        string="Purpose",
        help="What the customer pays for: shown to them on the portal and in mails.",
    )
    partner_id = fields.Many2one(
        string="Customer",
        comodel_name='res.partner',
        required=True,
        index=True,
        tracking=True,
        ondelete='restrict',
        check_company=True,
    )
    company_id = fields.Many2one(
        comodel_name='res.company',
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(
        comodel_name='res.currency',
        required=True,
        compute='_compute_currency_id',
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
    )
    user_id = fields.Many2one(
        string="Responsible",
        comodel_name='res.users',
        default=lambda self: self.env.user,
        tracking=True,
        domain=[('share', '=', False)],
        help="Who is told (by an activity) when the customer's payments fail.",
    )
    plan_type = fields.Selection(
        string="Kind",
        selection=const.PLAN_TYPES,
        required=True,
        default='subscription',
        tracking=True,
    )
    amount = fields.Monetary(
        required=True,
        tracking=True,
        compute='_compute_amount',
        store=True,
        readonly=False,
        precompute=True,
        help="Per period for a subscription; the total to split for an installment plan. The "
        "lines' total, taxes included, when the plan has lines.",
    )
    line_ids = fields.One2many(
        string="Lines",
        comodel_name='payment.plan.line',
        inverse_name='plan_id',
        copy=True,
        help="What the plan bills, with its taxes: each period of a subscription, once for an "
        "installment plan.",
    )
    fiscal_position_id = fields.Many2one(
        comodel_name='account.fiscal.position',
        compute='_compute_fiscal_position_id',
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        help="Maps the products' taxes (and accounts) for this customer, as on their orders.",
    )
    invoice_period = fields.Selection(
        string="Bill",
        selection=const.INVOICE_PERIODS,
        required=True,
        default='advance',
        help="Subscriptions: each charge bills the period it starts (in advance), or the period "
        "that ends the day before it (at period end: the first charge falls a period after the "
        "service starts). Its invoice lines name the period's dates.",
    )
    invoice_mail = fields.Boolean(
        string="Mail Paid Invoices",
        compute='_compute_invoice_mail',
        store=True,
        readonly=False,
        precompute=True,
        help="Each invoice a payment of the plan pays is mailed to the customer, with its PDF "
        "(default: the company's setting). Invoices are posted: a card is charged a posted "
        "invoice.",
    )
    amount_untaxed = fields.Monetary(
        string="Untaxed Amount", compute='_compute_amount', store=True, precompute=True
    )
    amount_tax = fields.Monetary(
        string="Taxes", compute='_compute_amount', store=True, precompute=True
    )
    interval_number = fields.Integer(string="Every", required=True, default=1)
    interval_unit = fields.Selection(
        selection=const.INTERVAL_UNITS,
        required=True,
        default='month',
    )
    date_start = fields.Date(
        string="First Due Date",
        required=True,
        default=fields.Date.context_today,
        tracking=True,
    )
    date_end = fields.Date(
        string="End Date",
        tracking=True,
        help="A subscription charges no period due after this date.",
    )
    installment_count = fields.Integer(
        string="Number of Installments",
        default=0,
        help="Installment plans: the number of installments the total is split into. "
        "Subscriptions: the number of periods to charge (0 for no limit).",
    )
    token_id = fields.Many2one(
        string="Card on File",
        comodel_name='payment.token',
        check_company=True,
        compute='_compute_token_id',
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        ondelete='restrict',
        domain="[('partner_id', 'in', allowed_partner_ids)]",
    )
    allowed_partner_ids = fields.Many2many(
        comodel_name='res.partner',
        compute='_compute_allowed_partner_ids',
    )
    collection_mode = fields.Selection(
        string="Collection",
        selection=const.COLLECTION_MODES,
        required=True,
        default='token',
        tracking=True,
        help="Card on file: Odoo charges the card when an installment falls due.\n"
        "Gateway schedule: the gateway charges on its own schedule and reports by webhook.\n"
        "Manual: staff record the payments.",
    )
    gateway_id = fields.Many2one(
        comodel_name='payment.plan.gateway',
        check_company=True,
        compute='_compute_gateway_id',
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        ondelete='restrict',
        index='btree_not_null',
        help="Gateway schedule: the gateway that collects the plan; only its events settle the "
        "plan's installments.",
    )
    invoice_id = fields.Many2one(
        comodel_name='account.move',
        readonly=True,
        copy=False,
        index='btree_not_null',
        check_company=True,
        help="The invoice of the total of an installment plan, which each installment pays a share of.",
    )
    card_missing = fields.Boolean(
        compute='_compute_card_missing',
        store=True,
        help="The plan is charged to a card on file but has no usable card.",
    )
    allow_card_fallback = fields.Boolean(
        string="Try Another Card",
        help="When a charge is refused, try once the customer's other valid card before counting "
        "the attempt as failed.",
    )
    max_attempts = fields.Integer(
        string="Maximum Attempts",
        required=True,
        compute='_compute_retry_policy',
        store=True,
        readonly=False,
        precompute=True,
        help="How many times a due installment is charged before it is denied (default: the "
        "company's setting).",
    )
    retry_interval_days = fields.Integer(
        string="Days Between Attempts",
        required=True,
        compute='_compute_retry_policy',
        store=True,
        readonly=False,
        precompute=True,
    )
    allow_payer_cancel = fields.Boolean(
        string="Payer May Cancel",
        compute='_compute_allow_payer_cancel',
        store=True,
        readonly=False,
        precompute=True,
        help="The customer may cancel the plan from the portal (no further charges; what is "
        "already due stays due). By default, the company's setting for the plan's kind.",
    )
    gateway_payment_url = fields.Char(
        string="Gateway Payment Link",
        readonly=True,
        copy=False,
        help="The link the gateway gave for the customer to pay the schedule it runs.",
    )
    card_pinned = fields.Boolean(
        string="Pinned to This Card",
        tracking=True,
        help="Keep charging this card when the customer makes another card their default; "
        "otherwise the plan follows the customer's default card.",
    )
    sale_order_id = fields.Many2one(
        comodel_name='sale.order',
        index='btree_not_null',
        copy=False,
        check_company=True,
        tracking=True,
    )
    state = fields.Selection(
        string="Status",
        selection=const.PLAN_STATES,
        required=True,
        default='draft',
        copy=False,
        index=True,
        tracking=True,
    )
    installment_ids = fields.One2many(
        string="Installments",
        comodel_name='payment.plan.installment',
        inverse_name='plan_id',
        copy=False,
    )
    payment_failed = fields.Boolean(
        compute='_compute_payment_failed',
        store=True,
        index=True,
        help="An installment exhausted its attempts and is still unpaid.",
    )
    next_due_date = fields.Date(
        compute='_compute_next_due_date',
        store=True,
    )
    next_charge_date = fields.Date(
        string="Next Charge",
        compute='_compute_next_charge_date',
        compute_sudo=True,  # The portal's list shows it; installments are read only for it.
        help="The next day the collection will charge the card: the earliest attempt planned of "
        "the installments still to charge (never a past day; none while the plan is paused, or "
        "while what is overdue waits for the customer).",
    )
    date_last_denied = fields.Date(
        string="Last Denied On",
        compute='_compute_date_last_denied',
        store=True,
        help="When an installment of the plan, still unpaid, was last denied.",
    )
    schedule_anchor_date = fields.Date(
        copy=False,
        help="Due date of the installment numbered `schedule_anchor_sequence`: later periods are "
        "counted from it (the first due date until the schedule is changed).",
    )
    schedule_anchor_sequence = fields.Integer(copy=False, default=1)
    amount_paid = fields.Monetary(string="Paid", compute='_compute_amounts')
    amount_due = fields.Monetary(string="Still Due", compute='_compute_amounts')
    amount_overdue = fields.Monetary(
        string="Overdue",
        compute='_compute_amounts',
        help="What fell due and is still unpaid (denied, or waiting for a charge).",
    )
    schedule_display = fields.Char(
        string="Schedule",
        compute='_compute_schedule_display',
        help="How often the plan charges, and until when.",
    )
    installment_paid_count = fields.Integer(string="Paid Installments", compute='_compute_amounts')

    _name_company_uniq = models.Constraint(
        'unique(name, company_id)',
        "A payment plan reference must be unique per company.",
    )

    # === COMPUTE METHODS === #

    @api.depends('company_id', 'sale_order_id')
    def _compute_currency_id(self):
        for plan in self:
            plan.currency_id = (
                plan.sale_order_id.currency_id or plan.currency_id or plan.company_id.currency_id
            )

    @api.depends('name', 'description')
    def _compute_display_name(self):
        for plan in self:
            plan.display_name = plan.name or self.env._(
                "Draft: %(description)s", description=plan.description or self.env._("new plan")
            )

    @api.depends('plan_type', 'company_id')
    def _compute_allow_payer_cancel(self):
        for plan in self:
            company = plan.company_id or self.env.company
            plan.allow_payer_cancel = (
                company.payment_plan_payer_cancel_subscriptions
                if plan.plan_type == 'subscription'
                else company.payment_plan_payer_cancel_installments
            )

    def _compute_access_url(self):
        super()._compute_access_url()
        for plan in self:
            plan.access_url = f'/my/plans/{plan.id}'

    @api.depends('partner_id')
    def _compute_allowed_partner_ids(self):
        for plan in self:
            plan.allowed_partner_ids = plan.partner_id | plan.partner_id.commercial_partner_id

    @api.depends('company_id')
    def _compute_retry_policy(self):
        """The company's retry policy (Settings), for plans that were not given their own."""
        for plan in self:
            company = plan.company_id or self.env.company
            if not plan.max_attempts:
                plan.max_attempts = company.payment_plan_max_attempts
            if not plan.retry_interval_days:
                plan.retry_interval_days = company.payment_plan_retry_interval_days

    @api.depends('partner_id', 'company_id')
    def _compute_token_id(self):
        for plan in self:
            if plan.token_id and plan.token_id.partner_id in plan._get_card_holders():
                continue
            plan.token_id = (
                plan.partner_id.with_company(plan.company_id)._get_default_card()
                if plan.partner_id
                else False
            )

    @api.depends('collection_mode', 'company_id')
    def _compute_gateway_id(self):
        """Name the company's gateway when it has exactly one; no gateway outside that mode."""
        for plan in self:
            if plan.collection_mode != 'gateway':
                plan.gateway_id = False
            elif plan.gateway_id.company_id != plan.company_id:
                gateways = self.env['payment.plan.gateway'].search(
                    [('company_id', '=', plan.company_id.id)], limit=2
                )
                plan.gateway_id = gateways if len(gateways) == 1 else False

    @api.depends('collection_mode', 'token_id.active', 'state', 'partner_id')
    def _compute_card_missing(self):
        for plan in self:
            plan.card_missing = (
                plan.collection_mode == 'token'
                and plan.state in ('draft', 'active', 'paused')
                and bool(plan.partner_id)
                and not (plan.token_id and plan.token_id.active)
            )

    @api.depends('installment_ids.state')
    def _compute_payment_failed(self):
        for plan in self:
            plan.payment_failed = 'denied' in plan.installment_ids.mapped('state')

    @api.depends('installment_ids.state', 'installment_ids.date_denied')
    def _compute_date_last_denied(self):
        for plan in self:
            dates = plan.installment_ids.filtered(lambda i: i.state == 'denied').mapped(
                'date_denied'
            )
            plan.date_last_denied = max(dates, default=False)

    @api.depends('installment_ids.state', 'installment_ids.due_date')
    def _compute_next_due_date(self):
        for plan in self:
            open_dates = plan.installment_ids.filtered(
                lambda i: i.state in const.OPEN_INSTALLMENT_STATES
            ).mapped('due_date')
            plan.next_due_date = min(open_dates, default=False)

    @api.depends(
        'state',
        'installment_ids.state',
        'installment_ids.due_date',
        'installment_ids.next_attempt_date',
        'installment_ids.authentication_required',
    )
    def _compute_next_charge_date(self):
        today = self.env['payment.plan.installment']._get_collection_today()
        for plan in self:
            dates = [
                max(installment.next_attempt_date or installment.due_date, today)
                for installment in plan.installment_ids
                if installment.state == 'pending' and not installment.authentication_required
            ]
            plan.next_charge_date = min(dates, default=False) if plan.state == 'active' else False

    @api.depends('partner_id', 'company_id')
    def _compute_fiscal_position_id(self):
        for plan in self:
            company = plan.company_id or self.env.company
            plan.fiscal_position_id = (
                self.env['account.fiscal.position']
                .with_company(company)
                ._get_fiscal_position(plan.partner_id)
                if plan.partner_id
                else False
            )

    @api.depends('company_id', 'plan_type')
    def _compute_invoice_mail(self):
        for plan in self:
            setting = (plan.company_id or self.env.company).payment_plan_invoice_mail
            plan.invoice_mail = setting == 'all' or (
                setting == 'subscriptions' and plan.plan_type == 'subscription'
            )

    @api.depends('line_ids.price_total', 'line_ids.tax_ids', 'currency_id')
    def _compute_amount(self):
        """The amount of a plan with lines is their total, taxes included, rounded as its
        invoices are (the company's tax rounding): what is charged is what is invoiced."""
        for plan in self:
            if not plan.line_ids:
                plan.amount = plan.amount or 0.0
                plan.amount_untaxed = plan.amount
                plan.amount_tax = 0.0
                continue
            totals = plan._get_lines_totals()
            plan.amount_untaxed = totals['base_amount_currency']
            plan.amount_tax = totals['tax_amount_currency']
            plan.amount = totals['total_amount_currency']

    @api.depends('installment_ids.state', 'installment_ids.amount')
    def _compute_amounts(self):
        data = {
            (plan.id, state): (amount, count)
            for plan, state, amount, count in self.env['payment.plan.installment']._read_group(
                [('plan_id', 'in', self.ids)],
                ['plan_id', 'state'],
                ['amount:sum', '__count'],
            )
        }
        for plan in self:
            paid, paid_count = data.get((plan.id, 'paid'), (0.0, 0))
            due = sum(
                data.get((plan.id, state), (0.0, 0))[0] for state in const.OPEN_INSTALLMENT_STATES
            )
            plan.amount_paid = paid
            plan.amount_due = plan.currency_id.round(due)
            plan.installment_paid_count = paid_count
        today = self.env['payment.plan.installment']._get_collection_today()
        for plan in self:
            # Everything that fell due and is unpaid (denied whatever its date), for what is still
            # owed of it (the ledger).
            overdue = plan.installment_ids.filtered(
                lambda i: (
                    i.state == 'denied'
                    or (i.state in const.OPEN_INSTALLMENT_STATES and i.due_date < today)
                )
            )
            plan.amount_overdue = plan.currency_id.round(sum(overdue._get_open_amounts().values()))

    @api.depends('plan_type', 'interval_number', 'interval_unit', 'installment_count', 'date_end')
    def _compute_schedule_display(self):
        for plan in self:
            every = plan._get_interval_label()
            count = plan.installment_count
            if plan.plan_type == 'installments':
                plan.schedule_display = (
                    self.env._("%(every)s, 1 installment", every=every)
                    if count == 1
                    else self.env._("%(every)s, %(count)s installments", every=every, count=count)
                )
            elif count:
                plan.schedule_display = (
                    self.env._("%(every)s, 1 period", every=every)
                    if count == 1
                    else self.env._("%(every)s, %(count)s periods", every=every, count=count)
                )
            elif plan.date_end:
                plan.schedule_display = self.env._(
                    "%(every)s, until %(date)s",
                    every=every,
                    date=format_date(self.env, plan.date_end),
                )
            else:
                plan.schedule_display = self.env._("%(every)s, no end", every=every)

    def _get_interval_label(self):
        """Return "Every month", "Every 2 weeks"...: the plan's interval, in words."""
        self.ensure_one()
        number = self.interval_number or 1
        unit = self.interval_unit or 'day'
        if number == 1:
            return {
                'day': self.env._("Every day"),
                'week': self.env._("Every week"),
                'month': self.env._("Every month"),
                'year': self.env._("Every year"),
            }[unit]
        return {
            'day': self.env._("Every %(number)s days", number=number),
            'week': self.env._("Every %(number)s weeks", number=number),
            'month': self.env._("Every %(number)s months", number=number),
            'year': self.env._("Every %(number)s years", number=number),
        }[unit]

    # === CONSTRAINT METHODS === #

    @api.constrains('amount')
    def _check_amount(self):
        for plan in self:
            if plan.currency_id.compare_amounts(plan.amount, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The amount of plan %(plan)s must be positive.",
                        plan=plan.display_name,
                    )
                )

    @api.constrains('plan_type', 'installment_count', 'interval_number', 'interval_unit', 'amount')
    def _check_schedule(self):
        for plan in self:
            plan._check_schedule_bounds(
                plan.interval_number, plan.interval_unit, plan.installment_count
            )
            if plan.plan_type == 'installments' and plan.installment_count < 1:
                raise ValidationError(
                    self.env._("An installment plan needs at least one installment.")
                )
            if (
                plan.plan_type == 'installments'
                and plan.installment_count >= 1
                and plan.currency_id.compare_amounts(plan.amount, 0) > 0
                and not schedule.split_amount(
                    plan.amount, plan.installment_count, plan.currency_id.rounding
                )[0]
            ):
                raise ValidationError(
                    self.env._(
                        "%(amount)s is too small to be split into %(count)s installments.",
                        amount=plan.currency_id.format(plan.amount),
                        count=plan.installment_count,
                    )
                )

    @api.model
    def _check_schedule_bounds(self, interval_number, interval_unit, count):
        """Check that a schedule of `count` periods of `interval_number` `interval_unit` stays
        in bounds (plans, orders and the change wizard all call this one check).

        :raise ValidationError: If the period is shorter than 1 unit or longer than 10 years, or
                                the count is negative or above `MAX_INSTALLMENT_COUNT`.
        """
        if interval_number < 1:
            raise ValidationError(self.env._("The interval of a plan must be at least 1."))
        maximum = const.MAX_INTERVAL.get(interval_unit)
        if maximum and interval_number > maximum:
            units = dict(self._fields['interval_unit']._description_selection(self.env))
            raise ValidationError(
                self.env._(
                    "A period of %(number)s %(unit)s is too long: at most %(maximum)s %(unit)s.",
                    number=interval_number,
                    unit=units[interval_unit].lower(),
                    maximum=maximum,
                )
            )
        if count < 0:
            raise ValidationError(self.env._("The number of installments cannot be negative."))
        if count > const.MAX_INSTALLMENT_COUNT:
            raise ValidationError(
                self.env._(
                    "%(count)s installments or periods are too many: at most %(maximum)s.",
                    count=count,
                    maximum=const.MAX_INSTALLMENT_COUNT,
                )
            )

    @api.constrains('date_start', 'date_end')
    def _check_dates(self):
        for plan in self:
            if plan.date_end and plan.date_end < plan.date_start:
                raise ValidationError(
                    self.env._(
                        "The end date of plan %(plan)s (%(end)s) is before its first due date (%(start)s).",
                        plan=plan.display_name,
                        end=plan.date_end,
                        start=plan.date_start,
                    )
                )

    @api.constrains('max_attempts', 'retry_interval_days')
    def _check_retry_policy(self):
        for plan in self:
            if plan.max_attempts < 1:
                raise ValidationError(
                    self.env._("A plan makes at least one attempt per installment.")
                )
            if plan.retry_interval_days < 1:
                raise ValidationError(self.env._("Attempts must be at least one day apart."))

    @api.constrains('token_id', 'partner_id', 'currency_id')
    def _check_token(self):
        for plan in self.filtered('token_id'):
            token_sudo = plan.token_id.sudo()  # Staff may see plans without managing tokens.
            if token_sudo.partner_id not in plan._get_card_holders():
                raise ValidationError(
                    self.env._(
                        "The card %(card)s belongs to %(owner)s, not to the customer of plan %(plan)s.",
                        card=token_sudo.display_name,
                        owner=token_sudo.partner_id.display_name,
                        plan=plan.display_name,
                    )
                )
            currencies = token_sudo.provider_id.available_currency_ids
            if currencies and plan.currency_id not in currencies:
                raise ValidationError(
                    self.env._(
                        "The provider of card %(card)s cannot charge in %(currency)s.",
                        card=token_sudo.display_name,
                        currency=plan.currency_id.name,
                    )
                )

    @api.constrains('sale_order_id', 'currency_id', 'partner_id')
    def _check_sale_order(self):
        for plan in self.filtered('sale_order_id'):
            order = plan.sale_order_id
            if order.currency_id != plan.currency_id:
                raise ValidationError(
                    self.env._(
                        "Plan %(plan)s is in %(plan_currency)s but its order %(order)s is in "
                        "%(order_currency)s.",
                        plan=plan.display_name,
                        plan_currency=plan.currency_id.name,
                        order=order.name,
                        order_currency=order.currency_id.name,
                    )
                )
            if order.partner_id.commercial_partner_id != plan.partner_id.commercial_partner_id:
                raise ValidationError(
                    self.env._(
                        "Plan %(plan)s and its order %(order)s are for different customers.",
                        plan=plan.display_name,
                        order=order.name,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """A plan is created a draft: it runs through its actions (`action_activate`)."""
        if any(vals.get('state', 'draft') != 'draft' for vals in vals_list):
            raise UserError(self.env._("A plan is created as a draft: activate it to run it."))
        plans = super().create(vals_list)
        plans.filtered(lambda p: p.state != 'draft')._assign_reference()
        return plans

    def write(self, vals):
        """The state of a plan changes through its actions only, and the schedule of a running
        plan through Change Schedule (`_write_internal`): an RPC call controls its context, so
        no context key can tell the add-on from a caller."""
        if PROTECTED_FIELDS.intersection(vals):
            raise UserError(
                self.env._(
                    "The status, reference, invoice and gateway link of a plan change through its "
                    "actions (activate, pause, resume, cancel, Change Schedule), not by editing "
                    "them."
                )
            )
        if 'amount' in vals and 'line_ids' not in vals:
            billed = self.filtered(
                lambda p: (
                    p.line_ids
                    and p.currency_id.compare_amounts(
                        vals['amount'], p.amount_untaxed + p.amount_tax
                    )
                )
            )
            if billed:
                raise UserError(
                    self.env._(
                        "The amount of a plan with lines (%(plans)s) is their total: change the "
                        "lines.",
                        plans=", ".join(billed.mapped('display_name')),
                    )
                )
        frozen = SCHEDULE_FIELDS.intersection(vals)
        if frozen and any(plan.state != 'draft' for plan in self):
            changed = self.filtered(
                lambda p: (
                    p.state != 'draft'
                    and any(p._fields[f].convert_to_write(p[f], p) != vals[f] for f in frozen)
                )
            )
            if changed:
                raise UserError(
                    self.env._(
                        "The schedule of a running plan (%(plans)s) cannot be edited directly: "
                        "change its installments instead.",
                        plans=", ".join(changed.mapped('name')),
                    )
                )
        moved = self.browse()
        gateways_before = {}
        if {'collection_mode', 'gateway_id'} & set(vals):
            moved = self.filtered(lambda p: p.state in ('active', 'paused'))
            gateways_before = {
                plan.id: plan.gateway_id.id for plan in moved if plan.collection_mode == 'gateway'
            }
            moved._check_gateway_may_leave(vals)
        result = super().write(vals)
        if {'collection_mode', 'gateway_id'} & set(vals):
            self.filtered(lambda p: p.state != 'draft')._check_gateway()
            moved._gateway_tell_move(gateways_before)
        return result

    def _check_gateway_may_leave(self, vals):
        """Refuse to move running plans away from a gateway that runs their schedule and cannot
        be told to stop it (no Schedule URL): it would charge on, for installments no longer its.

        :param dict vals: The values about to be written.
        :raise UserError: When such a gateway would be left.
        """
        for plan in self.filtered(lambda p: p.collection_mode == 'gateway'):
            mode = vals.get('collection_mode', plan.collection_mode)
            gateway_id = vals.get('gateway_id', plan.gateway_id.id)
            gateway_sudo = plan.gateway_id.sudo()
            if (mode, gateway_id) != ('gateway', gateway_sudo.id) and not gateway_sudo.schedule_url:
                raise UserError(
                    self.env._(
                        "%(gateway)s runs the schedule of %(plan)s and cannot be told to stop it "
                        "(it has no Schedule URL): have the gateway stop the schedule, then cancel "
                        "the plan and set up a new one.",
                        gateway=gateway_sudo.name,
                        plan=plan.name,
                    )
                )

    def _gateway_tell_move(self, gateways_before):
        """Tell the gateways of running plans moved to another gateway or collection mode: the
        one that ran the schedule stops it (`schedule.cancelled`), the new one starts it.

        :param dict gateways_before: {plan id: the gateway id that ran its schedule}
        """
        for plan in self:
            before = gateways_before.get(plan.id)
            now = plan.gateway_id.id if plan.collection_mode == 'gateway' else False
            if before == now:
                continue
            if before:
                plan._gateway_notify_after_commit('schedule.cancelled', gateway_id=before)
            if now:
                plan._gateway_notify_after_commit('schedule.created')
            plan.message_post(
                body=self.env._("The plan's collection changed: its gateways are told.")
            )

    def _write_internal(self, vals):
        """Write what only the add-on's own code writes: the state, the schedule of a running
        plan."""
        # The parent's write, past this model's guard.
        return super().write(vals)  # pylint: disable=super-method-mismatch

    @api.ondelete(at_uninstall=False)
    def _unlink_except_started(self):
        started = self.filtered(
            lambda p: p.state not in ('draft', 'cancelled') or p.installment_ids.transaction_ids
        )
        if started:
            raise UserError(
                self.env._(
                    "Only draft plans, or cancelled plans that never charged anything, can be deleted. "
                    "Cancel %(plans)s instead.",
                    plans=", ".join(started.mapped('name')),
                )
            )

    # === ACTION METHODS === #

    def action_activate(self):
        """Start collecting: generate the schedule of installments and run the plan."""
        for plan in self:
            if plan.state != 'draft':
                raise UserError(
                    self.env._(
                        "Plan %(plan)s is not a draft: it cannot be activated.",
                        plan=plan.display_name,
                    )
                )
            if plan.collection_mode == 'token' and not plan.token_id:
                raise UserError(
                    self.env._(
                        "Plan %(plan)s is collected from a card on file, but %(customer)s has no card "
                        "for it. Ask the customer to register a card, or choose another collection mode.",
                        plan=plan.display_name,
                        customer=plan.partner_id.display_name,
                    )
                )
            if plan.collection_mode == 'token':
                self.env['payment.plan.installment']._check_charge_rights(plan.company_id)
                refusal = plan.token_id._payment_plan_get_charge_refusal(
                    plan.partner_id, plan.company_id, plan.currency_id
                )
                if refusal:
                    raise UserError(
                        self.env._(
                            "Plan %(plan)s cannot charge %(card)s: %(reason)s",
                            plan=plan.display_name,
                            card=plan.token_id.display_name,
                            reason=refusal,
                        )
                    )
        self._start()
        return True

    def action_pause(self):
        """Stop charging for a while; due installments wait for the plan to resume."""
        if self.filtered(lambda p: p.state != 'active'):
            raise UserError(self.env._("Only running plans can be paused."))
        self._write_internal({'state': 'paused'})
        return True

    def action_resume(self):
        """Charge again; installments that fell due during the pause are collected first."""
        if self.filtered(lambda p: p.state != 'paused'):
            raise UserError(self.env._("Only paused plans can be resumed."))
        self._write_internal({'state': 'active'})
        self._extend_subscription_schedule()
        return True

    def action_cancel(self):
        """Stop the plan: nothing more falls due; what is already due stays due."""
        if self.filtered(lambda p: p.state in ('done', 'cancelled')):
            raise UserError(self.env._("Only draft, running or paused plans can be cancelled."))
        self._cancel_plans(self.env._("The plan was cancelled."))
        return True

    def action_retry_denied(self):
        """Charge the denied installments of the plans again, now."""
        denied = self.installment_ids.filtered(lambda i: i.state == 'denied')
        if not denied:
            raise UserError(self.env._("None of these plans has a denied installment."))
        denied.action_retry_now()
        return True

    def action_send_card_update_link(self):
        """Mail the customers of the plans a link to update their card and pay what is overdue."""
        denied = self.installment_ids.filtered(lambda i: i.state == 'denied')
        if not denied:
            raise UserError(self.env._("None of these plans has a denied installment."))
        template = self.env.ref('payment_plan.mail_template_installment_denied')
        for installment in denied:
            # Staff asked for it: a customer the mail cannot reach is a refusal, not a note.
            installment.partner_id._payment_plan_notify(
                installment, mail_template=template, required=True
            )
        return True

    def action_change_schedule(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Change Plan %(plan)s", plan=self.name),
            'res_model': 'payment.plan.change',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_plan_id': self.id},
        }

    @api.model
    def action_open_recently_denied(self):
        """Open the plans with an installment denied in the last days (the Settings' number)."""
        days = self.env.company.payment_plan_recently_denied_days
        since = fields.Date.subtract(fields.Date.context_today(self), days=days)
        list_view = self.env.ref('payment_plan.payment_plan_view_list_denied')
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Recently Denied"),
            'res_model': 'payment.plan',
            'view_mode': 'list,form',
            'views': [(list_view.id, 'list'), (False, 'form')],
            'domain': [('date_last_denied', '>=', since)],
            'context': {'create': False},
            'help': Markup('<p class="o_view_nocontent_smiling_face">%s</p><p>%s</p>')
            % (
                self.env._("No payment denied in the last %(days)s days", days=days),
                self.env._(
                    "A plan shows here when an installment was denied after its last attempt: "
                    "retry it, or send the customer a link to update their card."
                ),
            ),
        }

    def action_view_installments(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Installments of %(plan)s", plan=self.display_name),
            'res_model': 'payment.plan.installment',
            'view_mode': 'list,form',
            'domain': [('plan_id', '=', self.id)],
            'context': {'default_plan_id': self.id},
        }

    def action_export_operations(self):
        """Open the export of the plans' operations (installments, attempts, payments)."""
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Export Operations"),
            'res_model': 'payment.plan.export',
            'view_mode': 'form',
            'target': 'new',
            'context': {'active_model': self._name, 'active_ids': self.ids},
        }

    # === BUSINESS METHODS === #

    def _get_report_base_filename(self):
        """Return the name of the schedule's PDF (Odoo's portal names a downloaded report so)."""
        self.ensure_one()
        return self.env._("Schedule %(plan)s", plan=self.name)

    def _get_lines_totals(self):
        """Return Odoo's tax totals of the plan's lines (`account.tax._get_tax_totals_summary`):
        the untaxed amount, the taxes and the total, rounded as an invoice of them is."""
        self.ensure_one()
        AccountTax = self.env['account.tax']
        company = self.company_id or self.env.company
        base_lines = [line._prepare_base_line_for_taxes_computation() for line in self.line_ids]
        AccountTax._add_tax_details_in_base_lines(base_lines, company)
        AccountTax._round_base_lines_tax_details(base_lines, company)
        return AccountTax._get_tax_totals_summary(
            base_lines=base_lines,
            currency=self.currency_id or company.currency_id,
            company=company,
        )

    def _prepare_invoice_values(self, amount, invoice_date, period=None):
        """Return the values of a customer invoice of `amount` of this plan: its lines, with
        their products, taxes and analytic distribution (each period of a subscription, named on
        the lines with its dates). An amount other than the lines' total (changed by Change
        Schedule, the rest of an installment plan) bills the lines in proportion, taxes
        included (`_round_invoice` then makes the total exact); a plan without lines bills one
        line of `amount`, without tax.

        :param float amount: The amount invoiced, taxes included.
        :param date invoice_date: The invoice date.
        :param period: The subscription installment (period) invoiced, if any.
        """
        self.ensure_one()
        period_label = period and self._get_period_label(period)
        if self.line_ids:
            total = self.amount_untaxed + self.amount_tax
            ratio = 1.0 if self._bills_lines(amount) or not total else amount / total
            lines = []
            for line in self.line_ids:
                values = line._prepare_invoice_line_values(period_label)
                values['price_unit'] *= ratio
                lines.append(Command.create(values))
        else:
            label = self.description or self.name
            if period:
                label = self.env._("%(label)s (%(period)s)", label=label, period=period_label)
            lines = [
                Command.create(
                    {
                        'name': label,
                        'quantity': 1,
                        'price_unit': amount,
                        'tax_ids': [Command.clear()],
                    }
                )
            ]
        return {
            'move_type': 'out_invoice',
            'partner_id': self.partner_id.id,
            'currency_id': self.currency_id.id,
            'invoice_date': invoice_date,
            # Where it comes from, as Odoo's invoices of an order name it: the order, then the plan.
            'invoice_origin': ', '.join(filter(None, [self.sale_order_id.name, self.name])),
            'invoice_user_id': self.user_id.id,
            'fiscal_position_id': self.fiscal_position_id.id,
            'invoice_line_ids': lines,
        }

    def _get_period_label(self, period):
        """Return the name of a subscription's `period` on its invoice lines: its reference and
        the dates it covers (`_get_period_dates`), as an accountant reads them ("SUB/0001-02:
        04/01/2026 to 04/30/2026")."""
        self.ensure_one()
        start, end = self._get_period_dates(period)
        return self.env._(
            "%(reference)s: %(start)s to %(end)s",
            reference=period.name,
            start=format_date(self.env, start),
            end=format_date(self.env, end),
        )

    def _get_period_dates(self, period):
        """Return the first and last days a subscription's `period` bills: from its due date to
        the day before the next period's (billed in advance), or from the previous period's due
        date to the day before its own (billed at period end). The neighbours are the plan's own
        periods (as Change Schedule left them), else the schedule's dates: consecutive periods
        join up, around month ends and February 29th too, each day billed once.

        :rtype: tuple[datetime.date, datetime.date]
        """
        self.ensure_one()
        others = self.installment_ids.filtered(lambda i: i.state != 'cancelled' and i != period)
        if self.invoice_period == 'arrears':
            previous = others.filtered(lambda i: i.sequence < period.sequence).sorted('sequence')
            start = previous[-1:].due_date or self._get_scheduled_due_date(period.sequence - 1)
            return start, period.due_date - timedelta(days=1)
        following = others.filtered(lambda i: i.sequence > period.sequence).sorted('sequence')
        end = following[:1].due_date or self._get_scheduled_due_date(period.sequence + 1)
        return period.due_date, end - timedelta(days=1)

    def _get_scheduled_due_date(self, sequence):
        """Return the due date the schedule gives period number `sequence`, counted from its
        anchor (before it for a period before the anchor)."""
        self.ensure_one()
        anchor, unit, number = self._get_schedule_anchor(), self.interval_unit, self.interval_number
        offset = sequence - self.schedule_anchor_sequence
        if offset >= 0:
            return schedule.add_interval(anchor, unit, number, offset)
        return schedule.subtract_interval(anchor, unit, number, -offset)

    def _bills_lines(self, amount):
        """Return whether an invoice of `amount` bills the plan's lines as they are: the amount
        they were agreed at (a tax changed since then is billed as it is now). Another amount
        (changed by Change Schedule) bills them in proportion."""
        self.ensure_one()
        return bool(self.line_ids) and not self.currency_id.compare_amounts(
            amount, self.amount_untaxed + self.amount_tax
        )

    def _round_invoice(self, invoice, amount):
        """Make the draft `invoice` of `amount` that bills the plan's lines in proportion total
        that amount exactly (`account.move._payment_plan_round_to`): what is charged is what is
        invoiced. An invoice of the lines as they are bills their taxes as they are now
        (`_align_with_invoice`)."""
        self.ensure_one()
        if self.line_ids and not self._bills_lines(amount):
            invoice._payment_plan_round_to(amount)

    def _get_untaxed_share(self, amount):
        """Return the untaxed part of `amount` of this plan: its lines' untaxed share (an amount
        changed since bills them in proportion), else all of it (billed without tax)."""
        self.ensure_one()
        total = self.amount_untaxed + self.amount_tax
        if not self.line_ids or self.currency_id.is_zero(total):
            return amount
        return self.currency_id.round(amount * self.amount_untaxed / total)

    def _align_with_invoice(self, invoice, installments=None):
        """Make the installments that `invoice` backs owe its total, when the plan's lines are
        invoiced for another amount than the schedule's (a tax changed since the plan was made):
        a period owes its invoice; an installment plan's last installment absorbs the
        difference. What is charged is what is invoiced.

        :param account.move invoice: The plan's posted invoice (of a period, or of the plan).
        :param payment.plan.installment installments: The period the invoice is of, if any.
        """
        self.ensure_one()
        if not self._bills_lines(sum((installments or self).mapped('amount'))):
            return
        currency = invoice.currency_id
        backed = installments or self.installment_ids.filtered(lambda i: i.state != 'cancelled')
        difference = invoice.amount_total - sum(backed.mapped('amount'))
        if currency.is_zero(difference):
            return
        last = backed.sorted('sequence')[-1:]
        if (
            last.state not in const.OPEN_INSTALLMENT_STATES
            or currency.compare_amounts(last.amount + difference, 0) <= 0
        ):
            return
        old_amount = last.amount
        last._write_internal({'amount': currency.round(old_amount + difference)})
        self.message_post(
            body=self.env._(
                "%(invoice)s bills %(total)s: %(name)s now owes %(new)s instead of %(old)s.",
                invoice=invoice.name,
                total=currency.format(invoice.amount_total),
                name=last.name,
                new=currency.format(last.amount),
                old=currency.format(old_amount),
            )
        )

    @api.constrains('company_id')
    def _check_lines_company(self):
        """Refuse a plan whose lines tax in another company (the plan's company changed)."""
        for plan in self:
            foreign = plan.line_ids.tax_ids.filtered(
                lambda tax, plan=plan: (
                    tax.company_id and tax.company_id not in plan.company_id.parent_ids
                )
            )
            if foreign:
                raise ValidationError(
                    self.env._(
                        "The taxes %(taxes)s of plan %(plan)s are another company's: set the "
                        "lines' taxes of %(company)s.",
                        taxes=", ".join(foreign.mapped('name')),
                        plan=plan.display_name,
                        company=plan.company_id.name,
                    )
                )

    def _check_lines_editable(self):
        """Refuse to change the lines of a running plan: what it bills changes through Change
        Schedule, as its amount does."""
        running = self.filtered(lambda p: p.state != 'draft')
        if running:
            raise UserError(
                self.env._(
                    "The lines of a running plan (%(plans)s) are not edited: they are what its "
                    "customer agreed to pay.",
                    plans=", ".join(running.mapped('display_name')),
                )
            )

    @api.model
    def _log_story(self, story):
        """Log on each plan what happened to its payments, in one message per plan and in as
        few queries as there are plans.

        :param dict story: {payment.plan: [lines]}
        """
        bodies = {
            plan.id: Markup('<br/>').join(lines) for plan, lines in story.items() if plan and lines
        }
        if bodies:
            self.browse(bodies)._message_log_batch(bodies=bodies)

    def action_request_card(self):
        """Send the customer a link to register the card that will pay the plan."""
        self.ensure_one()
        return self.partner_id.action_payment_plan_request_card()

    def _get_pay_url(self, redacted=False):
        """Return the link of mails that opens the plan's "update your card and pay now" page
        without a login: signed, valid for `const.PAY_LINK_VALIDITY_DAYS` days, for this plan
        only. Logging in opens the full portal as ever.

        :param bool redacted: Whether to hide the link's secret, for the copies that staff see.
        """
        self.ensure_one()
        if redacted:
            token = '***'
        else:
            token = hash_sign(
                self.sudo().env,
                PAY_LINK_SCOPE,
                {'plan': self.id, 'partner': self.partner_id.id},
                expiration=timedelta(days=const.PAY_LINK_VALIDITY_DAYS),
            )
        return f'{self.get_base_url()}/my/plans/{self.id}/pay?{url_encode({"pay_token": token})}'

    def _check_pay_token(self, token):
        """Return whether `token` is a valid, unexpired pay link of this plan and customer."""
        self.ensure_one()
        if not token or not isinstance(token, str):
            return False
        try:
            values = verify_hash_signed(self.sudo().env, PAY_LINK_SCOPE, token)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return False
        return bool(
            isinstance(values, dict)
            and values.get('plan') == self.id
            and values.get('partner') == self.partner_id.id
        )

    def _get_installments_to_pay_now(self):
        """Return the installments the customer pays from the portal, in one payment: every one
        denied or waiting for their authentication, the oldest first."""
        self.ensure_one()
        return self.installment_ids.filtered(
            lambda i: i.state == 'denied' or (i.state == 'pending' and i.authentication_required)
        ).sorted(lambda i: (i.due_date, i.sequence))

    def _get_amount_to_pay_now(self):
        """Return what the customer pays from the portal in one payment: what is still owed of
        the installments to pay now (`_get_installments_to_pay_now`)."""
        self.ensure_one()
        return self.currency_id.round(
            sum(self._get_installments_to_pay_now()._get_open_amounts().values())
        )

    def _get_schedule_preview(self, limit=const.SCHEDULE_PREVIEW_LIMIT):
        """Return the charges the plan will make, as the payer is shown them before paying:
        [(date, amount)], the installments still to pay (its schedule once it runs, else the
        one it will have), at most `limit` of a subscription's periods."""
        self.ensure_one()
        if self.installment_ids:
            planned = self.installment_ids.filtered(
                lambda i: i.state in const.OPEN_INSTALLMENT_STATES
            ).sorted('sequence')
            return [(i.due_date, i.amount) for i in planned[:limit]]
        if self.plan_type == 'installments':
            values = self._prepare_split_installments(
                self.amount, self.installment_count, self.date_start
            )
            return [(vals['due_date'], vals['amount']) for vals in values]
        count = min(self.installment_count or limit, limit)
        dates = schedule.schedule_dates(
            self.date_start, self.interval_unit, self.interval_number, count=count
        )
        return [(due, self.amount) for due in dates]

    def _get_consent_text(self, paying=None):
        """Return what the payer agrees to when their card is saved for the plan: the statement
        shown before they pay, and kept with their consent (`payment.plan.consent.text`).

        :param payment.plan.installment paying: The installments the payment pays now (the
            first one when the plan has no schedule yet: an order's first payment).
        """
        self.ensure_one()
        currency = self.currency_id
        if self.installment_ids:
            planned = self.installment_ids.filtered(
                lambda i: i.state in const.OPEN_INSTALLMENT_STATES and i not in (paying or ())
            ).sorted('sequence')
            later = [(i.due_date, i.amount) for i in planned]
        else:
            later = self._get_schedule_preview()[1:]
        if self.plan_type == 'subscription':
            start = later[0][0] if later else self.date_start
            charges = self.env._(
                "%(amount)s, %(every)s from %(date)s, %(until)s",
                amount=currency.format(self.amount),
                every=self._get_interval_label().lower(),
                date=format_date(self.env, start),
                until=self.env._("%(count)s times in all", count=self.installment_count)
                if self.installment_count
                else self.env._("until the plan ends or is cancelled"),
            )
        elif later:
            charges = ", ".join(
                self.env._(
                    "%(amount)s on %(date)s",
                    amount=currency.format(amount),
                    date=format_date(self.env, due),
                )
                for due, amount in later
            )
        else:
            charges = self.env._("what is still due of it")
        return self.env._(
            "I agree that %(company)s keeps my card on file and charges it, without asking me "
            "again, for %(plan)s: %(charges)s.",
            company=self.company_id.name,
            plan=self.description or self.name or self.env._("the plan"),
            charges=charges,
        )

    def _can_payer_cancel(self):
        """Return whether the customer may cancel the plan from the portal."""
        self.ensure_one()
        return self.allow_payer_cancel and self.state in ('active', 'paused')

    def _check_gateway(self):
        """Refuse to run a plan collected by a gateway that does not name it: only that
        gateway's events settle the plan.

        Checked when a plan starts or is moved to that mode, not as a constraint: a database
        upgraded from a version without the field keeps its plans (the migration names the
        company's only gateway, and logs the plans it cannot) until staff choose.
        """
        for plan in self.filtered(
            lambda p: (
                p.collection_mode == 'gateway'
                and not p.gateway_id
                and p.state in ('draft', 'active', 'paused')
            )
        ):
            raise ValidationError(
                self.env._(
                    "Plan %(plan)s is collected by a gateway: choose which one (only its events "
                    "will settle the plan).",
                    plan=plan.display_name,
                )
            )

    def _gateway_prepare_schedule(self):
        """Return the schedule the gateway runs for the plan: customer, amounts, dates."""
        self.ensure_one()
        partner = self.partner_id
        to_charge = self.installment_ids.filtered(
            lambda i: i.state in const.OPEN_INSTALLMENT_STATES
        ).sorted('sequence')
        # What the gateway may charge of each: what is still owed (another path may have paid
        # part of it).
        open_amounts = to_charge._get_open_amounts()
        return {
            'reference': self.name,
            'order_reference': self.sale_order_id.name or None,
            'description': self.description or None,
            'kind': self.plan_type,
            'currency': self.currency_id.name,
            'amount': self.amount,
            'interval': {'number': self.interval_number, 'unit': self.interval_unit},
            'customer': {
                'name': partner.name,
                'email': partner.email or None,
                'phone': partner.phone_sanitized or partner.phone or None,
                'vat': partner.vat or None,
                'ref': partner.ref or None,
            },
            'installments': [
                {
                    'reference': installment.name,
                    'due_date': fields.Date.to_string(installment.due_date),
                    'amount': open_amounts[installment.id],
                }
                for installment in to_charge
            ],
        }

    def _gateway_notify_after_commit(self, event_type, gateway_id=None):
        """Tell the gateways of the plans they collect of `event_type` once the current
        transaction is committed (never of a plan the request then rolls back), in a cursor of
        its own; a gateway that does not take it is told on the plan, for staff to act.

        :param int gateway_id: The gateway to tell instead of the plans' own (the one that ran
                               a schedule the plans left).
        """
        Gateway = self.env['payment.plan.gateway'].sudo()
        plans = self.filtered(
            lambda p: (
                (Gateway.browse(gateway_id) if gateway_id else p.gateway_id.sudo()).schedule_url
                and (gateway_id or p.collection_mode == 'gateway')
            )
        )
        if not plans:
            return
        self.env['payment.plan.queue']._call_after_commit(
            plans, '_gateway_notify', event_type, gateway_id=gateway_id, uid=SUPERUSER_ID
        )

    def _gateway_notify(self, event_type, gateway_id=None):
        """Send each plan's gateway (or `gateway_id`) the event, and record its answer (a payment
        link for the customer) or its refusal on the plan."""
        for plan in self:
            gateway = plan.gateway_id.browse(gateway_id) if gateway_id else plan.gateway_id
            try:
                answer = gateway._send_event(event_type, plan._gateway_prepare_schedule())
            except UserError as error:
                plan.message_post(body=str(error))
                plan.activity_schedule(
                    'mail.mail_activity_data_todo',
                    user_id=(plan.user_id or self.env.ref('base.user_admin')).id,
                    summary=self.env._("The gateway did not take the schedule"),
                    note=str(error),
                )
                continue
            plan.message_post(
                body=self.env._(
                    "%(gateway)s was sent the event %(event)s.",
                    gateway=gateway.name,
                    event=event_type,
                )
            )
            payment_url = answer.get('payment_url')
            if (
                event_type == 'schedule.created'
                and isinstance(payment_url, str)
                and payment_url.startswith('https://')
            ):
                plan._write_internal({'gateway_payment_url': payment_url})
                plan._gateway_send_payment_url()

    def _gateway_send_payment_url(self):
        """Send the customer the gateway's link to pay the schedule, by email and, where the
        company texts its customers, by SMS."""
        self.ensure_one()
        self.partner_id._payment_plan_notify(
            self,
            mail_template=self.env.ref('payment_plan.mail_template_gateway_payment_link'),
            sms_template=self.env.ref('payment_plan.sms_template_gateway_payment_link'),
        )

    def _assign_reference(self):
        """Give the plans without one their reference, from the company's sequence."""
        for plan in self.filtered(lambda p: not p.name):
            plan._write_internal(
                {
                    'name': self.env['ir.sequence']
                    .with_company(plan.company_id)
                    .next_by_code('payment.plan', sequence_date=plan.date_start)
                }
            )

    def _start(self):
        """Run the draft plans: take their reference, generate their schedule of installments."""
        self._check_gateway()
        self._assign_reference()
        self._write_internal({'state': 'active'})
        self._generate_installments()
        self._check_done()
        self._gateway_notify_after_commit('schedule.created')

    def _get_card_holders(self):
        """Return the partners whose cards may pay for this plan
        (`res.partner._payment_plan_get_card_holders`)."""
        self.ensure_one()
        return self.partner_id._payment_plan_get_card_holders()

    def _get_regenerable_installments(self):
        """Return the unpaid installments that a schedule change may replace: pending ones
        with no attempt under way."""
        return self.installment_ids.filtered(lambda i: i.state == 'pending')

    def _get_schedule_anchor(self):
        """Return the due date of installment number `schedule_anchor_sequence`."""
        self.ensure_one()
        return self.schedule_anchor_date or self.date_start

    def _cancel_plans(self, reason):
        """Cancel the plans and their installments not yet due, and say why in the chatter.

        :param str reason: The message posted on each plan.
        """
        today = self.env['payment.plan.installment']._get_collection_today()
        self._write_internal({'state': 'cancelled'})
        self.installment_ids.filtered(
            lambda i: i.state == 'pending' and i.due_date > today
        )._set_cancelled()
        for plan in self:
            plan.message_post(body=reason)
        self._gateway_notify_after_commit('schedule.cancelled')

    def _reschedule(self, amount, next_due_date, remaining_count=0, reason=None):
        """Regenerate the plan's unpaid installments: the new amount (per period, or the rest
        of the total split into `remaining_count` installments) from `next_due_date`.

        Installments with a charge under way or done are kept (cancelled when unpaid), others
        replaced; the change is told in the chatter.
        """
        self.ensure_one()
        if self.state not in ('active', 'paused'):
            raise UserError(self.env._("Only running or paused plans can be changed."))
        if not next_due_date:
            raise UserError(self.env._("Choose the next due date: the new schedule starts on it."))
        self._check_no_charge_under_way()
        unpaid = self._get_regenerable_installments()
        kept = self.installment_ids - unpaid
        first_sequence = max(kept.mapped('sequence'), default=0) + 1
        before = self._describe_unpaid(unpaid)
        # The ledger follows the schedule: what the replaced installments owed on their invoices
        # is credited; an installment plan's new total is invoiced below.
        self._credit_replaced_installments(unpaid)
        unpaid.filtered(lambda i: not i.transaction_ids).unlink()
        unpaid.exists()._set_cancelled()
        if unpaid.exists():
            first_sequence = max(self.installment_ids.mapped('sequence')) + 1
        plan_values = {
            'schedule_anchor_date': next_due_date,
            'schedule_anchor_sequence': first_sequence,
        }
        if self.plan_type == 'installments':
            new_installments = self.env['payment.plan.installment']._create_quietly(
                self._prepare_split_installments(
                    amount, remaining_count, next_due_date, first_sequence
                )
            )
            if self.invoice_id:
                # The rest is invoiced anew: the new installments pay shares of that invoice.
                # Invoices are the accountants' records: the plan's new rest is invoiced,
                # whoever changes the plan.
                invoice = (
                    self.env['account.move']
                    .sudo()
                    .with_company(self.company_id)
                    .with_context(mail_create_nolog=True)
                    .create(self._prepare_invoice_values(amount, fields.Date.context_today(self)))
                )
                self._round_invoice(invoice, amount)
                invoice.action_post()
                self._write_internal({'invoice_id': invoice.id})
                new_installments._write_internal({'invoice_id': invoice.id})
            paid = sum(
                kept.filtered(lambda i: i.state in ('paid', 'processing', 'denied')).mapped(
                    'amount'
                )
            )
            plan_values.update(
                {
                    'amount': self.currency_id.round(paid + amount),
                    'installment_count': len(kept.filtered(lambda i: i.state != 'cancelled'))
                    + remaining_count,
                }
            )
        else:
            plan_values['amount'] = amount
        self._write_internal(plan_values)
        self._extend_subscription_schedule()
        after = self._describe_unpaid(self._get_regenerable_installments())
        self._gateway_notify_after_commit('schedule.updated')
        self.message_post(
            body=self.env._(
                "Schedule changed%(reason)s. Before: %(before)s. After: %(after)s.",
                reason=f" ({reason})" if reason else "",
                before=before,
                after=after,
            )
        )

    def _check_no_charge_under_way(self):
        """Refuse to change a plan while a charge of it is under way: a charge sent and not
        settled, an installment being charged, or a payment of its invoices started online.

        :raise UserError: When one is under way.
        """
        self.ensure_one()
        open_installments = self.installment_ids.filtered(
            lambda i: i.state in const.OPEN_INSTALLMENT_STATES
        )
        if open_installments.filtered(lambda i: i.state == 'processing'):
            raise UserError(
                self.env._(
                    "A charge of %(plan)s is under way: wait for its outcome.", plan=self.name
                )
            )
        open_installments._check_no_payment_under_way()
        # Transactions are the payment administrators' records: only their state is read.
        arrived = open_installments.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.state == 'done' and tx.operation != 'validation' and not tx.is_post_processed
            )
        )
        received = open_installments.invoice_id.sudo()._payment_plan_get_received_amounts()
        if arrived or any(received.values()):
            raise UserError(
                self.env._(
                    "A payment of %(plan)s arrived and is being recorded: change the plan once it "
                    "is (in a few minutes).",
                    plan=self.name,
                )
            )

    def _credit_replaced_installments(self, installments):
        """Credit, on each posted invoice backing `installments` (about to be replaced), what is
        still open of it beyond what the other open installments of the invoice owe: the ledger
        then owes exactly the schedule that remains."""
        self.ensure_one()
        Installment = self.env['payment.plan.installment']
        for invoice, replaced in (
            installments.filtered(lambda i: i.invoice_id.state == 'posted')
            .grouped('invoice_id')
            .items()
        ):
            others = Installment.search(
                [
                    ('invoice_id', '=', invoice.id),
                    ('state', 'in', const.OPEN_INSTALLMENT_STATES),
                    ('id', 'not in', replaced.ids),
                ]
            )
            owed_by_others = sum(others._get_open_amounts().values())
            credit = invoice._payment_plan_get_open_amount() - owed_by_others
            if invoice.currency_id.compare_amounts(credit, 0) > 0:
                # Invoices are the accountants' records: a plan change keeps them equal to the
                # schedule, whoever changes the plan.
                invoice.sudo()._payment_plan_credit(
                    credit,
                    self.env._("Schedule of %(plan)s changed", plan=self.name),
                )

    def _describe_unpaid(self, installments):
        """Return a line telling the unpaid `installments` of the plan (for the chatter)."""
        self.ensure_one()
        values = {
            'count': len(installments),
            'total': self.currency_id.format(sum(installments.mapped('amount'))),
            'date': format_date(self.env, min(installments.mapped('due_date'), default=False))
            or "-",
        }
        if len(installments) == 1:
            return self.env._("1 unpaid installment of %(total)s from %(date)s", **values)
        return self.env._("%(count)s unpaid installments of %(total)s from %(date)s", **values)

    def _prepare_installment_values(self, sequence, due_date, amount):
        """Return the values of the installment number `sequence` of the plan."""
        self.ensure_one()
        return {
            'plan_id': self.id,
            'sequence': sequence,
            'name': f"{self.name}-{sequence:02d}",
            'due_date': due_date,
            'amount': float(amount),
        }

    def _prepare_split_installments(self, total, count, first_date, first_sequence=1):
        """Return the values of `count` installments that split `total` exactly, one interval
        apart from `first_date`, numbered from `first_sequence`."""
        self.ensure_one()
        dates = schedule.schedule_dates(
            first_date, self.interval_unit, self.interval_number, count=count
        )
        amounts = schedule.split_amount(total, count, self.currency_id.rounding)
        return [
            self._prepare_installment_values(sequence, due, amount)
            for sequence, (due, amount) in enumerate(
                zip(dates, amounts, strict=True), start=first_sequence
            )
        ]

    def _generate_installments(self):
        """Create the first schedule of activated plans (the whole one for installment plans)."""
        vals_list = []
        for plan in self.filtered(
            lambda p: p.plan_type == 'installments' and not p.installment_ids
        ):
            vals_list += plan._prepare_split_installments(
                plan.amount, plan.installment_count, plan.date_start
            )
        self.env['payment.plan.installment']._create_quietly(vals_list)
        self._extend_subscription_schedule()

    def _extend_subscription_schedule(self):
        """Keep `SUBSCRIPTION_HORIZON` pending periods scheduled on running subscriptions."""
        subscriptions = self.filtered(
            lambda p: p.plan_type == 'subscription' and p.state == 'active'
        )
        vals_list = []
        for plan in subscriptions:
            installments = plan.installment_ids
            last_sequence = max(installments.mapped('sequence'), default=0)
            missing = const.SUBSCRIPTION_HORIZON - len(
                installments.filtered(lambda i: i.state == 'pending')
            )
            if plan.installment_count:
                missing = min(missing, plan.installment_count - last_sequence)
            if missing <= 0:
                continue
            dates = schedule.schedule_dates(
                plan._get_schedule_anchor(),
                plan.interval_unit,
                plan.interval_number,
                first_period=last_sequence + 1 - plan.schedule_anchor_sequence,
                count=missing,
                until=plan.date_end or None,
            )
            vals_list += [
                plan._prepare_installment_values(last_sequence + offset, due, plan.amount)
                for offset, due in enumerate(dates, start=1)
            ]
        self.env['payment.plan.installment']._create_quietly(vals_list)

    def _is_schedule_complete(self):
        """Tell whether the plan will never schedule another installment."""
        self.ensure_one()
        if self.plan_type == 'installments':
            return True
        last = max(self.installment_ids.mapped('sequence'), default=0)
        if self.installment_count and last >= self.installment_count:
            return True
        if self.date_end:
            return self._get_scheduled_due_date(last + 1) > self.date_end
        return False

    def _check_done(self):
        """Close the running plans that have nothing left to collect."""
        finished = self.filtered(
            lambda p: (
                p.state == 'active'
                and p._is_schedule_complete()
                and not p.installment_ids.filtered(
                    lambda i: i.state in const.OPEN_INSTALLMENT_STATES
                )
            )
        )
        if finished:
            # One message says it (rather than a state tracking plus this message).
            finished.with_context(mail_notrack=True)._write_internal({'state': 'done'})
            message = self.env._("All installments are settled: the plan is done.")
            finished._message_log_batch(bodies=dict.fromkeys(finished.ids, message))
        return finished

    @api.model
    def _cron_extend_schedules(self, batch_size=200):
        """Top up the schedules of running subscriptions and close the plans that are over."""
        plan_ids = self.search([('state', '=', 'active')], order='id').ids
        in_cron = bool(self.env.context.get('ir_cron_progress_id'))
        for start in range(0, len(plan_ids), batch_size):
            plans = self.browse(plan_ids[start : start + batch_size])
            plans._extend_subscription_schedule()
            plans._check_done()
            if in_cron:
                self.env['ir.cron']._commit_progress(
                    len(plans),
                    remaining=max(len(plan_ids) - start - batch_size, 0),
                )
            self.env.invalidate_all()
