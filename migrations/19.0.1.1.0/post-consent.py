"""19.0.1.1.0: create a consent record for each consent stored on a customer before."""

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(SQL("SELECT to_regclass('payment_plan_legacy_consent')"))
    if not cr.fetchone()[0]:
        return
    cr.execute(
        SQL(
            """
            SELECT partner_id, card_consent_date, card_consent_channel, card_consent_user_id,
                   card_consent_ip
              FROM payment_plan_legacy_consent
            """
        )
    )
    rows = cr.fetchall()
    env = api.Environment(cr, SUPERUSER_ID, {})
    partners = env['res.partner'].with_context(active_test=False).browse(row[0] for row in rows)
    partners = partners.exists()
    values_list = []
    for partner_id, date, channel, user_id, ip_address in rows:
        partner = partners.browse(partner_id)
        if partner not in partners:
            continue
        # The consent was the customer's, for every company: it stays so for each company
        # that holds one of their cards (a consent now belongs to one company).
        tokens = (
            env['payment.token']
            .with_context(active_test=False)
            .search([('partner_id', 'child_of', partner.commercial_partner_id.id)])
        )
        companies = tokens.company_id | (partner.company_id or env.company)
        values_list += [
            {
                'partner_id': partner.id,
                'company_id': company.id,
                'date': date,
                'channel': channel or 'other',
                'user_id': user_id,
                'ip_address': ip_address,
            }
            for company in companies
        ]
    env['payment.plan.consent'].create(values_list)
    cr.execute(SQL("DROP TABLE payment_plan_legacy_consent"))
