from . import test_payment_plan, test_res_partner, test_schedule, test_security, test_ui
