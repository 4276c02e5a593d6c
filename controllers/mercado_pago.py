"""Mercado Pago's notifications of the collection's charges (references with a slash)."""

import logging

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

_logger = logging.getLogger(__name__)


class PaymentPlanMercadoPagoWebhook(http.Controller):
    """The notifications of Mercado Pago that Odoo's own route misses for the collection's
    charges."""

    @http.route(
        '/payment/mercado_pago/webhook/<path:reference>',
        type='http',
        auth='public',
        methods=['POST'],
        csrf=False,
    )
    def payment_plan_mercado_pago_webhook(self, reference, **_kwargs):
        """Receive Mercado Pago's notifications of references with a slash.

        Mercado Pago notifies `/payment/mercado_pago/webhook/<reference>`; Odoo's route takes
        one path segment, and references with slashes (an installment's charge,
        `PLAN/2026/00001-01-A1`, an invoice's) would be lost. As Odoo's route does, the
        notification is only a signal: the payment it names is read back from Mercado Pago's API
        and must be this transaction's.
        """
        try:
            data = request.get_json_data()
        except (ValueError, RecursionError):
            _logger.warning("Mercado Pago notification for %r: not JSON, refused.", reference)
            return request.make_response('', status=400)
        if not isinstance(data, dict) or data.get('action') not in (
            'payment.created',
            'payment.updated',
        ):
            return ''
        notified = data.get('data')
        if not isinstance(notified, dict) or '\x00' in reference:
            _logger.warning("Mercado Pago notification for %r: malformed, refused.", reference)
            return request.make_response('', status=400)
        payment_id = notified.get('id')
        tx_sudo = (
            request.env['payment.transaction']
            .sudo()
            .search(
                [('reference', '=', reference), ('provider_code', '=', 'mercado_pago')], limit=1
            )
        )
        if not tx_sudo or not payment_id or not str(payment_id).isdigit():
            return ''
        try:
            payment = tx_sudo._send_api_request('GET', f'/v1/payments/{payment_id}')
        except ValidationError:
            _logger.warning("Could not read the Mercado Pago payment %s back.", payment_id)
            return ''
        # The payment read back must be this transaction's: a notification is only a signal.
        if payment.get('external_reference') != tx_sudo.reference:
            _logger.warning(
                "Mercado Pago payment %s is not %s's: ignored.", payment_id, tx_sudo.reference
            )
            return ''
        tx_sudo._process('mercado_pago', payment)
        return ''
