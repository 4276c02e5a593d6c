from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

from odoo.addons.payment_plan import const


class PaymentPlanCardRequestWizard(models.TransientModel):
    _name = 'payment.plan.card.request.wizard'
    _description = "Send Card Registration Links"

    partner_ids = fields.Many2many(string="Customers", comodel_name='res.partner', required=True)
    reason = fields.Selection(
        selection=const.CARD_REQUEST_REASONS, required=True, default='subscription'
    )
    channel = fields.Selection(
        selection=[c for c in const.CARD_REQUEST_CHANNELS if c[0] != 'moto'],
        required=True,
        default='email',
    )
    unreachable_count = fields.Integer(
        string="Customers Without Address", compute='_compute_unreachable_count'
    )

    # === COMPUTE METHODS === #

    @api.depends('partner_ids', 'channel')
    def _compute_unreachable_count(self):
        for wizard in self:
            wizard.unreachable_count = len(wizard._get_unreachable())

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        if self.env.context.get('active_model') == 'res.partner' and 'partner_ids' in fields:
            values['partner_ids'] = [Command.set(self.env.context.get('active_ids') or [])]
        return values

    # === ACTION METHODS === #

    def action_send(self):
        """Send each customer their own link; tell who could not be reached."""
        self.ensure_one()
        if 'sms' in const.CHANNEL_MEANS[self.channel] and (
            refusal := self.env.company._payment_plan_get_sms_refusal()
        ):
            raise UserError(refusal)
        unreachable = self._get_unreachable()
        reachable = self.partner_ids - unreachable
        if not reachable:
            raise UserError(
                self.env._("None of the customers has an email address or phone number to use.")
            )
        # Links are read-only to users (nobody edits a link's customer, state, expiry or
        # channel): the wizard creates them, for the customers the user selected.
        requests_sudo = (
            self.env['payment.plan.card.request']
            .sudo()
            .create(
                [
                    {'partner_id': partner.id, 'reason': self.reason, 'channel': self.channel}
                    for partner in reachable
                ]
            )
        )
        requests = requests_sudo.sudo(False)
        requests._send()
        message = (
            self.env._("1 link sent.")
            if len(requests) == 1
            else self.env._("%(count)s links sent.", count=len(requests))
        )
        if unreachable:
            message += " " + self.env._(
                "Not sent to %(names)s: no email address or valid phone number.",
                names=", ".join(unreachable.mapped('display_name')),
            )
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'message': message,
                'type': 'warning' if unreachable else 'success',
                'sticky': bool(unreachable),
                'next': {'type': 'ir.actions.act_window_close'},
            },
        }

    # === BUSINESS METHODS === #

    def _get_unreachable(self):
        """Return the customers the chosen channel cannot reach."""
        self.ensure_one()
        return self.partner_ids.filtered(
            lambda p: p._payment_plan_get_unreachable_channels(
                self.env.company, const.CHANNEL_MEANS[self.channel]
            )
        )
