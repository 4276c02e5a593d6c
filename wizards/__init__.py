from . import account_payment_register
from . import payment_plan_card_request_wizard
from . import payment_plan_change
from . import payment_plan_export
from . import payment_plan_mass_charge
from . import payment_plan_mass_invoice
from . import payment_plan_pay_behalf
from . import payment_plan_register_payment
