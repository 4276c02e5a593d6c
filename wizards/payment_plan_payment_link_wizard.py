from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command

from odoo.addons.payment_plan import const


class PaymentPlanPaymentLinkWizard(models.TransientModel):
    """Send a customer a link to pay an amount, for a reason or an open invoice."""

    _name = 'payment.plan.payment.link.wizard'
    _description = "Send a Payment Link"
    _check_company_auto = True

    partner_id = fields.Many2one(string="Customer", comodel_name='res.partner', required=True)
    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    invoice_id = fields.Many2one(
        string="Open Invoice",
        comodel_name='account.move',
        check_company=True,
        domain="[('commercial_partner_id', '=', commercial_partner_id), "
        + repr(const.OPEN_INVOICE_DOMAIN)[1:],
    )
    commercial_partner_id = fields.Many2one(related='partner_id.commercial_partner_id')
    currency_id = fields.Many2one(
        comodel_name='res.currency',
        compute='_compute_currency_id',
        store=True,
        readonly=False,
        precompute=True,
        required=True,
    )
    amount = fields.Monetary(compute='_compute_amount', store=True, readonly=False, precompute=True)
    reason = fields.Char(compute='_compute_reason', store=True, readonly=False, precompute=True)
    channel = fields.Selection(
        selection=const.PAYMENT_LINK_CHANNELS, required=True, default='email'
    )

    @api.depends('invoice_id', 'company_id')
    def _compute_currency_id(self):
        for wizard in self:
            invoice_sudo = wizard.invoice_id.sudo()
            wizard.currency_id = invoice_sudo.currency_id or wizard.company_id.currency_id

    @api.depends('invoice_id')
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = (
                wizard.invoice_id.sudo()._payment_plan_get_open_amount()
                if wizard.invoice_id
                else wizard.amount
            )

    @api.depends('invoice_id')
    def _compute_reason(self):
        for wizard in self:
            wizard.reason = (
                self.env._("Invoice %(name)s", name=wizard.invoice_id.sudo().name)
                if wizard.invoice_id
                else wizard.reason
            )

    def action_send(self):
        """Create the link, send it, and show it among the customer's links."""
        self.ensure_one()
        if self.company_id not in self.env.user.company_ids:
            raise AccessError(self.env._("You cannot send a payment link in this company."))
        if self.partner_id.company_id and self.partner_id.company_id != self.company_id:
            raise UserError(self.env._("The customer belongs to another company."))
        if unreachable := self.partner_id._payment_plan_get_unreachable_channels(
            self.company_id, const.CHANNEL_MEANS[self.channel]
        ):
            raise UserError(" ".join(unreachable.values()))
        invoice_sudo = self.invoice_id.sudo()
        open_amount = invoice_sudo._payment_plan_get_open_amount()
        if invoice_sudo and (
            invoice_sudo.commercial_partner_id != self.partner_id.commercial_partner_id
            or invoice_sudo.currency_id.compare_amounts(open_amount, 0) <= 0
            or invoice_sudo.company_id != self.company_id
        ):
            raise UserError(self.env._("Only an open invoice of the customer can be paid by link."))
        # An invoice is paid in its own currency, whatever the form said.
        currency = invoice_sudo.currency_id or self.currency_id
        if currency.compare_amounts(self.amount, 0) <= 0:
            raise UserError(self.env._("Give the amount to pay."))
        if invoice_sudo and currency.compare_amounts(self.amount, open_amount) > 0:
            raise UserError(
                self.env._(
                    "The amount cannot exceed what is open on %(invoice)s (%(open)s).",
                    invoice=invoice_sudo.name,
                    open=currency.format(open_amount),
                )
            )
        if not (self.reason or '').strip():
            raise UserError(self.env._("Say what the payment is for."))
        link = (
            self.env['payment.plan.payment.link']
            .sudo()
            .create(
                {
                    'partner_id': self.partner_id.id,
                    'company_id': self.company_id.id,
                    'currency_id': currency.id,
                    'amount': self.amount,
                    'reason': self.reason.strip(),
                    'invoice_ids': [Command.set(invoice_sudo.ids)],
                    'channel': self.channel,
                    'user_id': self.env.uid,
                }
            )
        )
        link._send()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'payment.plan.payment.link',
            'res_id': link.id,
            'view_mode': 'form',
            'target': 'current',
        }
