from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_datetime

from odoo.addons.payment_plan import const


class PaymentPlanConsent(models.Model):
    """The customer's agreement that a card be kept on file and charged without them.

    A consent is evidence: it is created once (by the card registration link, a card given by
    phone, Odoo's checkout when the customer saves their card, or a signed form recorded by an
    administrator), never edited, and can only be revoked.
    """

    _name = 'payment.plan.consent'
    _description = "Card-on-File Consent"
    _order = 'date desc, id desc'
    _check_company_auto = True
    _rec_name = 'partner_id'

    partner_id = fields.Many2one(
        string="Customer",
        comodel_name='res.partner',
        required=True,
        index=True,
        ondelete='cascade',
    )
    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    token_id = fields.Many2one(
        string="Card",
        comodel_name='payment.token',
        index='btree_not_null',
        ondelete='set null',
        check_company=True,
        help="The card the consent is for; empty: every card of the customer.",
    )
    card_request_id = fields.Many2one(
        string="Registration Link",
        comodel_name='payment.plan.card.request',
        index='btree_not_null',
        ondelete='set null',
    )
    channel = fields.Selection(selection=const.CONSENT_CHANNELS, required=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now)
    user_id = fields.Many2one(
        string="Recorded By",
        comodel_name='res.users',
        default=lambda self: self.env.user,
        help="The employee who recorded it (phone, signed form); empty when the customer gave it "
        "online.",
    )
    ip_address = fields.Char(string="IP Address", help="Where the customer gave it online.")
    text = fields.Text(
        string="Agreed Text",
        help="The statement the customer agreed to, as the page showed it to them: what the card "
        "will be charged for, how much and when.",
    )
    attachment = fields.Binary(string="Signed Form", attachment=True)
    attachment_name = fields.Char(string="File Name")
    revoked_date = fields.Datetime(readonly=True, copy=False, index='btree_not_null')
    revoked_user_id = fields.Many2one(string="Revoked By", comodel_name='res.users', readonly=True)
    active_consent = fields.Boolean(
        string="In Force", compute='_compute_active_consent', search='_search_active_consent'
    )

    # === COMPUTE METHODS === #

    @api.depends('revoked_date')
    def _compute_active_consent(self):
        for consent in self:
            consent.active_consent = not consent.revoked_date

    def _search_active_consent(self, operator, value):
        if operator not in ('in', 'not in'):
            return NotImplemented
        in_force = True in value
        if operator == 'not in':
            in_force = not in_force
        return [('revoked_date', '=' if in_force else '!=', False)]

    # === CONSTRAINT METHODS === #

    @api.constrains('token_id', 'partner_id')
    def _check_token_partner(self):
        for consent in self.filtered('token_id'):
            holders = consent.partner_id | consent.partner_id.commercial_partner_id
            if consent.token_id.sudo().partner_id not in holders:
                raise ValidationError(
                    self.env._(
                        "The card %(card)s is not a card of %(customer)s.",
                        card=consent.token_id.sudo().display_name,
                        customer=consent.partner_id.display_name,
                    )
                )

    # === CRUD METHODS === #

    def write(self, vals):
        """A consent is evidence: only its revocation is ever written."""
        if set(vals) - {'revoked_date', 'revoked_user_id'} or self.filtered('revoked_date'):
            raise UserError(
                self.env._("A consent cannot be changed: revoke it and record a new one.")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        raise UserError(self.env._("A consent is kept as evidence: revoke it instead."))

    # === ACTION METHODS === #

    def action_revoke(self):
        """Withdraw the consent: the cards it covers are no longer charged without the customer."""
        in_force = self.filtered(lambda c: not c.revoked_date)
        in_force.write({'revoked_date': fields.Datetime.now(), 'revoked_user_id': self.env.uid})
        for consent in in_force:
            consent.partner_id.message_post(
                body=self.env._(
                    "Card-on-file consent of %(date)s (%(channel)s) revoked.",
                    date=format_datetime(self.env, consent.date),
                    channel=dict(const.CONSENT_CHANNELS)[consent.channel],
                )
            )
        return True

    # === BUSINESS METHODS === #

    @api.model
    def _has_consent(self, partner):
        """Return whether `partner` (or their company) gave a consent in force (for a card,
        `_get_consented_token_ids` tells which ones it covers)."""
        holders = partner | partner.commercial_partner_id
        # Consents are read by the collection service for any caller: only existence is told.
        return bool(
            self.sudo().search_count(
                [('partner_id', 'in', holders.ids), ('revoked_date', '=', False)], limit=1
            )
        )

    @api.model
    def _get_consented_token_ids(self, tokens):
        """Return the ids of the cards among `tokens` that a consent in force covers, in one
        query (the collection service checks a whole batch of cards at once): a consent of the
        card's holder or of its company (commercial entity), given to the card's company, for
        that card or for all the holder's cards.

        :rtype: set
        """
        tokens_sudo = tokens.sudo()
        holders = tokens_sudo.partner_id | tokens_sudo.partner_id.commercial_partner_id
        # Consents are read for the collection service, whoever runs it: only coverage is told.
        consents = self.sudo().search(
            [('partner_id', 'in', holders.ids), ('revoked_date', '=', False)]
        )
        covered = set()
        for token in tokens_sudo:
            token_holders = token.partner_id | token.partner_id.commercial_partner_id
            if any(
                consent.partner_id in token_holders
                and consent.company_id == token.company_id
                and consent.token_id in (token, self.env['payment.token'])
                for consent in consents
            ):
                covered.add(token.id)
        return covered

    @api.model
    def _record(self, partner, channel, token=None, **values):
        """Record a consent of `partner` given through `channel` (for `token` if given).

        :return: The consent.
        """
        # The link page, the checkout and the phone entry record the customer's consent for them.
        consent_sudo = self.sudo().create(
            {
                'partner_id': partner.id,
                'company_id': (token.company_id if token else partner.company_id).id
                or self.env.company.id,
                'channel': channel,
                'token_id': token.id if token else False,
                **values,
            }
        )
        return self.browse(consent_sudo.id)
