from odoo import models
from odoo.exceptions import AccessError


class ResUsers(models.Model):
    _inherit = 'res.users'

    def _deactivate_portal_user(self, **post):
        """Override of `base` to tell the customer's partner, archived with the account, that the
        customer closed it themselves: only the plans the payer may cancel are cancelled."""
        return super(
            ResUsers, self.with_context(payment_plan_account_closed=True)
        )._deactivate_portal_user(**post)

    # === BUSINESS METHODS: WHO MAY ACT (the one home of these rules) === #

    def _payment_plan_is_staff(self, companies=None):
        """Return whether the user is Payment Plans staff (the add-on's groups; the superuser
        too) of every company of `companies` (records shared by all companies have none).

        :param res.company companies: The companies of the records acted on.
        """
        self.ensure_one()
        if self._is_superuser():
            return True
        return self.has_group('payment_plan.group_user') and companies <= self.company_ids

    def _payment_plan_get_portal_payers(self):
        """Return the customers the user acts for in the portal: themselves, and their company
        when they are the company's own account or it lets its contacts manage its plans and
        cards (*Contacts Manage Plans and Cards*). Never a colleague.

        :rtype: res.partner
        """
        self.ensure_one()
        partner = self.partner_id
        commercial_sudo = partner.commercial_partner_id.sudo()
        if commercial_sudo == partner or commercial_sudo.payment_plan_contacts_manage:
            return partner | partner.commercial_partner_id
        return partner

    def _payment_plan_may_act(self, records):
        """Return whether the user may act on `records` (cards, plans: set the default card,
        move plans to a card, delete a card, cancel a plan): staff of the records' companies, or
        the customer they belong to (`_payment_plan_get_portal_payers`).

        :param records: Records with `partner_id` and `company_id` (payment.token, payment.plan).
        """
        self.ensure_one()
        if self._payment_plan_is_staff(records.company_id):
            return True
        return bool(records) and records.partner_id <= self._payment_plan_get_portal_payers()

    def _payment_plan_check_may_act(self, records):
        """Refuse when the user may not act on `records` (`_payment_plan_may_act`).

        :raise AccessError: When the user may not.
        """
        if not self._payment_plan_may_act(records):
            raise AccessError(self.env._("You are not allowed to act on these records."))
