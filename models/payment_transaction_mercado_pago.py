"""Mercado Pago: the amount it charged checked against the payment's, and a charge's outcome
looked up in its API. Acts only on Mercado Pago's transactions: the add-on runs without Odoo's
`payment_mercado_pago`."""

from odoo import models


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    def _payment_plan_validate_charged_amount(self, payment_data):
        """Override of the add-on to check the amount Mercado Pago charged, not only the one the
        payment data echoes.

        Odoo's Mercado Pago module validates a card payment made on its form against the item
        price it sent (`additional_info`), while the amount charged (`transaction_amount`) comes
        from the customer's browser: a tampered amount would pay an installment, an order or an
        invoice with a cent. The charged amount must be the transaction's.
        """
        super()._payment_plan_validate_charged_amount(payment_data)
        if (
            self.provider_code == 'mercado_pago'
            and isinstance(payment_data, dict)
            and payment_data.get('transaction_amount') is not None
        ):
            try:
                charged = float(payment_data['transaction_amount'])
            except (TypeError, ValueError):
                charged = None
            if charged is None or self.currency_id.compare_amounts(charged, self.amount) != 0:
                self._set_error(
                    self.env._(
                        "The amount charged (%(charged)s) is not the amount of the payment "
                        "(%(amount)s).",
                        charged=payment_data['transaction_amount'],
                        amount=self.currency_id.format(self.amount),
                    )
                )

    def _payment_plan_lookup_mercado_pago(self):
        """Retrieve the payment of the charge, by its id or by the charge's reference."""
        if self.provider_reference:
            payment = self._send_api_request('GET', f'/v1/payments/{self.provider_reference}')
        else:
            found = self._send_api_request(
                'GET',
                '/v1/payments/search',
                params={'external_reference': self.reference, 'sort': 'date_created'},
            )
            results = found.get('results') or []
            if not results:
                self._payment_plan_conclude_not_charged()
                return
            payment = results[-1]
        self._process('mercado_pago', payment)
