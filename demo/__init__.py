from . import payment_plan_demo
