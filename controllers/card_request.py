from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request

from odoo.addons.payment_plan.controllers.portal import PaymentPlanPortal


class PaymentPlanCardRequestController(PaymentPlanPortal):
    """The card registration page a customer (or staff, for a card given by phone) opens from a
    link: the provider's own form saves the card through a zero-amount validation."""

    _card_url = '/payment_plan/card/<int:request_id>/<string:token>'

    @http.route(_card_url, type='http', auth='public', methods=['GET'], website=True, sitemap=False)
    def card_request_page(self, request_id, token, **_kwargs):
        """Show the provider's form, the card saved, or why the link cannot be used."""
        request_sudo, problem = request.env['payment.plan.card.request']._check_link(
            request_id, token
        )
        if problem in ('invalid', 'expired'):
            return request.render(
                'payment_plan.card_request_refused',
                {'problem': problem, 'company': request_sudo.company_id or request.env.company},
                status=403 if problem == 'invalid' else 410,
            )
        values = {'card_request': request_sudo, 'company': request_sudo.company_id}
        if problem == 'used':
            return request.render('payment_plan.card_request_page', values)
        partner_sudo = request_sudo.partner_id
        providers_sudo = self._get_card_request_providers(request_sudo)
        payment_methods_sudo = (
            request.env['payment.method']
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids, partner_sudo.id, force_tokenization=True
            )
        )
        url = f'/payment_plan/card/{request_sudo.id}/{token}'
        values.update(
            {
                'mode': 'validation',
                'allow_token_selection': False,
                'allow_token_deletion': False,
                'partner_id': partner_sudo.id,
                'providers_sudo': providers_sudo,
                'payment_methods_sudo': payment_methods_sudo,
                'tokens_sudo': request.env['payment.token'],  # Never show the cards on file.
                'show_tokenize_input_mapping': dict.fromkeys(providers_sudo.ids, False),
                'reference_prefix': 'V',
                'transaction_route': f'{url}/transaction',
                'landing_route': url,
                'access_token': token,
            }
        )
        return request.render('payment_plan.card_request_page', values)

    @http.route(f'{_card_url}/transaction', type='jsonrpc', auth='public')
    def card_request_transaction(self, request_id, token, access_token=None, **kwargs):
        """Create the validation transaction that saves the card of the link's customer."""
        request_sudo, problem = request.env['payment.plan.card.request']._check_link(
            request_id, token
        )
        if problem:
            raise Forbidden()
        self._validate_transaction_kwargs(kwargs, additional_allowed_keys=('reference_prefix',))
        self._check_typed_card(kwargs)
        self._check_offered_provider(kwargs, self._get_card_request_providers(request_sudo))
        self._check_attempt_rate(f'payment.plan.card.request,{request_sudo.id}')
        request_sudo.consent_ip = request.httprequest.remote_addr
        kwargs.update(
            {
                'reference_prefix': 'V',  # The page's, whatever was sent.
                'amount': None,
                'currency_id': None,
                'partner_id': request_sudo.partner_id.id,
                'is_validation': True,
                'tokenization_requested': True,
            }
        )
        tx_sudo = self._create_transaction(
            custom_create_values={'payment_plan_card_request_id': request_sudo.id}, **kwargs
        )
        return tx_sudo._get_processing_values()

    @staticmethod
    def _get_card_request_providers(request_sudo):
        """Return the providers that may save the link's card: those that tokenize for the
        customer's company and currency (and, for a card given by phone, accept MOTO)."""
        company = request_sudo.company_id
        partner_sudo = request_sudo.partner_id.with_company(company)
        # The customer's currency is their pricelist's, else the company's.
        currency = partner_sudo.property_product_pricelist.currency_id or company.currency_id
        providers_sudo = (
            request.env['payment.provider']
            .sudo()
            ._get_compatible_providers(
                company.id,
                partner_sudo.id,
                0.0,
                currency_id=currency.id,
                force_tokenization=True,
                is_validation=True,
            )
        )
        if request_sudo.channel == 'moto':
            providers_sudo = providers_sudo.filtered(lambda p: p._payment_plan_supports_moto())
        return providers_sudo
