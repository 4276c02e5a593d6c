from odoo import models


class ResUsers(models.Model):
    _inherit = 'res.users'

    def _deactivate_portal_user(self, **post):
        """Override of `base` to tell the customer's partner, archived with the account, that the
        customer closed it themselves: only the plans the payer may cancel are cancelled."""
        return super(
            ResUsers, self.with_context(payment_plan_account_closed=True)
        )._deactivate_portal_user(**post)
