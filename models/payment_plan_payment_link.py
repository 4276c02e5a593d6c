from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.models.payment_plan_collection import lock_rows_nowait


class PaymentPlanPaymentLink(models.Model):
    """A link sent to a customer to pay an amount (a fee, a balance, an open invoice) on the
    provider's own form; they may save the card there, with their consent."""

    _name = 'payment.plan.payment.link'
    _inherit = ['payment.plan.link.mixin']
    _description = "Payment Link"
    _order = 'id desc'
    _check_company_auto = True
    _link_route = '/payment_plan/pay'

    partner_id = fields.Many2one(
        string="Customer",
        comodel_name='res.partner',
        required=True,
        index=True,
        readonly=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        comodel_name='res.company',
        required=True,
        readonly=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(comodel_name='res.currency', required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    reason = fields.Char(required=True, readonly=True)
    invoice_ids = fields.Many2many(
        string="Invoices", comodel_name='account.move', readonly=True, check_company=True
    )
    moto = fields.Boolean(
        string="Card Given by Phone",
        readonly=True,
        help="Staff enter a card the customer gives by phone, for this payment only: the "
        "providers that accept mail/telephone orders, and the card is not saved.",
    )
    billing_street = fields.Char(readonly=True)
    billing_zip = fields.Char(readonly=True)
    billing_city = fields.Char(readonly=True)
    billing_country_id = fields.Many2one(comodel_name='res.country', readonly=True)
    channel = fields.Selection(
        selection=[*const.PAYMENT_LINK_CHANNELS, ('moto', "Phone (MOTO)")],
        required=True,
        default='email',
        readonly=True,
    )
    user_id = fields.Many2one(
        string="Sent By",
        comodel_name='res.users',
        readonly=True,
        default=lambda self: self.env.user,
    )
    state = fields.Selection(
        string="Status",
        selection=const.PAYMENT_LINK_STATES,
        required=True,
        default='sent',
        readonly=True,
    )
    status = fields.Selection(
        string="Link Status",
        selection=[
            *const.PAYMENT_LINK_STATES,
            ('expired', "Expired"),
            ('undelivered', "Not Delivered"),
        ],
        compute='_compute_status',
        help="Where the link stands: sent, not delivered (its mail or SMS failed), opened by the "
        "customer, paid, cancelled, or expired unpaid.",
    )
    link_url = fields.Char(
        string="Link",
        compute='_compute_link_url',
        groups='payment_plan.group_manager',
        help="The customer's link, to send them another way: it is theirs only, like a password.",
    )
    date_expiry = fields.Datetime(
        string="Expires On",
        required=True,
        readonly=True,
        default=lambda self: fields.Datetime.add(
            fields.Datetime.now(), days=const.PAYMENT_LINK_VALIDITY_DAYS
        ),
    )
    date_opened = fields.Datetime(string="Opened On", readonly=True)
    date_paid = fields.Datetime(string="Paid On", readonly=True)
    date_last_payment = fields.Datetime(string="Last Payment Started", readonly=True)
    transaction_ids = fields.One2many(
        string="Payments",
        comodel_name='payment.transaction',
        inverse_name='payment_plan_payment_link_id',
        readonly=True,
    )

    _amount_positive = models.Constraint('CHECK(amount > 0)', "A payment link asks for an amount.")

    # === COMPUTE METHODS === #

    @api.depends('partner_id', 'amount', 'currency_id')
    def _compute_display_name(self):
        for link in self:
            link.display_name = self.env._(
                "Payment link of %(amount)s for %(customer)s",
                amount=link.currency_id.format(link.amount),
                customer=link.partner_id.display_name,
            )

    @api.depends('state', 'date_expiry', 'delivery_state')
    def _compute_status(self):
        now = fields.Datetime.now()
        for link in self:
            if link.state in ('sent', 'opened') and link.date_expiry < now:
                link.status = 'expired'
            elif link.state == 'sent' and link.delivery_state in ('failed', 'bounced'):
                link.status = 'undelivered'
            else:
                link.status = link.state

    def _compute_link_url(self):
        now = fields.Datetime.now()
        for link in self:
            usable = link.state in ('sent', 'opened') and link.date_expiry >= now
            link.link_url = usable and link._get_url()

    # === BUSINESS METHODS === #

    @api.model
    def _check_link(self, link_id, token):
        """Return the link (sudoed) and what is wrong with it, without telling a stranger
        whether the link exists.

        :return: (link in sudo, problem) where problem is None, 'invalid', 'expired' or 'paid'.
        :rtype: tuple
        """
        link_sudo = self._find_by_token(link_id, token)
        if not link_sudo:
            return link_sudo, 'invalid'
        if link_sudo.state == 'paid':
            return link_sudo, 'paid'
        if link_sudo.state == 'cancelled' or link_sudo.date_expiry < fields.Datetime.now():
            return link_sudo, 'expired'
        return link_sudo, None

    def _get_amount_due(self):
        """Return what the link asks now: its amount, at most what is open on its invoice."""
        self.ensure_one()
        if self.invoice_ids:
            open_amounts = self.invoice_ids.sudo()._payment_plan_get_open_amounts()
            # Only invoices still open are paid: none when one of them is closed.
            if not all(open_amounts.values()):
                return 0.0
            return min(self.amount, sum(open_amounts.values()))
        # An amount without an invoice: what its done payments (recorded or not yet) left.
        paid = sum(self._get_payments().mapped('amount'))
        return self.currency_id.round(max(self.amount - paid, 0.0))

    def _get_payments(self):
        """Return the payments made through the link (done, neither validations nor refunds)."""
        self.ensure_one()
        return self.sudo().transaction_ids.filtered(
            lambda tx: tx.state == 'done' and tx.operation not in ('validation', 'refund')
        )

    def _lock_for_payment(self):
        """Take the link (and its invoices) for one payment at a time, or refuse.

        The link's row is locked and updated: a second tab or a double click conflicts, and the
        one that comes second starts again where it sees the first payment under way. A payment
        of the link, or of its invoices by any other path (a plan's charge, a mass charge, the
        customer's portal), still under way is refused.

        :raise UserError: When a payment is already under way.
        """
        self.ensure_one()
        under_way_message = self.env._(
            "A payment of this link is already under way. If you left the payment page, try again "
            "tomorrow or contact us."
        )
        if lock_rows_nowait(self.sudo()) is None:
            raise UserError(under_way_message)
        hold_since = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.ONLINE_PAYMENT_HOLD_MINUTES
        )
        under_way = self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.state in ('pending', 'authorized')
                or (tx.state == 'draft' and tx.create_date >= hold_since)
            )
        )
        invoices_sudo = self.invoice_ids.sudo()
        if under_way:
            raise UserError(under_way_message)
        if invoices_sudo:
            invoices_sudo._payment_plan_claim()
            # The customer paying their invoice settles the plan that collects it, if any.
            payable = invoices_sudo._payment_plan_filter_payable(settle_plans=True)
            if payable != invoices_sudo:
                raise UserError(under_way_message)
        # A row update: a concurrent request that locked the link meanwhile fails to serialize.
        self.sudo().date_last_payment = fields.Datetime.now()

    def _get_billing_values(self):
        """Return the billing address of the charge, when it differs from the customer's."""
        self.ensure_one()
        if not (self.billing_street or self.billing_city or self.billing_zip):
            return {}
        return {
            'partner_address': self.billing_street or '',
            'partner_zip': self.billing_zip or '',
            'partner_city': self.billing_city or '',
            'partner_country_id': self.billing_country_id.id,
        }

    def _send(self):
        """Mail and/or text the link to the customer, as its channel says."""
        mail_template = self.env.ref('payment_plan.mail_template_payment_link')
        sms_template = self.env.ref('payment_plan.sms_template_payment_link')
        for link in self:
            partner = link.partner_id
            link._send_by_channel(mail_template, sms_template)
            partner.message_post(
                body=self.env._(
                    "Payment link of %(amount)s (%(reason)s) sent, valid until %(date)s.",
                    amount=link.currency_id.format(link.amount),
                    reason=link.reason,
                    date=format_datetime(self.env, link.date_expiry),
                )
            )

    def _mark_opened(self):
        """Record the first time the customer opened the link."""
        self.filtered(lambda link: link.state == 'sent').sudo().write(
            {'state': 'opened', 'date_opened': fields.Datetime.now()}
        )

    def _register_payment(self, tx):
        """Mark the link paid by `tx` when it covers what the link asks."""
        self.ensure_one()
        if self.state in ('paid', 'cancelled'):
            return
        # The transaction's amount is the server's: what the link asked when it was paid.
        if tx.amount > 0 and tx._payment_plan_covers(tx.amount, self.currency_id):
            self.sudo().write({'state': 'paid', 'date_paid': fields.Datetime.now()})
            self.partner_id.message_post(
                body=self.env._(
                    "Payment link of %(amount)s (%(reason)s) paid (%(reference)s).",
                    amount=self.currency_id.format(tx.amount),
                    reason=self.reason,
                    reference=tx.reference,
                )
            )

    # === ACTION METHODS === #

    def action_cancel(self):
        """Cancel the links not paid yet: they no longer open the payment form."""
        self.filtered(lambda link: link.state in ('sent', 'opened')).sudo().write(
            {'state': 'cancelled'}
        )
        return True
