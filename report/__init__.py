# The reports are SQL views over the tables of the models: loaded after them.
from . import payment_plan_collection_report, payment_plan_recovery_report
from . import payment_plan_overview
