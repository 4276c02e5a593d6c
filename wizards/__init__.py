from . import payment_plan_change
