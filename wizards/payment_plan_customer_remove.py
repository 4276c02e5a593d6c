import logging

from markupsafe import Markup
from psycopg2 import IntegrityError

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

_logger = logging.getLogger(__name__)


class PaymentPlanCustomerRemove(models.TransientModel):
    """Remove customers: their running plans are cancelled, and each customer is deleted, or
    archived when Odoo keeps records of them (invoices, payments, orders, plans)."""

    _name = 'payment.plan.customer.remove'
    _description = "Remove Customers"

    partner_ids = fields.Many2many(string="Customers", comodel_name='res.partner', required=True)
    warning_html = fields.Html(compute='_compute_warning_html', sanitize=False)

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        if self.env.context.get('active_model') == 'res.partner' and 'partner_ids' in fields:
            values['partner_ids'] = [Command.set(self.env.context.get('active_ids') or [])]
        return values

    # === COMPUTE METHODS === #

    @api.depends('partner_ids')
    def _compute_warning_html(self):
        for wizard in self:
            lines = []
            # The dialog's customers are new records until it is saved: their originals are
            # looked up (a new record has no plans nor history).
            for partner in wizard.partner_ids._origin:
                plans = wizard._get_running_plans(partner)
                fate = (
                    self.env._("archived (Odoo keeps their invoices, payments or plans)")
                    if wizard._has_history(partner)
                    else self.env._("deleted")
                )
                if plans:
                    lines.append(
                        self.env._(
                            "%(customer)s will be %(fate)s; their running plans %(plans)s will be "
                            "cancelled: nothing more will be charged.",
                            customer=partner.display_name,
                            fate=fate,
                            plans=", ".join(plans.mapped('display_name')),
                        )
                    )
                else:
                    lines.append(
                        self.env._(
                            "%(customer)s will be %(fate)s.",
                            customer=partner.display_name,
                            fate=fate,
                        )
                    )
            wizard.warning_html = Markup('<br/>').join(lines) if lines else False

    # === ACTION METHODS === #

    def action_remove(self):
        """Cancel the customers' running plans, then delete or archive each customer."""
        self.ensure_one()
        partners = self.partner_ids
        if not partners:
            raise UserError(self.env._("Select the customers to remove."))
        partners.check_access('write')
        done = []
        for partner in partners:
            plans = self._get_running_plans(partner)
            plans._cancel_plans(
                self.env._("The plan was cancelled because its customer was removed.")
            )
            cancelled = (
                self.env._(" (plans cancelled: %(plans)s)", plans=", ".join(plans.mapped('name')))
                if plans
                else ""
            )
            self.env['payment.plan.payment.link'].sudo().search(
                [
                    ('partner_id', 'child_of', partner.id),
                    ('company_id', 'in', self.env.companies.ids),
                ]
            ).action_cancel()
            name = partner.display_name
            if not self._has_history(partner) and partner.has_access('unlink'):
                try:
                    with self.env.cr.savepoint():
                        partner.unlink()
                    done.append(
                        self.env._("%(customer)s deleted%(plans)s.", customer=name, plans=cancelled)
                    )
                    continue
                except (UserError, IntegrityError) as error:  # Odoo keeps something of them.
                    _logger.info("%s is archived, not deleted: %s", name, error)
            partner.with_context(payment_plan_plans_handled=True).active = False
            done.append(
                self.env._("%(customer)s archived%(plans)s.", customer=name, plans=cancelled)
            )
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'title': self.env._("Customers removed"),
                'message': " ".join(done),
                'type': 'success',
                'sticky': True,
                'next': {'type': 'ir.actions.act_window_close'},
            },
        }

    # === BUSINESS METHODS === #

    def _get_running_plans(self, partner):
        return partner._get_payment_plans_to_stop(with_contacts=True)

    def _has_history(self, partner):
        """Return whether Odoo keeps records of the customer that a deletion would break."""
        env = self.env(su=True)
        domain = [('partner_id', 'child_of', partner.id)]
        return bool(
            env['payment.plan'].with_context(active_test=False).search_count(domain, limit=1)
            or env['account.move'].search_count(domain, limit=1)
            or env['payment.transaction'].search_count(domain, limit=1)
            or env['sale.order'].search_count(domain, limit=1)
        )
