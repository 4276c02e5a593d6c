from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

from odoo.addons.payment_plan import const


class PaymentPlanCardRequest(models.Model):
    """A link sent to a customer (or opened by staff on the phone) to add a card on file.

    The link holds a random token, is good for one customer, one card and a few days, and opens a
    public page where the provider's own form saves the card through a zero-amount validation.
    """

    _name = 'payment.plan.card.request'
    _inherit = ['payment.plan.link.mixin']
    _description = "Card Registration Link"
    _order = 'id desc'
    _check_company_auto = True
    _link_route = '/payment_plan/card'

    partner_id = fields.Many2one(
        string="Customer",
        comodel_name='res.partner',
        required=True,
        index=True,
        readonly=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    user_id = fields.Many2one(
        string="Requested By", comodel_name='res.users', default=lambda self: self.env.user
    )
    reason = fields.Selection(
        selection=const.CARD_REQUEST_REASONS, required=True, default='subscription'
    )
    channel = fields.Selection(
        selection=const.CARD_REQUEST_CHANNELS, required=True, default='email'
    )
    state = fields.Selection(
        string="Status", selection=const.CARD_REQUEST_STATES, required=True, default='sent'
    )
    date_expiry = fields.Datetime(
        string="Expires On",
        required=True,
        default=lambda self: fields.Datetime.add(
            fields.Datetime.now(), days=const.CARD_REQUEST_VALIDITY_DAYS
        ),
    )
    date_used = fields.Datetime(string="Card Saved On", readonly=True)
    token_id = fields.Many2one(
        string="Card Saved", comodel_name='payment.token', readonly=True, check_company=True
    )
    consent_ip = fields.Char(string="Consent IP Address", readonly=True)
    link_url = fields.Char(
        string="Link",
        compute='_compute_link_url',
        groups='payment_plan.group_manager',
        help="The customer's link, to send them another way: it is theirs only, like a password.",
    )

    # === COMPUTE METHODS === #

    @api.depends('partner_id')
    def _compute_display_name(self):
        for request in self:
            request.display_name = self.env._(
                "Card request for %(customer)s", customer=request.partner_id.display_name
            )

    def _compute_link_url(self):
        now = fields.Datetime.now()
        for request in self:
            usable = request.state == 'sent' and request.date_expiry >= now
            request.link_url = usable and request._get_url()

    # === ACTION METHODS === #

    def action_cancel(self):
        """Cancel the links still usable: they no longer open the card form."""
        cancelled = self.filtered(lambda r: r.state == 'sent')
        cancelled.sudo().write({'state': 'cancelled'})
        for request in cancelled:
            request.partner_id.message_post(
                body=self.env._(
                    "Card registration link of %(date)s cancelled by %(user)s.",
                    date=format_datetime(self.env, request.create_date),
                    user=self.env.user.name,
                )
            )
        return True

    def action_resend(self):
        """Send the customers a new link (valid anew) in place of these, cancelled."""
        to_resend = self.filtered(lambda r: r.state in ('sent', 'cancelled'))
        if to_resend != self:
            raise UserError(self.env._("A link whose card was saved cannot be sent again."))
        if to_resend.filtered(lambda r: r.channel == 'moto'):
            raise UserError(self.env._("A card given by phone is entered again, not sent."))
        to_resend.action_cancel()
        new_requests = self.sudo().create(
            [
                {
                    'partner_id': request.partner_id.id,
                    'company_id': request.company_id.id,
                    'reason': request.reason,
                    'channel': request.channel,
                    'user_id': self.env.uid,
                }
                for request in to_resend
            ]
        )
        new_requests._send()
        return True

    # === BUSINESS METHODS === #

    @api.model
    def _check_link(self, request_id, token):
        """Return the request of a link and what is wrong with it, without telling a stranger
        whether the request exists.

        :return: (request in sudo, problem) where problem is None, 'invalid', 'expired' or 'used'.
        :rtype: tuple
        """
        request_sudo = self._find_by_token(request_id, token)
        if not request_sudo:
            return request_sudo, 'invalid'
        if request_sudo.state == 'used':
            return request_sudo, 'used'
        if (
            request_sudo.state != 'sent'
            or request_sudo.date_expiry < fields.Datetime.now()
            or not request_sudo.partner_id.active
        ):
            return request_sudo, 'expired'
        return request_sudo, None

    def _get_reason_label(self):
        self.ensure_one()
        return dict(self._fields['reason']._description_selection(self.env))[self.reason]

    def _get_consent_text(self):
        """Return what the customer agrees to by saving a card through the link: shown on its
        page, and kept with their consent."""
        self.ensure_one()
        return self.env._(
            "I agree that %(company)s keeps my card on file and charges it for %(reason)s, "
            "without me being present.",
            company=self.company_id.name,
            reason=self._get_reason_label(),
        )

    def _send(self):
        """Mail and/or text the link to the customer, as the request's channel says."""
        mail_template = self.env.ref('payment_plan.mail_template_card_request')
        sms_template = self.env.ref('payment_plan.sms_template_card_request')
        for request in self:
            partner = request.partner_id
            sent = request._send_by_channel(mail_template, sms_template)
            partner.message_post(
                body=self.env._(
                    "Card registration link sent by %(channels)s (%(reason)s), valid until "
                    "%(date)s.",
                    channels=self.env._(" and ").join(sent),
                    reason=request._get_reason_label(),
                    date=format_datetime(self.env, request.date_expiry),
                )
            )

    def _register_card(self, token, ip_address=None):
        """Record the card saved through the link: consent, default card, a note for staff."""
        self.ensure_one()
        self.write(
            {
                'state': 'used',
                'token_id': token.id,
                'date_used': fields.Datetime.now(),
                'consent_ip': ip_address or self.consent_ip,
            }
        )
        partner = self.partner_id
        channel = 'moto' if self.channel == 'moto' else 'link'
        self.env['payment.plan.consent']._record(
            partner,
            channel,
            token=token,
            card_request_id=self.id,
            user_id=self.user_id.id if channel == 'moto' else False,
            ip_address=self.consent_ip,
            text=self._get_consent_text(),
        )
        partner.message_post(
            body=self.env._(
                "Card %(card)s saved by %(how)s (%(reason)s), from %(ip)s.",
                card=token.display_name,
                how=self.env._("phone (MOTO), entered by %(user)s", user=self.user_id.name)
                if channel == 'moto'
                else self.env._("the customer through the registration link"),
                reason=self._get_reason_label(),
                ip=self.consent_ip or self.env._("an unknown address"),
            )
        )

    @api.autovacuum
    def _gc_expired_requests(self):
        """Forget the links that expired a month ago and never saved a card."""
        threshold = fields.Datetime.subtract(fields.Datetime.now(), days=30)
        self.sudo().search([('state', '!=', 'used'), ('date_expiry', '<', threshold)]).unlink()
