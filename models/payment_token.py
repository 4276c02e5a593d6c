import calendar
from datetime import date

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, format_date

from odoo.addons.payment_plan import const


class PaymentToken(models.Model):
    _inherit = 'payment.token'

    is_default = fields.Boolean(
        string="Default Card",
        readonly=True,
        copy=False,
        help="The card charged for the customer's plans in this company when none is chosen.",
    )
    expiry_month = fields.Integer()
    expiry_year = fields.Integer()
    expiry_date = fields.Date(
        string="Expires On",
        compute='_compute_expiry_date',
        store=True,
        help="The last day on which the card can be charged.",
    )
    expiry_warning_date = fields.Date(
        string="Expiry Warning Sent On",
        readonly=True,
        copy=False,
        help="When the customer was told that this card, which pays running plans, expires soon.",
    )
    payment_plan_ids = fields.One2many(
        string="Payment Plans",
        comodel_name='payment.plan',
        inverse_name='token_id',
    )

    _default_per_partner_uniq = models.UniqueIndex(
        "(partner_id, company_id) WHERE is_default IS TRUE"
    )

    # === COMPUTE METHODS === #

    @api.depends('payment_method_id.name')
    def _compute_display_name(self):
        """Override of `payment` to name a card by its brand and last digits: "Visa •••• 0005"."""
        super()._compute_display_name()
        for token in self.filtered(lambda t: t.display_name and t.payment_method_id):
            # The last four characters only, whatever the provider kept (the demo keeps what was
            # typed).
            last_four = (token.payment_details or '')[-4:]
            token.display_name = f"{token.payment_method_id.name} •••• {last_four}"

    @api.depends('expiry_month', 'expiry_year')
    def _compute_expiry_date(self):
        for token in self:
            if token.expiry_month and token.expiry_year:
                last_day = calendar.monthrange(token.expiry_year, token.expiry_month)[1]
                token.expiry_date = date(token.expiry_year, token.expiry_month, last_day)
            else:
                token.expiry_date = False

    # === CONSTRAINT METHODS === #

    @api.constrains('expiry_month', 'expiry_year')
    def _check_expiry(self):
        for token in self:
            if bool(token.expiry_month) != bool(token.expiry_year):
                raise ValidationError(
                    self.env._("Give both the expiry month and year, or neither.")
                )
            if token.expiry_month and not 1 <= token.expiry_month <= 12:
                raise ValidationError(
                    self.env._(
                        "%(month)s is not a month: use 1 to 12.",
                        month=token.expiry_month,
                    )
                )
            if token.expiry_year and not 2000 <= token.expiry_year <= 2200:
                raise ValidationError(
                    self.env._(
                        "%(year)s is not a valid expiry year.",
                        year=token.expiry_year,
                    )
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `payment` to make the first card of a customer their default one."""
        tokens = super().create(vals_list)
        tokens.filtered('active')._assign_default_if_missing()
        return tokens

    def write(self, vals):
        """Override of `payment` to keep a single default card per customer and company."""
        if vals.get('is_default'):
            same_owner = Domain.OR(
                Domain('partner_id', '=', token.partner_id.id)
                & Domain('company_id', '=', token.company_id.id)
                for token in self
            )
            others = self.search(
                same_owner & Domain('is_default', '=', True) & Domain('id', 'not in', self.ids)
            )
            if others:
                others.write({'is_default': False})
                # The unique index is checked row by row: unmark before marking.
                others.flush_recordset(['is_default'])
        result = super().write(vals)
        if vals.get('is_default'):
            self.filtered('active')._move_plans_following_the_default()
        return result

    def _move_plans_following_the_default(self):
        """Charge the running plans that follow their customer's default card (not pinned to
        a card) to this new default card from now on, and say so on each."""
        for card in self:
            plans = self.env['payment.plan'].search(
                [
                    # The card holder's own plans: a contact's new card never takes over a
                    # colleague's plan.
                    ('partner_id', '=', card.partner_id.id),
                    ('company_id', '=', card.company_id.id),
                    ('state', 'in', const.RUNNING_PLAN_STATES),
                    ('collection_mode', '=', 'token'),
                    ('card_pinned', '=', False),
                    ('token_id', '!=', card.id),
                ]
            )
            if not plans:
                continue
            for plan in plans:
                plan.message_post(
                    body=self.env._(
                        "%(card)s is now the customer's default card: it pays the plan from now "
                        "on.",
                        card=card.display_name,
                    )
                )
            plans.token_id = card

    def _handle_archiving(self):
        """Override of `payment` to hand the default mark of an archived card to the newest
        remaining card of the same customer and company, and to move the plans it paid to the
        customer's default card (or flag them when there is none)."""
        super()._handle_archiving()
        self._hand_over_default()
        self._reassign_plans()

    def _hand_over_default(self):
        """Pass the default mark of the cards being archived to the newest remaining card."""
        defaults = self.filtered('is_default')
        if not defaults:
            return
        defaults.write({'is_default': False})
        defaults.flush_recordset(['is_default'])
        for token in defaults:
            successor = self.search(
                [
                    ('partner_id', '=', token.partner_id.id),
                    ('company_id', '=', token.company_id.id),
                    ('id', 'not in', self.ids),
                ],
                order='create_date desc, id desc',
                limit=1,
            )
            successor.write({'is_default': True})

    def _reassign_plans(self):
        """Move the running plans paid by the cards being archived to the customer's default
        card; plans left without a card are flagged and their responsible is told."""
        plans = self.env['payment.plan'].search(
            [
                ('token_id', 'in', self.ids),
                ('state', 'in', const.RUNNING_PLAN_STATES),
            ]
        )
        for plan in plans:
            old_card = plan.token_id
            new_card = plan.partner_id.with_company(plan.company_id)._get_default_card() - self
            if new_card:
                plan.token_id = new_card
                plan.message_post(
                    body=self.env._(
                        "Card %(old)s was removed: the plan is now charged to %(new)s.",
                        old=old_card.display_name,
                        new=new_card.display_name,
                    )
                )
            elif plan.collection_mode == 'token' and plan.state != 'draft':
                plan.message_post(
                    body=self.env._(
                        "Card %(old)s was removed and the customer has no other card: the next "
                        "charges will fail until a card is added.",
                        old=old_card.display_name,
                    )
                )
                plan.activity_schedule(
                    'mail.mail_activity_data_todo',
                    user_id=(plan.user_id or self.env.user).id,
                    summary=self.env._("No card to charge"),
                    note=self.env._("Ask the customer to register a new card."),
                )

    # === ACTION METHODS === #

    def _take_over_running_plans(self):
        """Charge the customer's running card plans to this card from now on."""
        self.ensure_one()
        user = self.env.user
        user._payment_plan_check_may_act(self)
        # The plans this card may pay (its holder's, or its company's contacts' for a company's
        # card) that the user may act on: never a colleague's plan.
        plans = (
            self.env['payment.plan']
            .sudo()
            .search(
                [
                    ('partner_id', 'child_of', self.partner_id.id),
                    ('company_id', '=', self.company_id.id),
                    ('state', 'in', const.RUNNING_PLAN_STATES),
                    ('collection_mode', '=', 'token'),
                    ('token_id', '!=', self.id),
                ]
            )
            .filtered(user._payment_plan_may_act)
        )
        for plan in plans:
            plan.message_post(
                body=self.env._("The customer moved the plan to %(card)s.", card=self.display_name)
            )
        plans.token_id = self
        return plans

    def action_set_default(self):
        """Make this card the one charged by default for its customer in its company."""
        self.ensure_one()
        self.env.user._payment_plan_check_may_act(self)
        # Only system administrators may write tokens in `payment`; marking the default card is
        # a business action of Payment Plans staff or of the card's owner in the portal.
        self.sudo().write({'is_default': True})
        return True

    # === BUSINESS METHODS === #

    def _payment_plan_get_charge_refusal(
        self, partner, company, currency, on_date=None, consented_ids=None
    ):
        """Return why this card may not be charged without the customer, or None when it may.

        The one rule of "a card this customer may be charged on, for this company and currency",
        that every charging path calls (plans, orders, Pay on Behalf, mass charges, the fallback
        card): the card exists, is active, not expired on `on_date`, belongs to the customer or
        their company, is in the company, its provider is enabled, tokenizes and accepts the
        currency, and the customer gave a consent in force for it.

        :param res.partner partner: The customer charged.
        :param res.company company: The company that charges.
        :param res.currency currency: The currency of the charge.
        :param date on_date: The day of the charge (default: today).
        :param set consented_ids: The cards a consent covers, when the caller read them for a
                                  batch (`payment.plan.consent._get_consented_token_ids`).
        :rtype: str | None
        """
        self.ensure_one()
        # Tokens and providers are the payment administrators' records: the rule reads them for
        # any caller, and tells only whether the card may be charged.
        card_sudo = self.sudo()
        on_date = on_date or fields.Date.context_today(self)
        if not card_sudo.exists() or not card_sudo.active:
            return self.env._("No valid card on file (none, archived or expired).")
        if card_sudo.expiry_date and card_sudo.expiry_date < on_date:
            return self.env._(
                "The card %(card)s expired on %(date)s.",
                card=card_sudo.display_name,
                date=format_date(self.env, card_sudo.expiry_date),
            )
        if card_sudo.partner_id not in partner._payment_plan_get_card_holders():
            return self.env._(
                "The card %(card)s is not a card of %(customer)s.",
                card=card_sudo.display_name,
                customer=partner.display_name,
            )
        provider_sudo = card_sudo.provider_id
        if card_sudo.company_id != company:
            return self.env._(
                "The card %(card)s belongs to another company.", card=card_sudo.display_name
            )
        if provider_sudo.state == 'disabled' or not provider_sudo.allow_tokenization:
            return self.env._(
                "The provider of %(card)s no longer charges saved cards.",
                card=card_sudo.display_name,
            )
        allowed = provider_sudo.available_currency_ids
        if allowed and currency not in allowed:
            return self.env._(
                "The provider of %(card)s cannot charge in %(currency)s.",
                card=card_sudo.display_name,
                currency=currency.name,
            )
        if consented_ids is None:
            consented_ids = self.env['payment.plan.consent']._get_consented_token_ids(card_sudo)
        if card_sudo.id not in consented_ids:
            return self.env._("No consent to charge a card on file was recorded.")
        return None

    def _assign_default_if_missing(self):
        """Mark the cards as default where their customer has no default card in their company."""
        for token in self:
            has_default = self.search_count(
                [
                    ('partner_id', '=', token.partner_id.id),
                    ('company_id', '=', token.company_id.id),
                    ('is_default', '=', True),
                ],
                limit=1,
            )
            if not has_default:
                token.write({'is_default': True})

    def get_linked_records_info(self):
        """Override of `payment` to list the payment plans charged to this card."""
        res = super().get_linked_records_info()
        for plan in self.payment_plan_ids.filtered(lambda p: p.state in ('active', 'paused')):
            res.append(
                {
                    'description': plan._description,
                    'id': plan.id,
                    'name': plan.name,
                    'url': plan.access_url,
                }
            )
        return res

    @api.model
    def _payment_plan_get_update_url(self):
        """Return the customer's link to replace the card: the pay page (signed, no login needed)
        of the first running plan it pays, else their cards in the portal."""
        self.ensure_one()
        plan = self.payment_plan_ids.filtered(lambda p: p.state in ('active', 'paused'))[:1]
        if plan:
            return plan._get_pay_url()
        return f'{self.get_base_url()}/my/cards'

    def _cron_warn_expiring_cards(self):
        """Tell customers (a mail) and plan responsibles (an activity) that a card paying running
        plans expires within the configured number of days. Each card is warned once: in jobs
        of N cards when queue_job's runner runs, here otherwise."""
        today = fields.Date.context_today(self)
        cards = self.search(self._get_expiring_domain(today))._filter_expiring(today)
        Queue = self.env['payment.plan.queue']
        Queue._run(
            self._name,
            '_warn_expiring',
            enqueue=lambda: Queue._enqueue(
                cards, '_warn_expiring', self.env._("Payment Plans: warn about expiring cards")
            ),
            inline=cards._warn_expiring,
        )
        return cards

    @api.model
    def _get_expiring_domain(self, today):
        """Return the domain of the cards to warn today: active, paying a running plan, not
        warned yet, expiring within the longest warning delay of the companies."""
        [(longest,)] = (
            self.env['res.company']
            .sudo()
            ._read_group([], [], ['payment_plan_expiry_warning_days:max'])
        )
        return [
            ('active', '=', True),
            ('expiry_date', '!=', False),
            ('expiry_date', '<=', fields.Date.add(today, days=longest)),
            ('expiry_date', '>=', today),
            ('expiry_warning_date', '=', False),
            ('payment_plan_ids.state', '=', 'active'),
        ]

    def _filter_expiring(self, today):
        """Keep the cards expiring within their own company's warning delay."""
        return self.filtered(
            lambda card: (
                card.expiry_date
                <= fields.Date.add(today, days=card.company_id.payment_plan_expiry_warning_days)
            )
        )

    def _warn_expiring(self):
        """Mail the customers and schedule the responsibles' activities about these expiring
        cards (the cron's work, or one of its jobs), each card once: a card another worker holds
        or already warned is left alone, and one that no longer needs the warning when the job
        runs (its plans cancelled, the card replaced, archived or expired) too."""
        today = fields.Date.context_today(self)
        self.flush_recordset(['expiry_warning_date'])
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM payment_token
                 WHERE id = ANY(%s) AND expiry_warning_date IS NULL
                   FOR UPDATE SKIP LOCKED
                """,
                self.ids,
            )
        )
        cards = (
            self.browse(row[0] for row in self.env.cr.fetchall())
            .filtered_domain(self._get_expiring_domain(today))
            ._filter_expiring(today)
        )
        template = self.env.ref('payment_plan.mail_template_card_expiring')
        for card in cards:
            card.partner_id._payment_plan_notify(card, mail_template=template)
            for plan in card.payment_plan_ids.filtered(lambda p: p.state == 'active'):
                plan.activity_schedule(
                    'mail.mail_activity_data_todo',
                    date_deadline=card.expiry_date,
                    user_id=(plan.user_id or self.env.user).id,
                    summary=self.env._(
                        "Card %(card)s expires on %(date)s",
                        card=card.display_name,
                        date=card.expiry_date,
                    ),
                )
        cards.write({'expiry_warning_date': today})
        return cards
