from . import payment_plan_change
from . import payment_plan_register_payment
