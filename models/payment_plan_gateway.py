import json
import logging
import secrets
import uuid

import requests

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.modules import module as odoo_module
from odoo.tools import str2bool

from odoo.addons.payment_plan.tools import outbound, webhook

_logger = logging.getLogger(__name__)


class PaymentPlanGateway(models.Model):
    _name = 'payment.plan.gateway'
    _description = "Payment Plan Gateway"
    _order = 'name, id'
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        copy=False,
        help="The gateway's part of its webhook URL: /payment_plan/webhook/<code>.",
    )
    company_id = fields.Many2one(
        comodel_name='res.company',
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    secret = fields.Char(
        required=True,
        copy=False,
        groups='payment_plan.group_manager',
        default=lambda self: secrets.token_hex(32),
        help="The key the gateway signs its events with (HMAC-SHA256 of the raw body, sent hex "
        "encoded in the X-Payment-Plan-Signature header).",
    )
    journal_id = fields.Many2one(
        string="Payment Journal",
        comodel_name='account.journal',
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
        compute='_compute_journal_id',
        store=True,
        readonly=False,
        help="The journal of the payments the gateway reports.",
    )
    schedule_url = fields.Char(
        string="Schedule URL",
        help="Where the gateway receives the schedules of the plans it collects, and their "
        "cancellation: a signed JSON request (the README describes it), sent over HTTPS to a public "
        "host only, never to where it redirects. Empty: the gateway is told nothing.",
    )
    active = fields.Boolean(default=True)
    webhook_url = fields.Char(string="Webhook URL", compute='_compute_webhook_url')
    event_ids = fields.One2many(
        string="Events", comodel_name='payment.plan.event', inverse_name='gateway_id'
    )

    _code_uniq = models.Constraint('unique(code)', "A gateway code must be unique.")
    _code_format = models.Constraint(
        "CHECK(code ~ '^[a-z0-9_-]+$')",
        "A gateway code may hold only lowercase letters, digits, '-' and '_'.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains('schedule_url')
    def _check_schedule_url(self):
        """The schedule URL receives customer data signed with the gateway's secret: HTTPS to a
        public host only (a host name's addresses are checked when it is called)."""
        allow_loopback = self._schedule_allows_loopback()
        for gateway in self.filtered('schedule_url'):
            try:
                outbound.check_url(gateway.schedule_url, allow_loopback=allow_loopback)
            except outbound.UrlRefused as error:
                raise ValidationError(gateway._get_url_refusal_message(error)) from None

    # === COMPUTE METHODS === #

    @api.depends('company_id')
    def _compute_journal_id(self):
        for gateway in self:
            if gateway.journal_id.company_id != gateway.company_id:
                gateway.journal_id = self.env['account.journal'].search(
                    [
                        *self.env['account.journal']._check_company_domain(gateway.company_id),
                        ('type', '=', 'bank'),
                    ],
                    limit=1,
                )

    @api.depends('code')
    def _compute_webhook_url(self):
        base_url = self.get_base_url()
        for gateway in self:
            gateway.webhook_url = gateway.code and f'{base_url}/payment_plan/webhook/{gateway.code}'

    # === BUSINESS METHODS === #

    def _send_event(self, event_type, data):
        """Send the gateway an event, signed as its own events are (hex HMAC-SHA256 of the raw
        body with the gateway's secret, in `X-Payment-Plan-Signature`).

        :param str event_type: `schedule.created` or `schedule.cancelled`.
        :param dict data: The event's data (the plan's schedule).
        :return: The gateway's JSON answer (a dict, possibly empty).
        :raise UserError: When the gateway did not take the event.
        """
        self.ensure_one()
        payload = {
            'event_id': str(uuid.uuid4()),
            'type': event_type,
            'occurred_at': fields.Datetime.now().isoformat() + 'Z',
            'data': data,
        }
        body = json.dumps(payload, sort_keys=True).encode()
        allow_loopback = self._schedule_allows_loopback()
        try:
            # Checked again when called: a host name resolves when it is called, and a URL may
            # predate the constraint.
            host, port = outbound.check_url(self.schedule_url, allow_loopback=allow_loopback)
            outbound.check_resolved(host, port, allow_loopback=allow_loopback)
        except outbound.UrlRefused as error:
            _logger.warning(
                "Gateway %s: schedule URL refused, %s not sent: %s", self.code, event_type, error
            )
            raise UserError(
                self.env._(
                    "The gateway %(gateway)s did not take the %(event)s event: %(error)s",
                    gateway=self.name,
                    event=event_type,
                    error=self._get_url_refusal_message(error),
                )
            ) from None
        try:
            response = requests.post(
                self.schedule_url,
                data=body,
                headers={
                    'Content-Type': 'application/json',
                    'X-Payment-Plan-Signature': webhook.sign(self.sudo().secret, body),
                },
                timeout=10,
                # The signed event goes to the configured URL or nowhere.
                allow_redirects=False,
            )
            if response.is_redirect or 300 <= response.status_code < 400:
                raise requests.RequestException(
                    f"redirect ({response.status_code}) to {response.headers.get('Location')} "
                    "not followed"
                )
            response.raise_for_status()
            answer = response.json() if response.content else {}
        except (requests.RequestException, ValueError) as error:
            _logger.warning("Gateway %s refused the event %s: %s", self.code, event_type, error)
            raise UserError(
                self.env._(
                    "The gateway %(gateway)s did not take the %(event)s event: %(error)s",
                    gateway=self.name,
                    event=event_type,
                    error=error,
                )
            ) from error
        return answer if isinstance(answer, dict) else {}

    def _schedule_allows_loopback(self):
        """Return whether schedule URLs may be HTTP on loopback addresses: only in tests, where a
        local server plays the gateway (`payment_plan.schedule_allow_loopback`)."""
        if not odoo_module.current_test:
            return False
        return str2bool(
            self.env['ir.config_parameter']
            .sudo()
            .get_param('payment_plan.schedule_allow_loopback', 'False'),
            default=False,
        )

    def _get_url_refusal_message(self, error):
        """Return the message telling staff why the schedule URL is refused.

        :param outbound.UrlRefused error: The refusal.
        """
        if error.reason == 'scheme':
            return self.env._("The schedule URL must start with https://.")
        if error.reason == 'address':
            return self.env._(
                "The schedule URL reaches %(address)s, a loopback, private, link-local or reserved "
                "address: only public hosts are called.",
                address=error.detail,
            )
        if error.reason == 'unresolved':
            return self.env._(
                "The host %(host)s of the schedule URL cannot be resolved.", host=error.detail
            )
        return self.env._("The schedule URL is not a valid URL with a host.")

    # === ACTION METHODS === #

    def action_regenerate_secret(self):
        """Replace the signing key (the gateway must be given the new one)."""
        self.ensure_one()
        self.secret = secrets.token_hex(32)
        return True
