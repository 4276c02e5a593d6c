"""19.0.1.7.0: the company's *Text Customers* setting now governs every SMS the add-on sends.
Before, only a bank's authentication request asked it; an order's first-payment link, a
gateway's payment link and the links staff chose to text were texted whatever it said. The
companies that texted their customers that way go on texting them."""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            UPDATE res_company SET payment_plan_notify_sms = TRUE
             WHERE payment_plan_notify_sms IS NOT TRUE
               AND id IN (
                       SELECT company_id FROM sale_order WHERE payment_plan_id IS NOT NULL
                        UNION
                       SELECT company_id FROM payment_plan WHERE gateway_payment_url IS NOT NULL
                        UNION
                       SELECT company_id FROM payment_plan_payment_link
                        WHERE channel IN ('sms', 'email_sms')
                        UNION
                       SELECT company_id FROM payment_plan_card_request
                        WHERE channel IN ('sms', 'email_sms')
                   )
            """
        )
    )
