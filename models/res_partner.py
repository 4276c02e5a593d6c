from markupsafe import Markup

from odoo import api, fields, models, modules
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain

from odoo.addons.payment_plan import const


class ResPartner(models.Model):
    _inherit = 'res.partner'

    payment_plan_transaction_ids = fields.Many2many(
        string="Payments",
        comodel_name='payment.transaction',
        compute='_compute_payment_plan_transaction_ids',
        groups='payment_plan.group_user',
        help="The customer's latest payments and charges, of every path.",
    )
    payment_plan_ids = fields.One2many(
        string="Payment Plans",
        comodel_name='payment.plan',
        inverse_name='partner_id',
    )
    payment_plan_count = fields.Integer(
        compute='_compute_payment_plan_count',
    )
    payment_plan_contacts_manage = fields.Boolean(
        string="Contacts Manage Plans and Cards",
        help="The company's contacts with a portal account may make its cards the default, move "
        "its plans to a card, delete its cards and cancel its plans, as the company's own account "
        "does. A contact never acts on a colleague's own card or plan.",
    )
    default_token_id = fields.Many2one(
        string="Default Card",
        comodel_name='payment.token',
        compute='_compute_default_token_id',
        inverse='_inverse_default_token_id',
        domain="[('partner_id', '=', id)]",
        help="The card charged by default for this customer's plans in the current company.",
    )
    has_saved_card = fields.Boolean(
        string="Has a Saved Card",
        compute='_compute_has_saved_card',
        search='_search_has_saved_card',
    )
    payment_plan_consent_ids = fields.One2many(
        string="Card Consents",
        comodel_name='payment.plan.consent',
        inverse_name='partner_id',
        help="Every consent to charge a card on file the customer gave, revoked ones included.",
    )
    card_consent_date = fields.Datetime(
        compute='_compute_card_consent',
        store=True,
        help="When the customer gave the consent in force to charge a card on file.",
    )
    card_consent_channel = fields.Selection(
        selection=const.CONSENT_CHANNELS, compute='_compute_card_consent', store=True
    )
    card_consent_user_id = fields.Many2one(
        string="Consent Recorded By",
        comodel_name='res.users',
        compute='_compute_card_consent',
        store=True,
    )
    card_consent_ip = fields.Char(
        string="Consent IP Address",
        compute='_compute_card_consent',
        store=True,
        help="Where the customer was when they gave it online.",
    )
    payment_card_count = fields.Integer(string="Cards", compute='_compute_payment_portfolio')
    card_expiring_soon = fields.Boolean(
        compute='_compute_payment_portfolio',
        search='_search_card_expiring_soon',
        help="A card on file expires within the warning period of the settings.",
    )
    running_plan_count = fields.Integer(
        string="Running Plans", compute='_compute_payment_portfolio'
    )
    has_running_plan = fields.Boolean(
        string="Has a Running Plan",
        compute='_compute_payment_portfolio',
        search='_search_has_running_plan',
    )
    has_denied_plan = fields.Boolean(
        string="Has a Denied Payment",
        compute='_compute_payment_portfolio',
        search='_search_has_denied_plan',
        help="A running plan has an installment denied after its last attempt.",
    )
    payment_metadata_ids = fields.One2many(
        string="Metadata",
        comodel_name='payment.plan.metadata',
        inverse_name='partner_id',
        help="Free key/value pairs about the customer, e.g. an id in another system.",
    )

    # === COMPUTE METHODS === #

    def _compute_payment_plan_transaction_ids(self):
        for partner in self:
            if not partner.id:
                partner.payment_plan_transaction_ids = False
                continue
            commercial = partner.commercial_partner_id
            partner.payment_plan_transaction_ids = self.env['payment.transaction'].search(
                [
                    ('partner_id', 'child_of', commercial.id),
                    ('operation', '!=', 'validation'),
                ],
                order='id desc',
                limit=80,
            )

    @api.depends('payment_plan_consent_ids.date', 'payment_plan_consent_ids.revoked_date')
    def _compute_card_consent(self):
        """The consent in force shown on the customer: their latest unrevoked one."""
        for partner in self:
            consent = partner.payment_plan_consent_ids.filtered(
                lambda c: not c.revoked_date
            ).sorted(lambda c: (c.date, c.id), reverse=True)[:1]
            partner.card_consent_date = consent.date
            partner.card_consent_channel = consent.channel
            partner.card_consent_user_id = consent.user_id
            partner.card_consent_ip = consent.ip_address

    @api.depends('payment_plan_ids')
    def _compute_payment_plan_count(self):
        counts = dict(
            self.env['payment.plan']._read_group(
                [('partner_id', 'in', self.ids)],
                ['partner_id'],
                ['__count'],
            )
        )
        for partner in self:
            partner.payment_plan_count = counts.get(partner, 0)

    @api.depends('payment_token_ids.is_default')
    @api.depends_context('company')
    def _compute_default_token_id(self):
        # The default card is shown to whoever may read the customer; the card itself stays
        # protected by the token's own access rules.
        tokens_sudo = (
            self.env['payment.token']
            .sudo()
            .search(
                [
                    ('partner_id', 'in', self.ids),
                    ('company_id', '=', self.env.company.id),
                    ('is_default', '=', True),
                ]
            )
        )
        default_by_partner = {token.partner_id.id: token.id for token in tokens_sudo}
        for partner in self:
            partner.default_token_id = default_by_partner.get(partner.id, False)

    def _inverse_default_token_id(self):
        for partner in self.filtered('default_token_id'):
            partner.default_token_id.action_set_default()

    @api.depends('payment_token_ids')
    def _compute_has_saved_card(self):
        # Tells whether a card exists without disclosing it: tokens are protected by their rules.
        partners_with_card = {
            partner.id
            for [partner] in self.env['payment.token']
            .sudo()
            ._read_group(
                [('partner_id', 'in', self.ids)],
                ['partner_id'],
            )
        }
        for partner in self:
            partner.has_saved_card = partner.id in partners_with_card

    def _search_has_saved_card(self, operator, value):
        if operator not in ('in', 'not in'):
            return NotImplemented
        wanted = {bool(v) for v in value}
        if operator == 'not in':
            wanted = {True, False} - wanted
        if len(wanted) != 1:
            return Domain.TRUE if wanted else Domain.FALSE
        # Searched in sudo for the same reason as the compute: the filter only tells existence.
        partner_ids = self.env['payment.token'].sudo()._search([]).subselect('partner_id')
        return Domain('id', 'in' if True in wanted else 'not in', partner_ids)

    @api.depends('payment_token_ids', 'payment_plan_ids.state', 'payment_plan_ids.payment_failed')
    def _compute_payment_portfolio(self):
        # Counted in sudo like `has_saved_card`: the counts disclose no card.
        cards = dict(
            self.env['payment.token']
            .sudo()
            ._read_group([('partner_id', 'in', self.ids)], ['partner_id'], ['__count'])
        )
        expiring = {
            token.partner_id.id
            for token in self.env['payment.token']
            .sudo()
            .search([('partner_id', 'in', self.ids), *self._get_expiring_card_domain()])
        }
        running = dict(
            self.env['payment.plan']._read_group(
                [('partner_id', 'in', self.ids), ('state', 'in', ('active', 'paused'))],
                ['partner_id'],
                ['__count'],
            )
        )
        denied = {
            partner
            for [partner] in self.env['payment.plan']._read_group(
                [
                    ('partner_id', 'in', self.ids),
                    ('state', 'in', ('active', 'paused')),
                    ('payment_failed', '=', True),
                ],
                ['partner_id'],
            )
        }
        for partner in self:
            partner.payment_card_count = cards.get(partner, 0)
            partner.card_expiring_soon = partner.id in expiring
            partner.running_plan_count = running.get(partner, 0)
            partner.has_running_plan = bool(partner.running_plan_count)
            partner.has_denied_plan = partner in denied

    def _search_card_expiring_soon(self, operator, value):
        if operator not in ('in', 'not in'):
            return NotImplemented
        partner_ids = (
            self.env['payment.token']
            .sudo()
            ._search(self._get_expiring_card_domain())
            .subselect('partner_id')
        )
        positive = (True in value) == (operator == 'in')
        return Domain('id', 'in' if positive else 'not in', partner_ids)

    @api.model
    def _get_expiring_card_domain(self):
        """Return the domain of the cards that expire within the warning period."""
        today = fields.Date.context_today(self)
        days = self.env.company.payment_plan_expiry_warning_days
        return [
            ('expiry_date', '>=', today),
            ('expiry_date', '<=', fields.Date.add(today, days=days)),
        ]

    def _search_has_running_plan(self, operator, value):
        return self._search_by_plans(operator, value, [('state', 'in', ('active', 'paused'))])

    def _search_has_denied_plan(self, operator, value):
        return self._search_by_plans(
            operator,
            value,
            [('state', 'in', ('active', 'paused')), ('payment_failed', '=', True)],
        )

    def _search_by_plans(self, operator, value, plan_domain):
        if operator not in ('in', 'not in'):
            return NotImplemented
        partner_ids = self.env['payment.plan']._search(plan_domain).subselect('partner_id')
        positive = (True in value) == (operator == 'in')
        return Domain('id', 'in' if positive else 'not in', partner_ids)

    # === CRUD METHODS === #

    def write(self, vals):
        """Override to cancel the running plans of the customers being archived (when the
        customers close their own portal account: only the plans they may cancel)."""
        archived = self.filtered('active') if vals.get('active') is False else self.browse()
        if self.env.context.get('payment_plan_plans_handled'):
            archived = self.browse()  # The caller cancelled the plans it may (its companies').
        res = super().write(vals)
        if archived:
            if self.env.context.get('payment_plan_account_closed'):
                # The customers themselves close their account: every plan they pay is settled.
                plans_sudo = (
                    self.env['payment.plan']
                    .sudo()
                    .search(
                        [
                            ('partner_id', 'in', archived.ids),
                            ('state', 'in', const.RUNNING_PLAN_STATES),
                        ]
                    )
                )
                self._payment_plan_close_account(plans_sudo)
            else:
                archived._get_payment_plans_to_stop()._cancel_plans(
                    self.env._("The plan was cancelled because its customer was archived.")
                )
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_payment_plans(self):
        # Plans of other companies count too: a customer cannot vanish under anyone's plan.
        plans_sudo = (
            self.env['payment.plan']
            .sudo()
            .search(
                [('partner_id', 'in', self.ids)],
                limit=1,
            )
        )
        if plans_sudo:
            raise UserError(
                self.env._(
                    "%(customer)s has payment plans (e.g. %(plan)s) and cannot be deleted. "
                    "Archive the customer instead: their running plans will be cancelled.",
                    customer=plans_sudo.partner_id.display_name,
                    plan=plans_sudo.name,
                )
            )

    # === ACTION METHODS === #

    def action_view_payment_plans(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('payment_plan.payment_plan_action')
        action['domain'] = [('partner_id', '=', self.id)]
        action['context'] = {'default_partner_id': self.id}
        return action

    def action_payment_plan_portal_access(self):
        """Open Odoo's portal access wizard on the customer, its lines saved so that their
        Grant / Revoke buttons work (Odoo's own binding does the same)."""
        if not self.env.user.has_group('base.group_partner_manager'):
            raise AccessError(self.env._("Only contact managers may grant portal access."))
        return (
            self.env['portal.wizard']
            .with_context(active_model='res.partner', active_ids=self.ids)
            .action_open_wizard()
        )

    def action_payment_plan_request_card(self):
        """Open the wizard that sends the customers a link to add a card."""
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Request a Card"),
            'res_model': 'payment.plan.card.request.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': {'active_model': self._name, 'active_ids': self.ids},
        }

    def action_payment_plan_enter_card(self):
        """Open the provider's form to enter a card the customer gives by phone (MOTO)."""
        self.ensure_one()
        if not self.env.user.has_group('payment_plan.group_manager'):
            raise AccessError(self.env._("Only payment plan administrators may enter cards."))
        if (
            not self.env['payment.provider']
            .sudo()
            ._payment_plan_get_moto_providers(self.env.company)
        ):
            raise UserError(
                self.env._(
                    "None of your payment providers accepts cards given by phone (MOTO). Send the "
                    "customer a card registration link instead."
                )
            )
        # Links are read-only to users: created here, for the manager checked above.
        request_sudo = (
            self.env['payment.plan.card.request']
            .sudo()
            .create({'partner_id': self.id, 'channel': 'moto', 'reason': 'other'})
        )
        return {'type': 'ir.actions.act_url', 'url': request_sudo._get_url(), 'target': 'new'}

    def action_payment_plan_new_plan(self):
        """Open a new payment plan for the customer."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("New Payment Plan"),
            'res_model': 'payment.plan',
            'view_mode': 'form',
            'context': {'default_partner_id': self.id},
        }

    def action_payment_plan_send_payment_link(self):
        """Open the wizard that sends the customer a link to pay an amount or an open invoice
        (the oldest one, proposed)."""
        self.ensure_one()
        Move = self.env['account.move']
        invoice = Move
        if Move.has_access('read'):  # Users who see invoices get the oldest open one.
            invoice = Move.search(
                Move._payment_plan_get_open_invoice_domain(self.commercial_partner_id),
                order='invoice_date_due, id',
            )._payment_plan_filter_payable()[:1]
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Send a Payment Link"),
            'res_model': 'payment.plan.payment.link.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_partner_id': self.id, 'default_invoice_id': invoice.id},
        }

    # === BUSINESS METHODS === #

    def _get_payment_plans_to_stop(self, with_contacts=False):
        """Return the running plans that archiving or removing these customers stops: those of
        the companies the user works in (another company's plans are that company's call).

        Returned in sudo: stopping a customer's plans is the contact manager's call, also when
        the user cannot manage plans.

        :param bool with_contacts: Include the plans of the customers' contacts.
        :return: The plans, in sudo.
        :rtype: payment.plan
        """
        return (
            self.env['payment.plan']
            .sudo()
            .search(
                [
                    ('partner_id', 'child_of' if with_contacts else 'in', self.ids),
                    ('state', 'in', const.RUNNING_PLAN_STATES),
                    ('company_id', 'in', self.env.companies.ids),
                ]
            )
        )

    def _payment_plan_close_account(self, plans_sudo):
        """Settle the plans of customers who closed their own portal account: cancel those the
        payer may cancel (as they could from the portal); the others keep running, and their
        responsible is asked to act.

        :param payment.plan plans_sudo: The customers' running plans.
        """
        cancellable = plans_sudo.filtered(lambda p: p._can_payer_cancel())
        cancellable._cancel_plans(
            self.env._("The plan was cancelled because its customer closed their portal account.")
        )
        admin = self.env.ref('base.user_admin', raise_if_not_found=False)
        for plan in plans_sudo - cancellable:
            responsible = plan.user_id if plan.user_id.active else admin
            plan.activity_schedule(
                'mail.mail_activity_data_todo',
                user_id=(responsible or self.env.ref('base.user_root')).id,
                summary=self.env._("The customer closed their account"),
                note=self.env._(
                    "%(customer)s closed their portal account. The plan keeps running (payers "
                    "may not cancel it): decide whether to go on collecting.",
                    customer=plan.partner_id.display_name,
                ),
            )

    def _payment_plan_is_payer(self):
        """Return whether the customer themself pays the merchant: a running plan of theirs or
        an active card of theirs (a colleague's plan does not make a contact a payer)."""
        self.ensure_one()
        return bool(
            self.env['payment.plan']
            .sudo()
            .search_count(
                [('partner_id', '=', self.id), ('state', 'in', const.RUNNING_PLAN_STATES)], limit=1
            )
            or self.sudo().payment_token_ids
        )

    def _payment_plan_get_unreachable_channels(self, company, channels):
        """Return why `company` cannot reach the customer on each of `channels` ('email',
        'sms') it cannot: no email address, no valid phone number, or a company that does not
        text its customers. The one policy for a missing address, of every message.

        :param set channels: The channels wanted.
        :return: {channel: reason} for the channels that cannot be used.
        :rtype: dict
        """
        self.ensure_one()
        reasons = {}
        if 'email' in channels and not self.email:
            reasons['email'] = self.env._(
                "%(customer)s has no email address.", customer=self.display_name
            )
        if 'sms' in channels:
            if not company.payment_plan_notify_sms:
                reasons['sms'] = company._payment_plan_get_sms_refusal()
            elif not self.phone_sanitized:
                reasons['sms'] = self.env._(
                    "%(customer)s has no valid phone number.", customer=self.display_name
                )
        return reasons

    def _payment_plan_notify(
        self, record, mail_template=None, sms_template=None, required=False, immediate=False
    ):
        """Tell the customer about `record`: the mail of `mail_template` and the SMS of
        `sms_template`, both rendered on `record`. The one way the add-on reaches a customer.

        The SMS goes only where the record's company texts its customers; the chatter (the
        record's, else the customer's), which any employee may read, keeps a copy of it whose
        links hide their secrets (rendered with the context key `payment_plan_redact_links`).
        A channel that cannot reach the customer (`_payment_plan_get_unreachable_channels`) is
        skipped and the chatter says why; when `required` (staff chose the channels), nothing
        is sent and a UserError says why, a company that does not text included.

        :param bool immediate: Whether the mail leaves once the transaction commits, as Odoo's
                               own notifications do (a person waits for it), rather than with
                               the mail queue.
        :return: The mail (mail.mail) and the chatter's copy of the SMS (mail.message, whose
                 SMS notification tells whether it was delivered), each empty when not sent.
        :rtype: tuple
        """
        self.ensure_one()
        company = record.company_id
        if not required and company._payment_plan_get_sms_refusal():
            sms_template = None  # The company's choice, not a failure to note.
        wanted = {'email': mail_template, 'sms': sms_template}
        unreachable = self._payment_plan_get_unreachable_channels(
            company, {channel for channel, template in wanted.items() if template}
        )
        document = record if isinstance(record, self.env.registry['mail.thread']) else self
        if unreachable and required:
            raise UserError(" ".join(unreachable.values()))
        for reason in unreachable.values():
            document.sudo().message_post(
                body=self.env._("Not sent: %(reason)s", reason=reason),
                subtype_xmlid='mail.mt_note',
            )
        # Mails are the administrators' records (their body holds the link): the add-on sends
        # them for whoever acts.
        mail = self.env['mail.mail'].sudo()
        if mail_template and 'email' not in unreachable:
            mail = mail.browse(
                mail_template.send_mail(
                    record.id, email_layout_xmlid='mail.mail_notification_light'
                )
            )
            # What is sent is the mail's own body; the message that staff may read (on the
            # document) says what was sent, without the links' secrets.
            mail.body = Markup('<p>%s</p>') % self.env._(
                "Mail sent to %(customer)s: %(subject)s",
                customer=self.display_name,
                subject=mail.subject or '',
            )
            if immediate:
                mail.send_after_commit()
        copy = self.env['mail.message']
        if sms_template and 'sms' not in unreachable:
            text = sms_template._render_field('body', record.ids, compute_lang=True)[record.id]
            redacted = sms_template.with_context(payment_plan_redact_links=True)._render_field(
                'body', record.ids, compute_lang=True
            )[record.id]
            copy = document.sudo()._message_log(
                body=redacted, message_type='sms', partner_ids=self.ids
            )
            document.sudo()._notify_thread_by_sms(
                copy,
                [{'id': self.id, 'notif': 'sms'}],
                sms_content=text,
                sms_pid_to_number={self.id: self.phone_sanitized},
                put_in_queue=True,
            )
            self._payment_plan_send_sms_after_commit(copy)
        return mail, copy

    @api.model
    def _payment_plan_send_sms_after_commit(self, message):
        """Send the SMS of `message` once the transaction commits, as a mail sent after commit:
        a transaction rolled back (an error further on, a retried request or batch) texts no
        one, and one retried texts once. Odoo's SMS queue sends what the send misses."""
        sms = self.env['sms.sms'].sudo().search([('mail_message_id', '=', message.id)])
        self.env.ref('sms.ir_cron_sms_scheduler_action').sudo()._trigger()
        if modules.module.current_test:  # No commit in tests: sent at once, as Odoo's mails.
            sms.send(raise_exception=False)
            return
        self.env['payment.plan.queue']._call_after_commit(
            sms, 'send', raise_exception=False, sudo=True
        )

    def _payment_plan_get_card_holders(self):
        """Return the partners whose cards may pay for this customer: the customer and their
        company; for a company, its contacts too (a buyer's card paying the company's plan).
        Never a colleague's card for a contact's own plan.

        :rtype: res.partner
        """
        self.ensure_one()
        commercial = self.commercial_partner_id
        if self != commercial:
            return self | commercial
        return commercial | self.with_context(active_test=False).search(
            [('id', 'child_of', commercial.ids)]
        )

    def _get_default_card(self):
        """Return the card charged by default: the customer's own, or their company's."""
        self.ensure_one()
        return self.default_token_id or self.commercial_partner_id.default_token_id

    def _payment_plan_get_chargeable_card(self, company, currency, exclude=None):
        """Return the card to charge the customer on without them in `company` and `currency`:
        their default card, else their newest other card, that may be charged
        (`payment.token._payment_plan_get_charge_refusal`); an empty recordset when none may.

        :param payment.token exclude: Cards not to return (e.g. the one just refused).
        """
        self.ensure_one()
        exclude = exclude or self.env['payment.token']
        # Cards are the payment administrators' records: only the chosen one is returned.
        cards_sudo = (
            self.env['payment.token']
            .sudo()
            .search(
                [
                    ('partner_id', 'in', (self | self.commercial_partner_id).ids),
                    ('company_id', '=', company.id),
                    ('id', 'not in', exclude.ids),
                ],
                order='is_default desc, create_date desc, id desc',
            )
        )
        for card_sudo in cards_sudo:
            if card_sudo._payment_plan_get_charge_refusal(self, company, currency) is None:
                return self.env['payment.token'].browse(card_sudo.id)
        return self.env['payment.token']
