"""19.0.1.2.0: restore each plan's "Payer May Cancel"; pin the running plans charged to another
card than their customer's default (they stay on it, as before the upgrade)."""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE payment_plan SET allow_payer_cancel = COALESCE(payment_plan_mig_payer_cancel, FALSE);
        ALTER TABLE payment_plan DROP COLUMN payment_plan_mig_payer_cancel;
        UPDATE payment_plan plan
           SET card_pinned = TRUE
          FROM payment_token token
         WHERE token.id = plan.token_id
           AND plan.state IN ('draft', 'active', 'paused')
           AND plan.collection_mode = 'token'
           AND token.is_default IS NOT TRUE;
        """
    )
