"""19.0.1.6.0: the mails of payment links and card registration links give the day the link expires
on in the customer's time zone, as the page does. The templates are noupdate: their body (every
translation, and any change the merchant made elsewhere in it) gets the new expression."""

from odoo.tools import SQL

OLD = 'format_date(object.date_expiry)'
NEW = 'object._get_expiry_date_display()'


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            UPDATE mail_template
               SET body_html = REPLACE(body_html::text, %(old)s, %(new)s)::jsonb
             WHERE id IN (
                       SELECT res_id FROM ir_model_data
                        WHERE module = 'payment_plan' AND model = 'mail.template'
                          AND name IN ('mail_template_payment_link', 'mail_template_card_request')
                   )
               AND body_html::text LIKE %(pattern)s
            """,
            old=OLD,
            new=NEW,
            pattern=f'%{OLD}%',
        )
    )
