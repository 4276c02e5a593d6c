"""19.0.1.1.0: the retry policy, the card expiry warning and the "recently denied" period are
settings of each company; every company takes the value set before for the whole database."""

from odoo import SUPERUSER_ID, api

SETTINGS = (
    'max_attempts',
    'retry_interval_days',
    'expiry_warning_days',
    'recently_denied_days',
)


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    Param = env['ir.config_parameter']
    values = {}
    for name in SETTINGS:
        value = Param.get_param(f'payment_plan.{name}')
        if value and value.strip().isdigit():
            values[f'payment_plan_{name}'] = int(value)
        Param.search([('key', '=', f'payment_plan.{name}')]).unlink()
    if values:
        env['res.company'].with_context(active_test=False).search([]).write(values)
