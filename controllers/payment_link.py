from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.fields import Command
from odoo.http import request

from odoo.addons.payment_plan.controllers.portal import PaymentPlanPortal


class PaymentPlanPaymentLinkController(PaymentPlanPortal):
    """The page a customer opens from a payment link: the provider's own form, for the amount
    the link asks; the customer may save the card there (their consent is recorded)."""

    _pay_url = '/payment_plan/pay/<int:link_id>/<string:token>'

    @http.route(_pay_url, type='http', auth='public', methods=['GET'], website=True, sitemap=False)
    def payment_link_page(self, link_id, token, **_kwargs):
        """Show the provider's form, the payment made, or why the link cannot be used."""
        link_sudo, problem = request.env['payment.plan.payment.link']._check_link(link_id, token)
        if problem in ('invalid', 'expired'):
            return request.render(
                'payment_plan.payment_link_refused',
                {'problem': problem, 'company': link_sudo.company_id or request.env.company},
                status=403 if problem == 'invalid' else 410,
            )
        values = {
            'link': link_sudo,
            'company': link_sudo.company_id,
            'payments': link_sudo._get_payments(),
            'receipt_url': f'/payment_plan/pay/{link_sudo.id}/{token}/receipt',
        }
        amount = link_sudo._get_amount_due()
        if problem == 'paid' or not amount:
            return request.render('payment_plan.payment_link_page', {**values, 'paid': True})
        link_sudo._mark_opened()
        partner_sudo = link_sudo.partner_id
        providers_sudo = self._get_payment_link_providers(link_sudo, amount)
        payment_methods_sudo = (
            request.env['payment.method']
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids, partner_sudo.id, currency_id=link_sudo.currency_id.id
            )
        )
        url = f'/payment_plan/pay/{link_sudo.id}/{token}'
        values.update(
            {
                'amount': amount,
                'currency': link_sudo.currency_id,
                'partner_id': partner_sudo.id,
                'providers_sudo': providers_sudo,
                'payment_methods_sudo': payment_methods_sudo,
                'tokens_sudo': request.env['payment.token'],  # Never the cards on file here.
                'show_tokenize_input_mapping': {
                    provider.id: provider.allow_tokenization and not link_sudo.moto
                    for provider in providers_sudo
                },
                'transaction_route': f'{url}/transaction',
                'landing_route': url,
                'access_token': token,
            }
        )
        return request.render('payment_plan.payment_link_page', values)

    @http.route(
        f'{_pay_url}/receipt/<int:tx_id>',
        type='http',
        auth='public',
        methods=['GET'],
        website=True,
        sitemap=False,
    )
    def payment_link_receipt(self, link_id, token, tx_id, **_kwargs):
        """The receipt (PDF) of a payment made through the link, for its holder."""
        link_sudo, problem = request.env['payment.plan.payment.link']._check_link(link_id, token)
        if problem in ('invalid', 'expired'):
            raise request.not_found()
        tx_sudo = link_sudo._get_payments().filtered(lambda tx: tx.id == tx_id)
        if not tx_sudo.payment_id:
            raise request.not_found()
        pdf, _type = (
            request.env['ir.actions.report']
            .sudo()
            ._render_qweb_pdf('account.action_report_payment_receipt', tx_sudo.payment_id.ids)
        )
        filename = f'{tx_sudo.reference}.pdf'.replace('/', '-')
        return request.make_response(
            pdf,
            headers=[
                ('Content-Type', 'application/pdf'),
                ('Content-Length', len(pdf)),
                ('Content-Disposition', http.content_disposition(filename)),
            ],
        )

    @http.route(f'{_pay_url}/transaction', type='jsonrpc', auth='public')
    def payment_link_transaction(self, link_id, token, access_token=None, **kwargs):
        """Create the payment of the link: the server's amount, the link's customer."""
        link_sudo, problem = request.env['payment.plan.payment.link']._check_link(link_id, token)
        if problem:
            raise Forbidden()
        self._validate_transaction_kwargs(kwargs)
        # The link pays with a card the customer enters: never a card on file (a link forwarded
        # to someone else must not charge it), never a validation, only the link's providers.
        self._check_typed_card(kwargs)
        if kwargs.pop('is_validation', False):
            raise Forbidden()
        link_sudo._lock_for_payment()
        amount = link_sudo._get_amount_due()
        if not amount:
            raise Forbidden()
        self._check_offered_provider(kwargs, self._get_payment_link_providers(link_sudo, amount))
        self._check_attempt_rate(f'payment.plan.payment.link,{link_sudo.id}')
        kwargs.update(
            {
                'amount': amount,
                'currency_id': link_sudo.currency_id.id,
                'partner_id': link_sudo.partner_id.id,
                'reference_prefix': None,
            }
        )
        custom_values = {
            'payment_plan_payment_link_id': link_sudo.id,
            'payment_plan_billing': link_sudo._get_billing_values(),
        }
        if link_sudo.moto:  # A card given by phone is used once, never saved.
            kwargs['tokenization_requested'] = False
        if link_sudo.invoice_ids:
            custom_values['invoice_ids'] = [Command.set(link_sudo.invoice_ids.ids)]
        tx_sudo = self._create_transaction(custom_create_values=custom_values, **kwargs)
        return tx_sudo._get_processing_values()

    @staticmethod
    def _get_payment_link_providers(link_sudo, amount):
        """Return the providers that may take the link's payment (for a card given by phone,
        those that accept mail/telephone orders)."""
        providers_sudo = (
            request.env['payment.provider']
            .sudo()
            ._get_compatible_providers(
                link_sudo.company_id.id,
                link_sudo.partner_id.id,
                amount,
                currency_id=link_sudo.currency_id.id,
            )
        )
        if link_sudo.moto:
            providers_sudo = providers_sudo.filtered(lambda p: p._payment_plan_supports_moto())
        return providers_sudo
