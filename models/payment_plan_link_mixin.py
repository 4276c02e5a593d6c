import hmac
import secrets

from odoo import api, fields, models
from odoo.tools import format_date

from odoo.addons.payment_plan import const


class PaymentPlanLinkMixin(models.AbstractModel):
    """A link sent to one customer and opened without a login: a random secret, compared in
    constant time, and sent by email and/or SMS with the chatter keeping a copy without it."""

    _name = 'payment.plan.link.mixin'
    _description = "Customer Link"
    # The path of the public page: <route>/<id>/<secret>.
    _link_route = None

    access_token = fields.Char(
        required=True,
        copy=False,
        groups='base.group_system',
        default=lambda self: secrets.token_urlsafe(32),
    )
    # What the sending produced, to tell staff whether the link reached the customer. Odoo keeps
    # mails and messages to the administrators, and deletes the mail once sent (its body holds the
    # link's secret): the link keeps what became of it, staff read only the delivery state.
    mail_id = fields.Many2one(
        comodel_name='mail.mail',
        readonly=True,
        copy=False,
        ondelete='set null',
        index='btree_not_null',
        groups='base.group_system',
    )
    mail_state = fields.Selection(
        selection=const.LINK_DELIVERY_STATES, readonly=True, copy=False, groups='base.group_system'
    )
    mail_error = fields.Char(readonly=True, copy=False, groups='base.group_system')
    sms_message_id = fields.Many2one(
        comodel_name='mail.message',
        readonly=True,
        copy=False,
        ondelete='set null',
        groups='base.group_system',
    )
    delivery_state = fields.Selection(
        string="Delivery",
        selection=const.LINK_DELIVERY_STATES,
        compute='_compute_delivery_state',
        compute_sudo=True,  # From the mail and the SMS, which only administrators read.
        help="Whether the mail and/or SMS reached the customer's mail server or phone operator: "
        "waiting to be sent, sent, failed (e.g. an invalid address) or bounced.",
    )
    delivery_error = fields.Char(compute='_compute_delivery_state', compute_sudo=True)

    # === COMPUTE METHODS === #

    @api.depends(
        'mail_state',
        'mail_error',
        'sms_message_id.notification_ids.notification_status',
    )
    def _compute_delivery_state(self):
        severity = [state for state, _label in const.LINK_DELIVERY_STATES]
        for link in self:
            outcomes = []  # (state, error) of each channel used.
            means = const.CHANNEL_MEANS.get(link.channel, set())
            if 'email' in means:
                outcomes.append(link._get_mail_delivery())
            if 'sms' in means:
                outcomes.append(link._get_sms_delivery())
            # The worst outcome tells: one channel that failed is a link that may not arrive.
            state, error = max(outcomes, key=lambda o: severity.index(o[0]), default=(False, ''))
            link.delivery_state = state
            link.delivery_error = error

    def _get_mail_delivery(self):
        """Return the (delivery state, error) of the link's mail."""
        # A link mailed before it kept its mail's outcome: sent, as it then said.
        return self.mail_state or 'sent', self.mail_error or ''

    def _get_sms_delivery(self):
        """Return the (delivery state, error) of the link's SMS, as its notification says."""
        notification = self.sms_message_id.notification_ids.filtered(
            lambda n: n.notification_type == 'sms'
        )[:1]
        if not notification:
            return 'sent', ''  # Texted before the link kept its SMS.
        status = notification.notification_status
        error = ''
        if notification.failure_type:
            failure_types = dict(
                notification._fields['failure_type']._description_selection(self.env)
            )
            error = failure_types.get(notification.failure_type, '')
        state = {
            'ready': 'pending',
            'process': 'pending',
            'pending': 'sent',
            'sent': 'sent',
            'bounce': 'bounced',
            'exception': 'failed',
            'canceled': 'cancelled',
        }[status]
        return state, error

    # === BUSINESS METHODS === #

    def _record_mail_outcome(self, failure_type=None, failure_reason=None):
        """Record what became of the links' mail: sent, or why not.

        :param str failure_type: The `mail.mail` failure type, None when the mail was sent.
        :param str failure_reason: What the mail server or Odoo said.
        """
        if not failure_type:
            self.sudo().write({'mail_state': 'sent', 'mail_error': False})
            return
        failure_types = dict(
            self.env['mail.mail']._fields['failure_type']._description_selection(self.env)
        )
        self.sudo().write(
            {
                'mail_state': 'bounced' if failure_type == 'mail_bounce' else 'failed',
                'mail_error': (failure_type != 'unknown' and failure_types.get(failure_type))
                or failure_reason
                or '',
            }
        )

    @api.model
    def _find_by_token(self, record_id, token):
        """Return the record (sudoed) whose secret is `token`, or an empty recordset, without
        telling a stranger whether the record exists."""
        record_sudo = self.sudo().browse(record_id).exists()
        if (
            not record_sudo
            or not token
            or not hmac.compare_digest(record_sudo.access_token.encode(), str(token).encode())
        ):
            return self.sudo().browse()
        return record_sudo

    def _get_expiry_date_display(self):
        """Return the day the link expires on, in the customer's time zone (else the company's):
        the same day in the mail and on the page, whoever sends or opens it.

        :rtype: str
        """
        self.ensure_one()
        tz = self.partner_id.tz or self.company_id.partner_id.tz or 'UTC'
        return format_date(self.with_context(tz=tz).env, self.date_expiry)

    def _get_url(self, redacted=False):
        """Return the link the customer opens.

        :param bool redacted: Whether to hide the link's secret, for the copies that staff see.
        """
        self.ensure_one()
        secret = '***' if redacted else self.sudo().access_token
        return f'{self.company_id.get_base_url()}{self._link_route}/{self.id}/{secret}'

    def _send_by_channel(self, mail_template, sms_template):
        """Mail and/or text the link to the customer, as its channel says; nothing is sent when
        the channel cannot reach them (`res.partner._payment_plan_notify`).

        :return: The channels used, as the customer's chatter names them.
        :rtype: list
        """
        self.ensure_one()
        means = const.CHANNEL_MEANS[self.channel]
        mail, sms_copy = self.partner_id._payment_plan_notify(
            self,
            mail_template=mail_template if 'email' in means else None,
            sms_template=sms_template if 'sms' in means else None,
            required=True,
        )
        sent = []
        if mail:
            self.sudo().write({'mail_id': mail.id, 'mail_state': 'pending', 'mail_error': False})
            sent.append(self.env._("email"))
        if sms_copy:
            self.sudo().sms_message_id = sms_copy
            sent.append(self.env._("SMS"))
        return sent
