"""Stripe: a charge's outcome looked up in its API (by the PaymentIntent, or among the card's
customer's intents when the answer never came back). Acts only on Stripe's transactions: the
add-on runs without Odoo's `payment_stripe`."""

from odoo import models


class PaymentTransaction(models.Model):
    _inherit = 'payment.transaction'

    def _payment_plan_lookup_stripe(self):
        """Retrieve the PaymentIntent of the charge, found by its id or, when the answer never
        came back, among the card's customer's intents by the charge's reference (every page:
        "not charged" is only concluded from the whole list)."""
        if self.provider_reference:
            intent = self._send_api_request(
                'GET',
                f'payment_intents/{self.provider_reference}',
                params={'expand[]': 'payment_method'},
            )
        else:
            if not self.token_id.provider_ref:
                return  # An online payment without a card on file: its webhook settles it.
            intent, complete = None, False
            params = {
                'customer': self.token_id.provider_ref,
                'created[gte]': int(self.create_date.timestamp()) - 3600,
                'limit': 100,
                'expand[]': 'data.payment_method',
            }
            for _page in range(50):
                listing = self._send_api_request('GET', 'payment_intents', params=params)
                data = listing.get('data') or []
                intent = next((i for i in data if i.get('description') == self.reference), None)
                if intent or not listing.get('has_more') or not data:
                    complete = not listing.get('has_more') or not data
                    break
                params['starting_after'] = data[-1]['id']
            if not intent:
                if complete:
                    self._payment_plan_conclude_not_charged()
                return
        self._process(
            'stripe',
            {
                'reference': self.reference,
                'payment_intent': intent,
                'payment_method': intent.get('payment_method'),
            },
        )
