"""19.0.1.1.0: the card-on-file consent becomes a record of its own (`payment.plan.consent`).

Before the upgrade, keep the consents stored on customers aside: their columns become computed
from the consent records.
"""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            CREATE TABLE IF NOT EXISTS payment_plan_legacy_consent AS
            SELECT id AS partner_id, card_consent_date, card_consent_channel,
                   card_consent_user_id, card_consent_ip
              FROM res_partner
             WHERE card_consent_date IS NOT NULL
            """
        )
    )
