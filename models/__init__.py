from . import (
    account_payment,
    payment_plan,
    payment_plan_activation,
    payment_plan_event,
    payment_plan_gateway,
    payment_plan_installment,
    payment_plan_metadata,
    payment_provider,
    payment_token,
    payment_transaction,
    res_partner,
    sale_order,
)
from . import res_config_settings
