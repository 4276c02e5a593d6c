from odoo import api, models

from odoo.addons.payment_plan import const


class PaymentProvider(models.Model):
    _inherit = 'payment.provider'

    def _is_tokenization_required(self, sale_order_id=None, payment_plan_id=None, **kwargs):
        """Override of `payment` to save the card that pays the first installment of an order,
        or an overdue installment of a plan: the plan charges it for the following ones."""
        if payment_plan_id:
            return True
        if sale_order_id:
            order_sudo = self.env['sale.order'].sudo().browse(sale_order_id).exists()
            if (
                order_sudo.payment_plan_id.collection_mode == 'token'
                and order_sudo.payment_plan_status in ('pending', 'error')
            ):
                return True
        return super()._is_tokenization_required(sale_order_id=sale_order_id, **kwargs)

    def _log_response(self, response, *, reference=None):
        """Override of `payment` to tell a collection charge that an answer came back, and with
        which status: without one, or with a provider error (5xx), its outcome is unknown."""
        super()._log_response(response, reference=reference)
        answers = self.env.context.get('payment_plan_http_answers')
        if answers is not None:
            answers.append(response.status_code)

    def _payment_plan_supports_moto(self):
        """Return whether staff may enter a card given by phone in the provider's own form.

        Providers whose API accepts mail order/telephone order card entries say so here.
        """
        self.ensure_one()
        return self.code in const.MOTO_PROVIDER_CODES

    @api.model
    def _payment_plan_get_moto_providers(self, company):
        """Return the enabled providers of `company` that save cards entered by phone."""
        providers = self.search(
            [
                ('state', 'in', ('enabled', 'test')),
                *self._check_company_domain(company),
            ]
        )
        return providers.filtered(
            lambda p: p.support_tokenization and p._payment_plan_supports_moto()
        )
