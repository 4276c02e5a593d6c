"""19.0.1.7.0: plans bill lines (product, quantity, price, taxes). Each existing plan gets one
line of its amount, without tax nor product, named as its invoices were, and no fiscal
position: its amounts and its coming invoices stay as they were."""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            INSERT INTO payment_plan_line (
                plan_id, sequence, company_id, name, quantity, price_unit, discount,
                price_subtotal, price_tax, price_total,
                create_uid, create_date, write_uid, write_date
            )
            SELECT plan.id, 10, plan.company_id, COALESCE(plan.description, plan.name, 'Payment plan'), 1,
                   plan.amount, 0, plan.amount, 0, plan.amount,
                   plan.write_uid, NOW() AT TIME ZONE 'UTC', plan.write_uid,
                   NOW() AT TIME ZONE 'UTC'
              FROM payment_plan plan
             WHERE NOT EXISTS (SELECT 1 FROM payment_plan_line line WHERE line.plan_id = plan.id)
            """
        )
    )
    cr.execute(
        SQL(
            """
            UPDATE payment_plan
               SET fiscal_position_id = NULL, amount_untaxed = amount, amount_tax = 0
            """
        )
    )
