"""19.0.1.5.0: customer imports belong to a company (`payment.plan.import.job.company_id`).

Before the upgrade, give each import the company of its requester (else the first company), so
that the required column is filled and the company's record rule applies to it at once.
"""

from odoo.tools import SQL


def migrate(cr, version):
    cr.execute(
        SQL(
            """
            ALTER TABLE payment_plan_import_job ADD COLUMN IF NOT EXISTS company_id integer;
            UPDATE payment_plan_import_job job
               SET company_id = COALESCE(
                       (SELECT company_id FROM res_users WHERE id = job.user_id),
                       (SELECT MIN(id) FROM res_company)
                   )
             WHERE company_id IS NULL
            """
        )
    )
