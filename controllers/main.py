import logging

from odoo import http
from odoo.http import content_disposition, request

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import customer_import

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
            return request.make_json_response(
                {'error': f"The body exceeds {const.WEBHOOK_MAX_BYTES} bytes."}, status=413
            )
        body = request.httprequest.get_data(cache=False)
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
