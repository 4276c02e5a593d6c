"""Redsys: what a card saved with it keeps for the merchant's later charges, and where it is
offered. Acts only on Redsys's cards: the add-on runs without Odoo's `payment_redsys`."""

from odoo import fields, models


class PaymentToken(models.Model):
    _inherit = 'payment.token'

    redsys_cof_txnid = fields.Char(
        string="Redsys Network Transaction",
        readonly=True,
        copy=False,
        help="The card network's id of the payment that saved the card: Redsys's "
        "merchant-initiated charges quote it (DS_MERCHANT_COF_TXNID).",
    )

    def _get_available_tokens(self, providers_ids, partner_id, is_validation=False, **kwargs):
        """Override of `payment` not to offer a card saved with Redsys for a payment the customer
        makes: Redsys charges it merchant-initiated only, without the customer's authentication
        that a payment they make needs (they pay with Redsys's form). Their cards page still lists
        it."""
        tokens = super()._get_available_tokens(
            providers_ids, partner_id, is_validation=is_validation, **kwargs
        )
        if is_validation:
            return tokens
        return tokens.filtered(lambda token: token.provider_code != 'redsys')
