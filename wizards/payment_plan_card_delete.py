from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError

from odoo.addons.payment_plan import const


class PaymentPlanCardDelete(models.TransientModel):
    """Delete a customer's card from the back office, with the warning the portal gives: the
    plans it pays, and whether their next charges move to another card or fail."""

    _name = 'payment.plan.card.delete'
    _description = "Delete a Card on File"

    token_id = fields.Many2one(string="Card", comodel_name='payment.token', required=True)
    warning_html = fields.Html(compute='_compute_warning_html', sanitize=False)

    @api.depends('token_id')
    def _compute_warning_html(self):
        for wizard in self:
            card = wizard.token_id.sudo()
            plans = wizard._get_plans()
            others = card.search(
                [
                    ('partner_id', '=', card.partner_id.id),
                    ('company_id', '=', card.company_id.id),
                    ('id', '!=', card.id),
                ]
            )
            lines = []
            if plans and not others:
                lines.append(
                    self.env._(
                        "This is the customer's only card and it pays %(plans)s: their next "
                        "charges will fail until the customer adds a card.",
                        plans=", ".join(plans.mapped('display_name')),
                    )
                )
            elif plans:
                lines.append(
                    self.env._(
                        "It pays %(plans)s: the customer's default card will pay them instead.",
                        plans=", ".join(plans.mapped('display_name')),
                    )
                )
            if card.is_default and others:
                lines.append(self.env._("Another of the customer's cards becomes the default."))
            lines.append(
                self.env._(
                    "%(card)s is removed from the customer's cards; the provider keeps it until "
                    "the customer deletes it there.",
                    card=card.display_name,
                )
            )
            wizard.warning_html = Markup('<br/>').join(lines)

    def action_delete(self):
        """Remove the card (archived, as Odoo does: its payments keep it); its plans move."""
        self.ensure_one()
        if not self.env.user._payment_plan_is_staff(self.token_id.sudo().company_id):
            raise AccessError(self.env._("Only Payment Plans users may delete a customer's card."))
        self.token_id.check_access('read')
        # Only system administrators may write tokens in `payment`: removing a card is a business
        # action of the staff who see it.
        self.token_id.sudo().active = False
        self.token_id.partner_id.message_post(
            body=self.env._(
                "Card %(card)s deleted by %(user)s.",
                card=self.token_id.sudo().display_name,
                user=self.env.user.name,
            )
        )
        return {'type': 'ir.actions.act_window_close'}

    def _get_plans(self):
        return (
            self.env['payment.plan']
            .sudo()
            .search(
                [
                    ('token_id', '=', self.token_id.id),
                    ('state', 'in', const.RUNNING_PLAN_STATES),
                ]
            )
        )
