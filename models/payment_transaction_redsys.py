"""Redsys: cards saved through its redirect (a credential-on-file reference) and charged by the
merchant through its REST endpoint. Acts only on Redsys's transactions: the add-on runs without
Odoo's `payment_redsys`, and this file's overrides of its methods are called only by it."""

import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.urls import urljoin

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment_plan.tools import providers

_logger = logging.getLogger(__name__)

# Redsys's notification route (`payment_redsys`'s controller), where it tells a charge's outcome.
REDSYS_WEBHOOK_URL = '/payment/redsys/webhook'


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    # Indexed: Redsys's notifications of merchant-sent charges find them by it (see `create`).
    provider_reference = fields.Char(index='btree_not_null')

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `payment`: Redsys knows an operation by an order number of 4 to 12
        letters and digits. A charge the merchant sends with the add-on's reference
        (PLAN/2026/00001-01-A1) gets one; customers' payments get theirs from `payment_redsys`."""
        transactions = super().create(vals_list)
        for tx in transactions.filtered(
            lambda t: (
                t.provider_code == 'redsys'
                and t.operation == 'offline'
                and not providers.REDSYS_ORDER_RE.fullmatch(t.reference)
            )
        ):
            tx.provider_reference = providers.redsys_order_number(tx.id)
        return transactions

    @api.model
    def _search_by_reference(self, provider_code, payment_data):
        """Override of `payment` to find a Redsys operation by the order number it was sent
        under when its reference is not one Redsys accepts (see `create`)."""
        if provider_code == 'redsys':
            order = self._extract_reference(provider_code, payment_data)
            tx = order and self.search(
                [
                    ('provider_reference', '=', order),
                    ('provider_code', '=', 'redsys'),
                    ('reference', '!=', order),
                ],
                limit=1,
            )
            if tx:
                return tx
        return super()._search_by_reference(provider_code, payment_data)

    def _redsys_cof_type(self):
        """Return Redsys's credential-on-file type of the card's use: R (recurring) for a
        subscription, I (installments) for a deferred payment, C (other) for the rest."""
        self.ensure_one()
        plan = (
            self.installment_id.plan_id
            or self.payment_plan_card_plan_id
            or self.sale_order_ids.payment_plan_id[:1]
        )
        return {'subscription': 'R', 'installments': 'I'}.get(plan.plan_type, 'C')

    def _redsys_prepare_merchant_parameters(self):
        """Override of `payment_redsys` to ask Redsys to save the card when the payment or the
        validation saves it (a credential-on-file reference, authenticated by the customer), and
        to send a card typed by staff for a phone order as a MOTO operation."""
        parameters = super()._redsys_prepare_merchant_parameters()
        if self.tokenize:
            parameters.update(
                {
                    'DS_MERCHANT_IDENTIFIER': 'REQUIRED',
                    'DS_MERCHANT_COF_INI': 'S',
                    'DS_MERCHANT_COF_TYPE': self._redsys_cof_type(),
                }
            )
        if self._payment_plan_is_moto() and self.provider_id.redsys_allow_moto:
            parameters['DS_MERCHANT_DIRECTPAYMENT'] = 'MOTO'
        return parameters

    def _redsys_prepare_mit_parameters(self):
        """Return the parameters of a merchant-initiated charge of the saved card (no customer,
        no authentication: the MIT exemption, with the credential-on-file of the first
        payment)."""
        self.ensure_one()
        provider = self.provider_id.sudo()
        parameters = {
            'DS_MERCHANT_AMOUNT': str(
                payment_utils.to_minor_currency_units(self.amount, self.currency_id)
            ),
            'DS_MERCHANT_CURRENCY': self.currency_id.iso_numeric,
            'DS_MERCHANT_MERCHANTCODE': provider.redsys_merchant_code,
            'DS_MERCHANT_TERMINAL': provider.redsys_merchant_terminal,
            'DS_MERCHANT_ORDER': self.provider_reference or self.reference,
            'DS_MERCHANT_TRANSACTIONTYPE': '0',
            'DS_MERCHANT_IDENTIFIER': self.token_id.provider_ref,
            'DS_MERCHANT_DIRECTPAYMENT': 'true',
            'DS_MERCHANT_EXCEP_SCA': 'MIT',
            'DS_MERCHANT_COF_INI': 'N',
            'DS_MERCHANT_COF_TYPE': self._redsys_cof_type(),
            'DS_MERCHANT_MERCHANTURL': urljoin(provider.get_base_url(), REDSYS_WEBHOOK_URL),
        }
        if self.token_id.redsys_cof_txnid:
            parameters['DS_MERCHANT_COF_TXNID'] = self.token_id.redsys_cof_txnid
        return parameters

    def _send_payment_request(self):
        """Override of `payment` to charge a saved card through Redsys's REST endpoint.

        Redsys answers with signed parameters (`Ds_Response`), processed as its notifications
        are. A request Redsys refused before any authorisation (`errorCode` SIS....) charged
        nothing: an error of the provider, not of the card, except a repeated order number,
        whose first sending may have charged: its outcome is unknown.
        """
        if self.provider_code != 'redsys':
            return super()._send_payment_request()
        if self.operation != 'offline':
            return self._redsys_refuse(
                self.env._(
                    "A card saved with Redsys is charged by the merchant only: pay with Redsys's "
                    "payment form."
                )
            )
        if not self.token_id.provider_ref:
            return self._redsys_refuse(self.env._("The card has no Redsys reference to charge."))
        order = self.provider_reference or self.reference
        payment_data = self.provider_id.sudo()._redsys_send_rest_request(
            self._redsys_prepare_mit_parameters(), order
        )
        error_code = payment_data.get('errorCode')
        if error_code == 'SIS0051':  # Order number repeated: it was sent before.
            raise ValidationError(
                self.env._("Redsys has already received this operation (%s).", error_code)
            )
        if error_code:
            return self._redsys_refuse(self.env._("Redsys refused the request (%s).", error_code))
        if str(payment_data.get('Ds_Order')) != order:
            raise ValidationError(self.env._("Redsys answered about another operation."))
        self._process('redsys', payment_data)

    def _redsys_refuse(self, message):
        """End a charge that charged nothing (not sent, or refused by Redsys before any
        authorisation): an error of the provider or of the request, not of the card."""
        self._set_error(message)
        if self._is_payment_plan_charge():
            self.payment_plan_decline_kind = providers.PROVIDER

    def _apply_updates(self, payment_data):
        """Override of `payment_redsys` to say that Redsys refused the card, with its code (the
        original calls any code it does not list "unknown"), and to leave a merchant charge whose
        order number Redsys says it received before with its outcome unknown."""
        if (
            self.provider_code == 'redsys'
            and self.state in ('draft', 'pending')
            and providers.redsys_response_code(payment_data) == '913'
            and self._is_payment_plan_charge()
        ):
            # "Order number repeated": the order was received before and may have been charged.
            self._payment_plan_set_outcome_unknown(
                self.env._("Redsys has already received this operation (%s).", '0913')
            )
            return
        if (
            self.provider_code == 'redsys'
            and self.state in ('draft', 'pending')
            and payment_data.get('Ds_Response')
            and not providers.redsys_is_authorized(payment_data)
            and providers.redsys_response_code(payment_data) not in ('400', '900', '9915')
        ):
            self._set_error(
                self.env._(
                    "The payment was refused (Redsys response %s).", payment_data['Ds_Response']
                ),
                extra_allowed_states=('pending',),
            )
            return
        super()._apply_updates(payment_data)

    def _extract_token_values(self, payment_data):
        """Override of `payment` to save the card Redsys registered: its reference
        (`Ds_Merchant_Identifier`), the last four digits of the masked number, and the
        network's transaction id that later merchant-initiated charges quote. No card number is
        stored."""
        if self.provider_code != 'redsys':
            return super()._extract_token_values(payment_data)
        identifier = payment_data.get('Ds_Merchant_Identifier')
        if not identifier:
            _logger.warning(
                "Redsys saved no card for %s: its answer has no Ds_Merchant_Identifier.",
                self.reference,
            )
            return {}
        return {
            'provider_ref': identifier,
            'payment_details': providers.redsys_last_digits(payment_data),
            'redsys_cof_txnid': payment_data.get('Ds_Merchant_Cof_Txnid') or False,
        }
