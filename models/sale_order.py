import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import schedule

_logger = logging.getLogger(__name__)


# The orders whose first payment is confirming them in this transaction (`cr.cache`).
CONFIRMING_KEY = 'payment_plan_confirming_orders'

# Fields of an order that shape the plan set up from it (its lines, separately).
PLAN_SHAPING_ORDER_FIELDS = {
    'order_line',
    'currency_id',
    'pricelist_id',
    'partner_id',
    'payment_plan_kind',
    'payment_plan_installment_count',
    'payment_plan_interval_number',
    'payment_plan_interval_unit',
    'payment_plan_collection_mode',
}


class SaleOrder(models.Model):
    _inherit = 'sale.order'

    payment_plan_kind = fields.Selection(
        string="Payment Plan",
        selection=const.ORDER_PLAN_KINDS,
        required=True,
        default='none',
        copy=True,
        help="Pay in installments: the total is split into equal installments.\n"
        "Subscription: the total is charged every period.",
    )
    payment_plan_installment_count = fields.Integer(
        string="Installments",
        default=3,
        help="Installments: how many the total is split into. Subscription: how many periods are "
        "charged (0 for no end).",
    )
    payment_plan_preview = fields.Char(
        string="Schedule",
        compute='_compute_payment_plan_preview',
        help="What the customer pays: the installments and their amounts, or the subscription's "
        "amount per period.",
    )
    payment_plan_gateway_id = fields.Many2one(
        string="Gateway",
        comodel_name='payment.plan.gateway',
        check_company=True,
        help="The gateway that runs the schedule (default: the company's only gateway).",
    )
    payment_plan_gateway_url = fields.Char(
        string="Gateway Payment Link", related='payment_plan_id.gateway_payment_url'
    )
    payment_plan_interval_number = fields.Integer(string="Every", default=1)
    payment_plan_interval_unit = fields.Selection(
        selection=const.INTERVAL_UNITS, string="Period", default='month'
    )
    payment_plan_collection_mode = fields.Selection(
        string="Collection", selection=const.COLLECTION_MODES, default='token'
    )
    payment_plan_token_id = fields.Many2one(
        string="Card on File",
        comodel_name='payment.token',
        compute='_compute_payment_plan_token_id',
        store=True,
        readonly=False,
        check_company=True,
        domain="[('partner_id', 'child_of', payment_plan_partner_id)]",
        help="Charged for the first payment at confirmation; without a card, the customer is "
        "sent a payment link that also saves their card.",
    )
    payment_plan_partner_id = fields.Many2one(
        string="Card Holder", related='partner_id.commercial_partner_id'
    )
    payment_plan_id = fields.Many2one(
        string="Plan",
        comodel_name='payment.plan',
        readonly=True,
        copy=False,
        index='btree_not_null',
    )
    payment_plan_status = fields.Selection(
        string="Payment Status",
        selection=const.ORDER_PAYMENT_STATUSES,
        compute='_compute_payment_plan_status',
        store=True,
        index=True,
    )
    payment_plan_error = fields.Char(
        string="Payment Error", compute='_compute_payment_plan_status', store=True
    )
    payment_plan_paid_date = fields.Datetime(string="First Payment On", readonly=True, copy=False)
    payment_plan_link = fields.Char(string="Payment Link", compute='_compute_payment_plan_link')

    # === CRUD METHODS === #

    def write(self, vals):
        """The order's plan and its first payment are the add-on's to write
        (`_payment_plan_write_internal`): an order cannot be pointed at another plan."""
        if {'payment_plan_id', 'payment_plan_paid_date'} & set(vals):
            raise UserError(
                self.env._("The plan of an order is set up by confirming it, not by editing it.")
            )
        if PLAN_SHAPING_ORDER_FIELDS & set(vals):
            self._check_payment_plan_lines_frozen()
        return super().write(vals)

    def _payment_plan_write_internal(self, vals):
        # The parent's write, past this model's guard.
        return super().write(vals)  # pylint: disable=super-method-mismatch

    # === COMPUTE METHODS === #

    @api.depends(
        'payment_plan_kind',
        'payment_plan_installment_count',
        'payment_plan_interval_number',
        'payment_plan_interval_unit',
        'amount_total',
        'currency_id',
    )
    def _compute_payment_plan_preview(self):
        Plan = self.env['payment.plan']
        for order in self:
            if order.payment_plan_kind == 'none' or not order.currency_id:
                order.payment_plan_preview = False
                continue
            every = Plan.new(
                {
                    'interval_number': order.payment_plan_interval_number,
                    'interval_unit': order.payment_plan_interval_unit,
                }
            )._get_interval_label()
            currency = order.currency_id
            count = order.payment_plan_installment_count
            if order.payment_plan_kind == 'subscription':
                amount = currency.format(order.amount_total)
                if count:
                    order.payment_plan_preview = self.env._(
                        "%(count)s × %(amount)s, %(every)s", count=count, amount=amount, every=every
                    )
                else:
                    order.payment_plan_preview = self.env._(
                        "%(amount)s %(every)s, no end", amount=amount, every=every.lower()
                    )
                continue
            if count < 1:
                order.payment_plan_preview = False
                continue
            amounts = schedule.split_amount(order.amount_total, count, currency.rounding)
            parts = []
            for amount in dict.fromkeys(amounts):
                parts.append(
                    self.env._(
                        "%(count)s × %(amount)s",
                        count=amounts.count(amount),
                        amount=currency.format(float(amount)),
                    )
                )
            order.payment_plan_preview = self.env._(
                "%(parts)s, %(every)s", parts=" + ".join(parts), every=every.lower()
            )

    @api.depends('partner_id', 'company_id')
    def _compute_payment_plan_token_id(self):
        for order in self:
            default = order.partner_id.commercial_partner_id.with_company(
                order.company_id
            ).default_token_id
            if order.payment_plan_token_id.partner_id.commercial_partner_id != (
                order.partner_id.commercial_partner_id
            ):
                order.payment_plan_token_id = default

    @api.depends(
        'payment_plan_id',
        'payment_plan_paid_date',
        'transaction_ids.state',
        'payment_plan_id.installment_ids.state',
    )
    def _compute_payment_plan_status(self):
        for order in self:
            order.payment_plan_error = False
            if not order.payment_plan_id:
                order.payment_plan_status = 'none'
            elif order.payment_plan_paid_date:
                order.payment_plan_status = 'paid'
            else:
                last_tx = order.transaction_ids.sorted('id')[-1:]
                first = order.payment_plan_id.installment_ids.sorted('sequence')[:1]
                due = order._get_payment_plan_first_amount()
                if last_tx.state == 'done' and not last_tx._payment_plan_covers(
                    due, order.currency_id
                ):
                    # A payment that does not cover the first installment: the order waits.
                    order.payment_plan_status = 'pending'
                    order.payment_plan_error = self.env._(
                        "A payment of %(received)s does not cover the first installment (%(due)s).",
                        received=last_tx.currency_id.format(last_tx.amount),
                        due=order.currency_id.format(due),
                    )
                elif last_tx.state in ('error', 'cancel'):
                    order.payment_plan_status = 'error'
                    order.payment_plan_error = last_tx.state_message or self.env._(
                        "The payment was refused."
                    )
                elif first.state == 'denied':
                    order.payment_plan_status = 'error'
                    order.payment_plan_error = first.last_error
                else:
                    order.payment_plan_status = 'pending'

    @api.depends('payment_plan_id.installment_ids.invoice_id')
    def _get_invoiced(self):
        """Override of `sale`: the order also shows the invoices its plan made (each further
        period of a subscription, the rest of a changed installment plan) and their credit notes.
        They are linked to the plan, not to the order's lines, whose invoiced quantities stay the
        order's own: the order is never invoiced again for a period its plan billed."""
        super()._get_invoiced()
        for order in self.filtered('payment_plan_id'):
            # Plans are the plan users' records: the order shows what its own plan invoiced.
            plan_invoices = order.sudo().payment_plan_id.installment_ids.invoice_id
            plan_invoices |= plan_invoices.reversal_move_ids
            if plan_invoices - order.invoice_ids:
                order.invoice_ids = order.invoice_ids | plan_invoices.with_env(self.env)
                order.invoice_count = len(order.invoice_ids)

    def _compute_payment_plan_link(self):
        for order in self:
            order.payment_plan_link = (
                order.payment_plan_status in ('pending', 'error')
                and not order._payment_plan_first_charge_under_way()
                and order._get_payment_plan_link()
            )

    # === CONSTRAINT METHODS === #

    @api.constrains(
        'payment_plan_kind',
        'payment_plan_interval_number',
        'payment_plan_interval_unit',
        'payment_plan_installment_count',
    )
    def _check_payment_plan_schedule(self):
        for order in self.filtered(lambda o: o.payment_plan_kind != 'none'):
            self.env['payment.plan']._check_schedule_bounds(
                order.payment_plan_interval_number,
                order.payment_plan_interval_unit,
                order.payment_plan_installment_count,
            )

    # === ACTION METHODS === #

    def action_confirm(self):
        """Override of `sale`: an order paid by plan is confirmed once, by its first payment
        (`_payment_plan_invoice`), never before it. Odoo's confirmation is not called until then,
        so that what other modules do on confirmation (a subscription, a delivery, a mail) is
        done once, for an order that is paid.

        :raise UserError: When an order paid by plan is confirmed before its first payment.
        """
        confirming = self.env.cr.cache.get(CONFIRMING_KEY, ())
        awaiting = self.filtered(lambda o: o._is_confirmed_by_plan() and o.id not in confirming)
        if awaiting:
            raise UserError(
                self.env._(
                    "%(orders)s are paid by plan: they are confirmed by their first payment. "
                    "Request it with Request First Payment.",
                    orders=", ".join(awaiting.mapped('name')),
                )
            )
        return super().action_confirm()

    def action_payment_plan_request(self):
        """Set up the plan of each order paid by plan and ask for its first payment: the card on
        file is charged, or the customer is sent the payment link. The order stays a quotation
        and is confirmed by that payment."""
        if self.filtered(
            lambda o: not o._is_confirmed_by_plan() or o.state not in ('draft', 'sent')
        ):
            raise UserError(self.env._("Only quotations paid by plan wait for a first payment."))
        self._check_payment_plan_invoiceable()
        self._check_no_payment_received()
        self._payment_plan_request_first_payment()
        return True

    def _validate_order(self):
        """Override of `sale`: a quotation paid by plan that the customer signs asks for its first
        payment (the customer pays it on the same page) instead of being confirmed."""
        by_plan = self.filtered(lambda o: o._is_confirmed_by_plan())
        for order in by_plan:
            try:
                with self.env.cr.savepoint():
                    order.action_payment_plan_request()
            except UserError as error:
                # The customer signed; staff read why the first payment could not be asked.
                order.message_post(
                    body=self.env._(
                        "Signed, but the first payment could not be requested: %(reason)s",
                        reason=error.args[0],
                    )
                )
        if self - by_plan:
            super(SaleOrder, self - by_plan)._validate_order()

    def action_payment_plan_send_link(self):
        """Send (again) the payment link of the first installment by email and SMS."""
        self._check_payment_plan_awaiting()
        self._check_no_first_charge_under_way()
        self._payment_plan_send_link(resend=True)
        return True

    def action_payment_plan_refresh(self):
        """Ask the provider for the outcome of the pending payments and apply it."""
        self._check_payment_plan_awaiting()
        self.sudo().transaction_ids._payment_plan_refresh()
        return True

    def action_payment_plan_cancel_attempt(self):
        """Cancel the pending payment and the plan set-up; the order stays a quotation.

        Refused while the first payment is being charged: its outcome may still be a payment.
        """
        self._check_payment_plan_awaiting()
        self._check_no_first_charge_under_way()
        self._check_customer_not_paying_online()
        for order in self:
            # Transactions and plans are the payment and plan managers' records: the salesperson
            # acts on their own order here.
            order_sudo = order.sudo()
            order_sudo.transaction_ids.filtered(
                lambda tx: tx.state in ('draft', 'pending', 'authorized')
            )._set_canceled(state_message=self.env._("Cancelled from the order."))
            plan_sudo = order_sudo.payment_plan_id
            plan_sudo._cancel_plans(
                self.env._("The payment attempt of %(order)s was cancelled.", order=order.name)
            )
            plan_sudo.installment_ids.filtered(
                lambda i: i.state in ('pending', 'denied')
            )._set_cancelled()
            order._payment_plan_write_internal({'payment_plan_id': False})
            order.message_post(
                body=self.env._(
                    "Payment attempt cancelled: plan %(plan)s stopped, the order stays a quotation.",
                    plan=plan_sudo.display_name,
                )
            )
        return True

    def action_view_payment_plan(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'payment.plan',
            'res_id': self.payment_plan_id.id,
            'view_mode': 'form',
        }

    # === BUSINESS METHODS === #

    def _is_confirmed_by_plan(self):
        """Return whether the order is sold by plan and its first payment has not arrived: it is
        confirmed by that payment (`_payment_plan_invoice`), not by Odoo's confirmation."""
        self.ensure_one()
        return self.payment_plan_kind != 'none' and not self.payment_plan_paid_date

    def _check_no_payment_received(self):
        """Refuse to ask for the first payment of an order that already received a payment
        outside its plan (paid from its page before the plan was set up, or after an attempt
        was cancelled): it would be charged again.

        :raise UserError: When a payment of the order arrived.
        """
        for order in self:
            # Transactions are the payment administrators' records: only their state is read.
            received = order.sudo().transaction_ids.filtered(
                lambda tx: tx.state in ('authorized', 'done') and tx.operation != 'validation'
            )
            if received:
                raise UserError(
                    self.env._(
                        "%(order)s already received %(amount)s outside its plan: refund it, or "
                        "register it on the order's invoice, before asking for the first payment.",
                        order=order.name,
                        amount=order.currency_id.format(sum(received.mapped('amount'))),
                    )
                )

    def _payment_plan_awaits_setup(self):
        """Return whether the order is sold by plan and its plan is not running: nothing may be
        paid on it (its page offers no payment) until its first payment is requested."""
        self.ensure_one()
        return self._is_confirmed_by_plan() and (
            self.payment_plan_id.sudo().state not in const.RUNNING_PLAN_STATES
        )

    def _has_to_be_paid(self):
        """Override of `sale`: an order sold by plan is paid on its page only once its plan is
        set up (Request First Payment), and then its first installment."""
        if self._payment_plan_awaits_setup():
            return False
        return super()._has_to_be_paid()

    def _check_payment_plan_awaiting(self):
        if self.filtered(lambda o: o.payment_plan_status not in ('pending', 'error')):
            raise UserError(
                self.env._("Only orders whose plan awaits its first payment can do this.")
            )
        # Plans are the plan users' records: the order's own plan is checked, nothing else read.
        if self.filtered(lambda o: o.sudo().payment_plan_id.sale_order_id != o):
            raise UserError(self.env._("The plan of this order is not the order's own."))

    def _check_payment_plan_invoiceable(self):
        """Refuse a plan for an order that cannot be invoiced when it is paid: products invoiced
        on delivered quantities. The order's own invoice is the ledger its plan pays; one made
        only after the delivery would leave the payment without its invoice (and the order to be
        invoiced a second time).

        :raise UserError: When an order sells such a product.
        """
        for order in self:
            delivered = order.order_line.filtered(
                lambda line: (
                    not line.display_type
                    and line.product_id.invoice_policy == 'delivery'
                    and line.product_uom_qty
                )
            )
            if order.order_line.filtered('is_downpayment'):
                raise UserError(
                    self.env._(
                        "%(order)s cannot be paid by plan: it has a down payment, and a plan pays "
                        "the order's one invoice.",
                        order=order.name,
                    )
                )
            if delivered:
                raise UserError(
                    self.env._(
                        "%(order)s cannot be paid by plan: %(products)s are invoiced on delivered "
                        "quantities, and a plan pays the order's invoice, made when the first "
                        "payment arrives. Invoice them on ordered quantities, or sell them on "
                        "another order.",
                        order=order.name,
                        products=", ".join(delivered.product_id.mapped('display_name')),
                    )
                )

    def _check_payment_plan_lines_frozen(self):
        """Refuse to change what an order sells or charges while its plan, set up from it,
        awaits the first payment: the customer would pay the plan's amounts for another order.

        :raise UserError: When an order's plan awaits its first payment.
        """
        # Plans are the plan users' records: only whether the order's plan runs is read.
        awaiting = self.filtered(
            lambda o: (
                o.payment_plan_id
                and not o.payment_plan_paid_date
                and o.sudo().payment_plan_id.state in const.RUNNING_PLAN_STATES
            )
        )
        if awaiting:
            raise UserError(
                self.env._(
                    "The payment plan of %(orders)s was set up from its lines and awaits the first "
                    "payment: cancel the payment attempt to change the order.",
                    orders=", ".join(awaiting.mapped('name')),
                )
            )

    def _payment_plan_first_charge_under_way(self):
        """Return whether the first payment of the order is being charged (sent and not
        settled, claimed, or with an outcome still unknown): no other payment may start."""
        self.ensure_one()
        # Transactions and installments are the payment and plan users' records: only their
        # states are read.
        order_sudo = self.sudo()
        first = order_sudo.payment_plan_id.installment_ids.sorted('sequence')[:1]
        return first.state == 'processing' or bool(
            (order_sudo.transaction_ids | first.transaction_ids).filtered(
                lambda tx: (
                    tx.state in ('pending', 'authorized')
                    or (tx.state == 'draft' and tx.operation == 'offline')
                    # Paid, not yet applied to the order (Refresh Payment Status applies it).
                    or (
                        tx.state == 'done'
                        and tx.operation != 'validation'
                        and not tx.is_post_processed
                    )
                )
            )
        )

    def _check_no_first_charge_under_way(self):
        for order in self:
            if order._payment_plan_first_charge_under_way():
                raise UserError(
                    self.env._(
                        "The first payment of %(order)s is being charged: wait for its outcome "
                        "(Refresh Payment Status) before another payment.",
                        order=order.name,
                    )
                )

    def _check_customer_not_paying_online(self):
        """Refuse to cancel the attempt while the customer may be paying it online (on the
        provider's page, in 3-D Secure): a cancelled transaction's success would be refused, the
        money taken and recorded nowhere.

        :raise UserError: When the customer started an online payment a moment ago.
        """
        hold_since = fields.Datetime.subtract(
            fields.Datetime.now(), minutes=const.ONLINE_PAYMENT_HOLD_MINUTES
        )
        for order in self:
            # Transactions are the payment administrators' records: only their state is read.
            if order.sudo().transaction_ids.filtered(
                lambda tx: tx.state == 'draft' and tx.create_date >= hold_since
            ):
                raise UserError(
                    self.env._(
                        "The customer of %(order)s started paying online: wait for the outcome "
                        "(up to a day) before cancelling the attempt.",
                        order=order.name,
                    )
                )

    def _prepare_payment_plan_values(self):
        """Return the values of the plan that pays the order: it bills the order's lines, with
        their taxes, when they come to the order's total; else (an early payment discount, a
        fixed global discount, another rounding) one line of the order's total, which is what
        the customer pays."""
        self.ensure_one()
        values = self._prepare_payment_plan_base_values()
        # Plans are the plan users' records: the draft only computes the lines' total.
        draft = self.env['payment.plan'].sudo().new(values)
        if self.currency_id.compare_amounts(draft.amount, self.amount_total):
            values.pop('line_ids')
            values.pop('fiscal_position_id')
            values['amount'] = self.amount_total
        return values

    def _prepare_payment_plan_base_values(self):
        """Return the values of the plan of the order, billing its lines."""
        self.ensure_one()
        return {
            'partner_id': self.partner_id.id,
            'company_id': self.company_id.id,
            'currency_id': self.currency_id.id,
            'user_id': self.user_id.id,
            'description': self.name,
            'plan_type': self.payment_plan_kind,
            # The plan bills the order's lines, with their taxes: its amount is their total.
            'line_ids': [
                Command.create(line._prepare_payment_plan_line_values())
                for line in self._get_priced_lines().filtered(lambda line: not line.is_downpayment)
            ],
            'fiscal_position_id': self.fiscal_position_id.id,
            'installment_count': self.payment_plan_installment_count,
            'interval_number': self.payment_plan_interval_number or 1,
            'interval_unit': self.payment_plan_interval_unit or 'month',
            'date_start': self.env['payment.plan.installment']._get_collection_today(),
            'collection_mode': self.payment_plan_collection_mode or 'token',
            **(
                {'gateway_id': self.payment_plan_gateway_id.id}
                if self.payment_plan_gateway_id
                else {}
            ),
            # Only a Payment Plans user chooses the card charged without the customer; a plan
            # sold by others is charged to the card the customer saves when paying the link.
            'token_id': self.env.user._payment_plan_is_staff(self.company_id)
            and self.payment_plan_token_id.id,
            'sale_order_id': self.id,
        }

    def _get_payment_plan_first_amount(self):
        """Return the amount of the first installment of the order's plan."""
        self.ensure_one()
        plan = self.payment_plan_id
        first = plan.installment_ids.sorted('sequence')[:1]
        if first:
            return first.amount
        if plan.plan_type == 'installments' and plan.installment_count > 1:
            return float(
                schedule.split_amount(
                    plan.amount, plan.installment_count, plan.currency_id.rounding
                )[0]
            )
        return plan.amount

    def _get_payment_plan_link(self, redacted=False):
        """Return the customer's link to pay the first installment (Odoo's portal payment page
        of the order, which also saves the card for the following installments).

        :param bool redacted: Whether to hide the order's access token, for the copies that
                              staff see.
        """
        self.ensure_one()
        amount = self._get_payment_plan_first_amount()
        url = self.get_base_url() + self.get_portal_url(query_string=f'&payment_amount={amount}')
        if redacted:
            url = url.replace(f'access_token={self._portal_ensure_token()}', 'access_token=***')
        return url

    def _payment_plan_request_first_payment(self):
        """Set up the plan of each order and ask for its first payment."""
        for order in self:
            if order.payment_plan_id.state in const.RUNNING_PLAN_STATES:
                continue  # Already asked: the customer pays, or staff re-send the link.
            if order.amount_total <= 0:
                raise UserError(self.env._("An order paid by plan must have a positive total."))
            # The salesperson sells with a plan; plans are the plan users' records.
            plan_sudo = self.env['payment.plan'].sudo().create(order._prepare_payment_plan_values())
            order._payment_plan_write_internal(
                {
                    'payment_plan_id': plan_sudo.id,
                    'state': 'sent' if order.state == 'draft' else order.state,
                }
            )
            order._payment_plan_set_prepayment()
            order.message_post(
                body=self.env._(
                    "Plan %(plan)s set up: the order is confirmed with its first payment.",
                    plan=plan_sudo._get_html_link(),
                )
            )
            if plan_sudo.collection_mode != 'token':
                plan_sudo._start()
            elif order._payment_plan_may_charge_card(plan_sudo):
                plan_sudo._start()
                # Charged once the confirmation is committed, in a cursor of its own: a request
                # killed after the provider answered never charges the card twice.
                plan_sudo.installment_ids.sorted('sequence')[:1]._collect_after_commit()
            else:
                order._payment_plan_send_link()

    def _payment_plan_may_charge_card(self, plan):
        """Return whether the first installment of `plan` may be charged to its card now: the
        user may charge cards on file, and the card may be charged without the customer
        (consent, validity, company, currency). Otherwise the customer gets the payment link."""
        self.ensure_one()
        if not plan.token_id or not self.env.user._payment_plan_is_staff(self.company_id):
            return False
        refusal = plan.token_id._payment_plan_get_charge_refusal(
            plan.partner_id, plan.company_id, plan.currency_id
        )
        if refusal:
            self.message_post(
                body=self.env._(
                    "The card on file is not charged (%(reason)s): the customer gets the payment "
                    "link.",
                    reason=refusal,
                )
            )
        return not refusal

    def _payment_plan_set_prepayment(self):
        """Make Odoo's portal ask the first installment to confirm the order."""
        self.ensure_one()
        first = self._get_payment_plan_first_amount()
        self.write({'require_payment': True, 'prepayment_percent': first / self.amount_total})

    def _payment_plan_send_link(self, resend=False):
        """Mail and, where the company texts its customers, text the customer the link to pay the
        first installment."""
        mail_template = self.env.ref('payment_plan.mail_template_order_payment_link')
        sms_template = self.env.ref('payment_plan.sms_template_order_payment_link')
        for order in self:
            # The customer pays before the order goes on: the mail leaves at once.
            mail, sms_copy = order.partner_id._payment_plan_notify(
                order, mail_template=mail_template, sms_template=sms_template, immediate=True
            )
            if resend and not (mail or sms_copy):
                raise UserError(
                    self.env._(
                        "%(customer)s has no email address nor a phone number the company may "
                        "text: the link cannot be sent.",
                        customer=order.partner_id.display_name,
                    )
                )
            if mail or sms_copy:
                order.message_post(
                    body=self.env._(
                        "The link to pay the first installment was sent to %(customer)s.",
                        customer=order.partner_id.display_name,
                    )
                )

    def _payment_plan_invoice(self):
        """Confirm the order (its first payment arrived) and return its posted invoice.

        :return: The order's invoice, or nothing when no line can be invoiced yet (the plan then
                 invoices by itself).
        :rtype: account.move
        """
        self.ensure_one()
        if self.state in ('draft', 'sent'):
            # Confirmed by its first payment: the one call of Odoo's confirmation for the order,
            # allowed by a mark of this transaction that no caller (an RPC's context) can set.
            confirming = self.env.cr.cache.setdefault(CONFIRMING_KEY, set())
            confirming.add(self.id)
            try:
                with self.env.cr.savepoint():
                    self.action_confirm()
            except UserError as error:
                # Another module (or a mandatory analytic plan) refuses the confirmation: the
                # money arrived all the same, and is recorded on the plan's own invoice.
                self._payment_plan_report_unconfirmed(error)
                return self.env['account.move']
            finally:
                confirming.discard(self.id)
        # The order's own invoice (of its lines), not one its plan made.
        invoices = self.order_line.invoice_lines.move_id.filtered(
            lambda inv: inv.move_type == 'out_invoice' and inv.state != 'cancel'
        )
        if not invoices:
            try:
                with self.env.cr.savepoint():
                    # Often made in the payer's request (a public visitor): no "assigned to you"
                    # mail from them, which has no sender.
                    invoices = self.with_context(
                        mail_auto_subscribe_no_notify=True
                    )._create_invoices(final=True)
            except UserError as error:
                _logger.info("Order %s cannot be invoiced yet: %s", self.name, error)
                return self.env['account.move']
        invoices.filtered(lambda inv: inv.state == 'draft').action_post()
        return invoices[:1]

    def _payment_plan_report_unconfirmed(self, error):
        """Tell the order's salesperson that its first payment arrived but Odoo's confirmation
        was refused: the payment is recorded on the plan's invoice, the order waits for them."""
        self.ensure_one()
        note = self.env._(
            "The first payment arrived, but the order could not be confirmed: %(reason)s. The "
            "payment is recorded on the plan's invoice; confirm the order once the cause is "
            "fixed, without invoicing it again.",
            reason=error.args[0],
        )
        summary = self.env._("Confirm the order paid by plan")
        if self.activity_ids.filtered(lambda a: a.summary == summary):
            return  # Told once (the payment's post-processing may run again).
        self.message_post(body=note)
        self.activity_schedule(
            'mail.mail_activity_data_todo',
            summary=summary,
            note=note,
            user_id=self.user_id.id or self.env.user.id,
        )

    def _payment_plan_close(self):
        """Close the orders whose first payment arrived: confirmed, invoiced, paid, locked."""
        for order in self.filtered(lambda o: not o.payment_plan_paid_date):
            order._payment_plan_invoice()
            order._payment_plan_write_internal({'payment_plan_paid_date': fields.Datetime.now()})
            if order.state != 'sale':
                continue  # Its salesperson confirms it (`_payment_plan_report_unconfirmed`).
            if not order.locked:
                order.action_lock()
            order.message_post(
                body=self.env._(
                    "The first payment arrived: the order is confirmed, invoiced, paid and locked."
                )
            )
