from . import (
    payment_plan,
    payment_plan_installment,
    payment_plan_metadata,
    payment_token,
    payment_transaction,
    res_partner,
)
from . import res_config_settings
