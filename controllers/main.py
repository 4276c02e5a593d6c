import logging

from odoo import http
from odoo.http import content_disposition, request

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import customer_import, webhook

_logger = logging.getLogger(__name__)


class PaymentPlanController(http.Controller):
    _webhook_url = '/payment_plan/webhook/<string:gateway_code>'

    @http.route(_webhook_url, type='http', methods=['POST'], auth='public', csrf=False)
    def payment_plan_webhook(self, gateway_code, **_kwargs):
        """Receive a charge a gateway reports: signed JSON, checked, stored once, then applied.

        The request is authenticated by its HMAC signature, not by a session or a CSRF token.
        """
        length = request.httprequest.content_length
        if length and length > const.WEBHOOK_MAX_BYTES:
            _logger.warning("Webhook %s: body of %s bytes refused unread.", gateway_code, length)
            return self._webhook_too_large()
        body = self._read_webhook_body()
        if len(body) > const.WEBHOOK_MAX_BYTES:
            _logger.warning("Webhook %s: body over the limit refused.", gateway_code)
            return self._webhook_too_large()
        status, answer = (
            request.env['payment.plan.event']
            .sudo()
            ._receive(
                gateway_code,
                body,
                request.httprequest.headers.get('X-Payment-Plan-Signature'),
            )
        )
        return request.make_json_response(answer, status=status)

    @staticmethod
    def _read_webhook_body():
        """Return the raw body, read through a bounded stream: at most WEBHOOK_MAX_BYTES + 1
        bytes, also when a chunked request announces no length.

        The body is kept on the request, so that a request Odoo retries after a serialization
        failure checks the same bytes (the stream can be read only once).
        """
        environ = request.httprequest.environ
        if 'payment_plan.webhook_body' not in environ:
            httprequest = request.httprequest
            # Odoo's request wrapper does not expose werkzeug's `stream` (the input bounded by
            # Content-Length, or de-chunked); its `get_data` would read any length.
            stream = getattr(httprequest, 'stream', None)
            if stream is None:
                stream = httprequest._HTTPRequest__wrapped.stream
            environ['payment_plan.webhook_body'] = webhook.read_bounded(
                stream, const.WEBHOOK_MAX_BYTES
            )
        return environ['payment_plan.webhook_body']

    @staticmethod
    def _webhook_too_large():
        return request.make_json_response(
            {'error': f"The body exceeds {const.WEBHOOK_MAX_BYTES} bytes."}, status=413
        )


class PaymentPlanImportTemplate(http.Controller):
    @http.route('/payment_plan/import/template', type='http', auth='user', methods=['GET'])
    def import_template(self):
        """Download the CSV template of the bulk customer import."""
        if not request.env.user.has_group('payment_plan.group_user'):
            raise request.not_found()
        return request.make_response(
            customer_import.template_csv(),
            headers=[
                ('Content-Type', 'text/csv; charset=utf-8'),
                ('Content-Disposition', content_disposition('customers_template.csv')),
            ],
        )
