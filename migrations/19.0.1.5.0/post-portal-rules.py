"""19.0.1.5.0: a portal user reads their own plans and installments and their company's, never a
colleague's: the record rules (noupdate) of existing databases get the new domain."""

from odoo import SUPERUSER_ID, api

PORTAL_DOMAIN = "[('partner_id', 'in', [user.partner_id.id, user.commercial_partner_id.id])]"


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid in (
        'payment_plan.payment_plan_rule_portal',
        'payment_plan.payment_plan_installment_rule_portal',
    ):
        rule = env.ref(xmlid, raise_if_not_found=False)
        if rule:
            rule.domain_force = PORTAL_DOMAIN
