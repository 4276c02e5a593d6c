# Odoo test modules. test_tools and test_i18n are plain pytest modules (no database):
# pytest collects them by path, Odoo's own test runner does not need them.
from . import test_activation_concurrency
from . import test_collection
from . import test_collection_concurrency
from . import test_payment_plan
from . import test_plan_change
from . import test_res_partner
from . import test_security
from . import test_ui
from . import test_sale_order
from . import test_manual_payment
from . import test_webhook
from . import test_portal
from . import test_money_safety
from . import test_attacks
from . import test_mass_charge
from . import test_reports
from . import test_card_request
from . import test_import_job
from . import test_backend_tours
from . import test_provider_stripe
from . import test_provider_adyen
from . import test_provider_mercado_pago
from . import test_pay_link
from . import test_attacks_providers
from . import test_flows
from . import test_payment_link
