"""Redsys: saving cards through its redirect, cards given by phone where the merchant's terminal
accepts them, and its REST endpoint for merchant-initiated charges. Acts only on Redsys
providers: the add-on runs without Odoo's `payment_redsys`, and this file's overrides of its
methods are called only by it."""

import base64
import hmac
import json
from json import JSONDecodeError

from odoo import fields, models
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

    def _payment_plan_supports_moto(self):
        """Override of the add-on: a Redsys terminal takes phone orders when the merchant's
        contract allows it (a setting of the provider)."""
        if self.code == 'redsys':
            return self.redsys_allow_moto
        return super()._payment_plan_supports_moto()

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
