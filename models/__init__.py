from . import payment_plan_collection_mixin  # first: the models below inherit it
from . import payment_plan_link_mixin
from . import (
    account_move,
    account_payment,
    payment_plan,
    payment_plan_activation,
    payment_plan_card_request,
    payment_plan_charge_batch,
    payment_plan_charge_batch_line,
    payment_plan_consent,
    payment_plan_event,
    payment_plan_gateway,
    payment_plan_import_issue,
    payment_plan_import_job,
    payment_plan_installment,
    payment_plan_metadata,
    payment_plan_payment_link,
    payment_plan_queue,
    payment_plan_rate_limit,
    payment_provider,
    payment_token,
    payment_transaction,
    res_company,
    res_partner,
    res_users,
    sale_order,
)
from . import res_config_settings
