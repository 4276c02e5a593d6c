import base64
import hmac
import json
from json import JSONDecodeError

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment_plan.tools import providers

# Redsys's REST endpoint for operations without the cardholder (merchant-initiated charges).
REDSYS_REST_URLS = {
    'enabled': 'https://sis.redsys.es/sis/rest/trataPeticionREST',
    'test': 'https://sis-t.redsys.es:25443/sis/rest/trataPeticionREST',
}


class PaymentProvider(models.Model):
    _inherit = 'payment.provider'

    redsys_allow_moto = fields.Boolean(
        string="Phone Orders (MOTO)",
        help="The merchant's Redsys terminal accepts mail and telephone orders: staff may type "
        "a card the customer gives by phone on Redsys's payment page.",
    )

    def _compute_feature_support_fields(self):
        """Override of `payment` to let Redsys save cards: the redirect asks Redsys for a
        credential-on-file reference, which merchant-initiated charges then use."""
        super()._compute_feature_support_fields()
        self.filtered(lambda p: p.code == 'redsys').support_tokenization = True

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
        if self.code == 'redsys':
            return self.redsys_allow_moto
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

    # === REDSYS REST === #

    def _build_request_url(self, endpoint, **kwargs):
        """Override of `payment` to reach Redsys's REST endpoint (test or production)."""
        if self.code != 'redsys':
            return super()._build_request_url(endpoint, **kwargs)
        return REDSYS_REST_URLS['enabled' if self.state == 'enabled' else 'test']

    def _parse_response_content(self, response, **kwargs):
        """Override of `payment` to read a Redsys REST answer: its signed merchant parameters.

        Redsys answers HTTP 200 to every request it read: a refused card comes as a `Ds_Response`
        code in the signed parameters, a refused request as an `errorCode` (SIS....). An answer
        whose signature does not match was not written by Redsys: it is not read.

        :return: The decoded parameters, or {'errorCode': ...}.
        :rtype: dict
        :raise ValidationError: If the answer cannot be read or its signature does not match.
        """
        if self.code != 'redsys':
            return super()._parse_response_content(response, **kwargs)
        try:
            content = response.json()
        except (JSONDecodeError, ValueError) as error:
            raise ValidationError(self.env._("Redsys's answer could not be read.")) from error
        if content.get('errorCode'):
            return {'errorCode': str(content['errorCode'])}
        try:
            payment_data = json.loads(base64.b64decode(content['Ds_MerchantParameters']))
            expected = self._redsys_calculate_signature(
                content['Ds_MerchantParameters'],
                str(payment_data['Ds_Order']),
                self.redsys_secret_key,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError(self.env._("Redsys's answer could not be read.")) from error
        if not hmac.compare_digest(
            str(content.get('Ds_Signature', '')).replace('+', '-').replace('/', '_'), expected
        ):
            raise ValidationError(self.env._("Redsys's answer has an invalid signature."))
        return payment_data

    def _redsys_calculate_signature(self, merchant_parameters, reference, secret_key):
        """Override of `payment_redsys` to derive the key from the order number Redsys knows a
        charge by when its reference is not one Redsys accepts (a collection charge's, sent under
        its `provider_reference`): the notifications' signature check passes the reference."""
        if reference and not providers.REDSYS_ORDER_RE.fullmatch(reference):
            tx_sudo = (
                self.env['payment.transaction']
                .sudo()
                .search([('reference', '=', reference), ('provider_code', '=', 'redsys')], limit=1)
            )
            reference = tx_sudo.provider_reference or reference
        return super()._redsys_calculate_signature(merchant_parameters, reference, secret_key)

    def _redsys_send_rest_request(self, merchant_parameters, reference):
        """Send an operation to Redsys's REST endpoint, signed as the redirect is.

        :param dict merchant_parameters: The operation's `DS_MERCHANT_*` parameters.
        :param str reference: The transaction's reference (`DS_MERCHANT_ORDER`).
        :return: The answer's decoded parameters (see `_parse_response_content`).
        :rtype: dict
        """
        self.ensure_one()
        encoded = base64.b64encode(json.dumps(merchant_parameters).encode()).decode()
        payload = {
            'Ds_SignatureVersion': 'HMAC_SHA256_V1',
            'Ds_MerchantParameters': encoded,
            'Ds_Signature': self._redsys_calculate_signature(
                encoded, reference, self.redsys_secret_key
            ),
        }
        return self._send_api_request(
            'POST', 'trataPeticionREST', json=payload, reference=reference
        )
