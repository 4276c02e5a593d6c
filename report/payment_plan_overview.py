from dateutil.relativedelta import relativedelta

from odoo import api, fields, models

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import reporting


class PaymentPlanOverview(models.AbstractModel):
    """The figures of the Payment Plans overview (its client action reads them)."""

    _name = 'payment.plan.overview'
    _description = "Payment Plans Overview"

    # === BUSINESS METHODS: REPORTS === #

    @api.model
    def get_overview_data(self):
        """Return the figures of the Payment Plans overview, each with the domain of its list.

        Public: the overview (a client action) reads it; every figure is searched with the
        user's own rights, so each user sees their allowed companies only.

        :rtype: dict
        """
        today = fields.Date.context_today(self)
        week_end = today + relativedelta(days=6 - today.weekday())
        month_start = today.replace(day=1)
        month_end = month_start + relativedelta(months=1, days=-1)
        since = today - relativedelta(days=30)
        Installment = self.env['payment.plan.installment']
        due_domain = [
            ('state', 'in', ('pending', 'processing')),
            ('plan_id.state', '=', 'active'),
            ('due_date', '<=', week_end),
        ]
        denied_domain = [('state', '=', 'denied'), ('date_denied', '>=', since)]
        Plan = self.env['payment.plan']
        running = Plan.search([('state', '=', 'active')])
        by_kind = dict(Plan._read_group([('state', '=', 'active')], ['plan_type'], ['__count']))
        company = self.env.company
        mrr = 0.0
        for plan in running.filtered(lambda p: p.plan_type == 'subscription'):
            # Recurring revenue is untaxed.
            monthly = float(
                reporting.monthly_amount(
                    plan._get_untaxed_share(plan.amount), plan.interval_number, plan.interval_unit
                )
            )
            mrr += plan.currency_id._convert(monthly, company.currency_id, company, today)
        # Cards are the payment administrators': counted, not disclosed.
        expiring_domain = [
            ('expiry_date', '>=', month_start),
            ('expiry_date', '<=', month_end),
            ('payment_plan_ids.state', 'in', ('active', 'paused')),
        ]
        return {
            'currency_id': company.currency_id.id,
            'due_this_week': {
                'count': Installment.search_count(due_domain),
                'amount': self._sum_in_company_currency(Installment, due_domain),
                'domain': due_domain,
            },
            'denied_recently': {
                'count': Installment.search_count(denied_domain),
                'amount': self._sum_in_company_currency(Installment, denied_domain),
                'domain': denied_domain,
            },
            'active_by_kind': {
                kind: {
                    'count': by_kind.get(kind, 0),
                    'domain': [('state', '=', 'active'), ('plan_type', '=', kind)],
                }
                for kind, _label in const.PLAN_TYPES
            },
            'monthly_recurring': {
                'amount': company.currency_id.round(mrr),
                'domain': [('state', '=', 'active'), ('plan_type', '=', 'subscription')],
            },
            'cards_expiring': {
                'count': self.env['payment.token'].search_count(expiring_domain),
                'domain': expiring_domain,
            },
        }

    @api.model
    def _sum_in_company_currency(self, model, domain, field='amount'):
        """Return the total of `field` over `domain`, each currency converted to the company's
        at today's rate: a figure never adds amounts of several currencies as if they were one.
        """
        company = self.env.company
        today = fields.Date.context_today(self)
        total = 0.0
        for currency, amount in model._read_group(domain, ['currency_id'], [f'{field}:sum']):
            total += currency._convert(amount, company.currency_id, company, today)
        return company.currency_id.round(total)
