import hmac

from werkzeug.exceptions import Forbidden

from odoo.addons.payment_redsys.controllers.main import RedsysController


class PaymentPlanRedsysController(RedsysController):
    @staticmethod
    def _verify_signature(payment_data, tx_sudo):
        """Override of `payment_redsys` to check the signature of a notification about a charge
        sent under an order number of its own (`provider_reference`, see
        `payment.transaction.create`): Redsys derives the key from the order number it knows."""
        order = tx_sudo.provider_reference
        if not order or order == tx_sudo.reference:
            return RedsysController._verify_signature(payment_data, tx_sudo)
        received = payment_data.get('Ds_Signature') or ''
        expected = tx_sudo.provider_id._redsys_calculate_signature(
            payment_data.get('Ds_MerchantParameters') or '',
            order,
            tx_sudo.provider_id.redsys_secret_key,
        )
        if not hmac.compare_digest(received, expected):
            raise Forbidden()
