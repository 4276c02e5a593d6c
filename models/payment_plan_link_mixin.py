import hmac
import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError


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

    def _get_url(self, redacted=False):
        """Return the link the customer opens.

        :param bool redacted: Whether to hide the link's secret, for the copies that staff see.
        """
        self.ensure_one()
        secret = '***' if redacted else self.sudo().access_token
        return f'{self.company_id.get_base_url()}{self._link_route}/{self.id}/{secret}'

    def _send_by_channel(self, template, channel, sms_text):
        """Mail (`template`) and/or text the link to the customer, as `channel` says.

        :param str channel: 'email', 'sms' or 'email_sms'.
        :param sms_text: A function of the link giving the text of the SMS.
        :return: The channels used, as the customer's chatter names them.
        :rtype: list
        """
        self.ensure_one()
        partner = self.partner_id
        sent = []
        if channel in ('email', 'email_sms'):
            if not partner.email:
                raise UserError(
                    self.env._("%(customer)s has no email address.", customer=partner.name)
                )
            template.send_mail(self.id, email_layout_xmlid='mail.mail_notification_light')
            sent.append(self.env._("email"))
        if channel in ('sms', 'email_sms'):
            if not partner.phone_sanitized:
                raise UserError(
                    self.env._("%(customer)s has no valid phone number.", customer=partner.name)
                )
            partner._payment_plan_send_sms(
                sms_text(self._get_url()), sms_text(self._get_url(redacted=True))
            )
            sent.append(self.env._("SMS"))
        return sent
