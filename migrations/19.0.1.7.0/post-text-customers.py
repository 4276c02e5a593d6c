"""19.0.1.7.0: the company's *Text Customers* setting now governs every SMS the add-on sends.
Before, only a bank's authentication request asked it; an order's first-payment link, a
gateway's payment link and the links staff chose to text were texted whatever it said. The
companies that did text their customers so (an SMS of such an order, link or plan is on
record) go on texting them; the others keep the setting as it was."""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            UPDATE res_company SET payment_plan_notify_sms = TRUE
             WHERE payment_plan_notify_sms IS NOT TRUE
               AND id IN (
                       SELECT so.company_id
                         FROM sale_order so
                         JOIN mail_message msg
                           ON msg.model = 'sale.order' AND msg.res_id = so.id
                          AND msg.message_type = 'sms'
                        WHERE so.payment_plan_id IS NOT NULL
                        UNION
                       SELECT company_id FROM payment_plan_payment_link
                        WHERE sms_message_id IS NOT NULL
                        UNION
                       SELECT company_id FROM payment_plan_card_request
                        WHERE sms_message_id IS NOT NULL
                        UNION
                       SELECT plan.company_id
                         FROM payment_plan plan
                         JOIN mail_message msg
                           ON msg.model = 'res.partner' AND msg.res_id = plan.partner_id
                          AND msg.message_type = 'sms'
                        WHERE plan.gateway_payment_url IS NOT NULL
                   )
            """
        )
    )
