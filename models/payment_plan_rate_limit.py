import logging

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


class PaymentPlanRateLimit(models.Model):
    """One attempt made through a public link (a card validation, a payment): what the rate
    limits of the links count, per link and per address, so that a stolen or shared link cannot
    be used to test card numbers."""

    _name = 'payment.plan.rate.limit'
    _description = "Payment Plans Link Attempt"
    _log_access = True

    key = fields.Char(required=True, index=True, help="The link the attempt was made through.")
    ip_address = fields.Char(required=True, index=True)

    @api.model
    def _hit(self, key, ip_address, max_per_key, max_per_ip, hours=1):
        """Count an attempt through `key` from `ip_address` and return whether it is allowed:
        fewer than `max_per_key` attempts through the link and `max_per_ip` from the address in
        the last `hours`. Every attempt counts, refused ones included, one at a time, in a
        transaction of its own committed whatever the request does next.

        :rtype: bool
        """
        since = fields.Datetime.subtract(fields.Datetime.now(), hours=hours)
        with self.env.registry.cursor() as cr:
            # The first statement of the transaction: the snapshot taken after the lock sees the
            # attempts counted meanwhile (see `payment.plan.activation._request_activation`).
            cr.execute(
                SQL("LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE", SQL.identifier(self._table))
            )
            Attempts = self.with_env(self.env(cr=cr)).sudo()
            allowed = (
                Attempts.search_count([('key', '=', key), ('create_date', '>=', since)])
                < max_per_key
                and Attempts.search_count(
                    [('ip_address', '=', ip_address), ('create_date', '>=', since)]
                )
                < max_per_ip
            )
            Attempts.create({'key': key, 'ip_address': ip_address or '-'})
            # Attempts older than a day count for nothing any more.
            Attempts.search(
                [('create_date', '<', fields.Datetime.subtract(fields.Datetime.now(), days=1))]
            ).unlink()
        if not allowed:
            _logger.warning("Link attempt refused: too many attempts (%s, %s).", key, ip_address)
        return allowed
