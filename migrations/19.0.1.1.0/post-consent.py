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
    partners = env['res.partner'].browse(row[0] for row in rows).exists()
    env['payment.plan.consent'].create(
        [
            {
                'partner_id': partner_id,
                'company_id': env['res.partner'].browse(partner_id).company_id.id or env.company.id,
                'date': date,
                'channel': channel or 'other',
                'user_id': user_id,
                'ip_address': ip_address,
            }
            for partner_id, date, channel, user_id, ip_address in rows
            if partner_id in partners.ids
        ]
    )
    cr.execute(SQL("DROP TABLE payment_plan_legacy_consent"))
