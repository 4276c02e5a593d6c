"""19.0.1.1.0: a plan collected by a gateway names it (`payment.plan.gateway_id`).

Plans in gateway mode get their company's gateway when the company has exactly one active
gateway; the others are listed in the log, to be set by hand (until then they ignore every
gateway's events).
"""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    plans = env['payment.plan'].search(
        [('collection_mode', '=', 'gateway'), ('gateway_id', '=', False)]
    )
    for company, company_plans in plans.grouped('company_id').items():
        gateways = env['payment.plan.gateway'].search([('company_id', '=', company.id)])
        if len(gateways) == 1:
            company_plans.gateway_id = gateways
            _logger.info(
                "%s gateway plan(s) of %s now name gateway %s.",
                len(company_plans),
                company.name,
                gateways.code,
            )
        else:
            _logger.warning(
                "Plans %s of %s are collected by a gateway but the company has %s active "
                "gateways: set each plan's gateway by hand.",
                ", ".join(company_plans.mapped('name')),
                company.name,
                len(gateways),
            )
