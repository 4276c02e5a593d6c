from json import JSONDecodeError

from odoo import api, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan.tools import providers


class PaymentProvider(models.Model):
    _inherit = 'payment.provider'

    def _is_tokenization_required(self, sale_order_id=None, payment_plan_id=None, **kwargs):
        """Override of `payment` to save the card that pays the first installment of an order,
        or an overdue installment of a plan: the plan charges it for the following ones."""
        if payment_plan_id:
            return True
        if sale_order_id:
            order_sudo = self.env['sale.order'].sudo().browse(sale_order_id).exists()
            payer = self.env.user
            if (
                order_sudo.payment_plan_id.collection_mode == 'token'
                and order_sudo.payment_plan_status in ('pending', 'error')
                # Saved for the plan only when the customer pays: a logged-in user paying the
                # link for them (staff typing a card read out on the phone, an accountant) pays
                # as themselves, and their card is not the customer's.
                and (
                    payer._is_public()
                    or payer.partner_id.commercial_partner_id
                    == order_sudo.partner_id.commercial_partner_id
                )
            ):
                return True
        return super()._is_tokenization_required(sale_order_id=sale_order_id, **kwargs)

    def _send_api_request(self, method, endpoint, **kwargs):
        """Override of `payment` to tell a collection charge that its request failed without an
        answer of the provider (a timeout, a connection error) or with a provider error (5xx):
        its outcome is unknown, whatever the provider's module makes of the error."""
        answers = self.env.context.get('payment_plan_http_answers')
        if answers is None:
            return super()._send_api_request(method, endpoint, **kwargs)
        answered_before = len(answers)
        try:
            return super()._send_api_request(method, endpoint, **kwargs)
        except ValidationError:
            # This request got no answer, or a provider error: whatever came before.
            if len(answers) == answered_before or answers[-1]['status'] >= 500:
                answers.append({'status': None, 'body': None})
            raise

    def _log_response(self, response, *, reference=None):
        """Override of `payment` to tell a collection charge that an answer came back, with its
        status and, for a refusal, its body (the provider's decline codes)."""
        super()._log_response(response, reference=reference)
        answers = self.env.context.get('payment_plan_http_answers')
        if answers is not None:
            body = None
            if 400 <= response.status_code < 500:
                try:
                    body = response.json()
                except (JSONDecodeError, ValueError):
                    body = None
            answers.append({'status': response.status_code, 'body': body})

    def _payment_plan_supports_moto(self):
        """Return whether staff may enter a card given by phone in the provider's own form.

        Providers whose API accepts mail order/telephone order card entries say so in their
        profile (`tools.providers`), or here.
        """
        self.ensure_one()
        return providers.get_profile(self.code).moto

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
