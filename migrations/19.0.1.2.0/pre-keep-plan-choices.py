"""19.0.1.2.0: "Payer May Cancel" gets a default from the company's settings, and plans follow the
customer's default card unless pinned. Keep what each existing plan says: its "Payer May Cancel"
is saved here, before the field becomes computed, and restored after."""


def migrate(cr, version):
    cr.execute(
        """
        ALTER TABLE payment_plan ADD COLUMN IF NOT EXISTS payment_plan_mig_payer_cancel boolean;
        UPDATE payment_plan SET payment_plan_mig_payer_cancel = allow_payer_cancel;
        """
    )
