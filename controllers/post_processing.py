import logging

from odoo import http
from odoo.http import request

from odoo.addons.payment.controllers.post_processing import PaymentPostProcessing

_logger = logging.getLogger(__name__)


class PaymentPlanPostProcessing(PaymentPostProcessing):
    @http.route()
    def poll_status(self, **kwargs):
        """Override of `payment` to answer the customer normally when the post-processing of
        their payment fails (an invoice that cannot be posted, a plan that cannot start...).

        The payment itself is recorded: Odoo rolled the post-processing back and logged why, and
        the transaction, still to post-process, is left to the post-processing cron.
        """
        try:
            return super().poll_status(**kwargs)
        except Exception as error:
            # Odoo's own signal that the cursor could not be committed: the page polls again.
            if type(error) is Exception and error.args == ('retry',):
                raise
            request.env.invalidate_all(flush=False)  # What the rollback undid.
            monitored_tx = self._get_monitored_transaction()
            _logger.warning(
                "Post-processing %s failed (%s): the customer is answered, the post-processing "
                "cron retries it.",
                monitored_tx.reference,
                error,
            )
            return {
                'provider_code': monitored_tx.provider_code,
                'state': monitored_tx.state,
                'landing_route': monitored_tx.landing_route,
            }
