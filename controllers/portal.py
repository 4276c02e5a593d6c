import hashlib
import re

from werkzeug.exceptions import Forbidden, TooManyRequests
from werkzeug.urls import url_encode

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.fields import Command
from odoo.http import request

from odoo.addons.account_payment.controllers import payment as account_payment_portal
from odoo.addons.payment.controllers import portal as payment_portal
from odoo.addons.payment_plan import const
from odoo.addons.portal.controllers.portal import pager as portal_pager
from odoo.addons.sale.controllers import portal as sale_portal


class PaymentPlanPortal(payment_portal.PaymentPortal):
    """The payer's pages: plans and their schedule, cards on file, transactions."""

    # === HOME === #

    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        partner = request.env.user.partner_id
        if not counters:  # The home page itself: its entries show their number.
            values['payment_plans_to_pay'] = self._get_plans_to_pay(partner)
            values.update(
                self._prepare_home_portal_values(
                    ['payment_plan_count', 'payment_card_count', 'payment_transaction_count']
                )
            )
        if 'payment_plan_count' in counters:
            Plan = request.env['payment.plan']
            values['payment_plan_count'] = (
                Plan.search_count(self._prepare_plans_domain(partner))
                if Plan.has_access('read')
                else 0
            )
        if 'payment_card_count' in counters:
            values['payment_card_count'] = len(self._get_cards_sudo(partner))
        if 'payment_transaction_count' in counters:
            values['payment_transaction_count'] = (
                request.env['payment.transaction']
                .sudo()
                .search_count(self._prepare_transactions_domain(partner))
            )
        return values

    def _get_plans_to_pay(self, partner):
        """Return the payer's running plans whose payment failed or waits for them."""
        installments_sudo = (
            request.env['payment.plan.installment']
            .sudo()
            .search(
                [
                    ('partner_id', 'in', [partner.id, partner.commercial_partner_id.id]),
                    ('plan_id.state', 'in', ('active', 'paused')),
                    '|',
                    ('state', '=', 'denied'),
                    '&',
                    ('state', '=', 'pending'),
                    ('authentication_required', '=', True),
                ]
            )
        )
        return installments_sudo.plan_id

    # === PLANS === #

    def _prepare_plans_domain(self, partner):
        """The plans the payer sees: their own and their company's, never a colleague's (as the
        portal's record rules)."""
        return [('partner_id', 'in', [partner.id, partner.commercial_partner_id.id])]

    # === WHAT A ROUTE ACCEPTS === #

    @staticmethod
    def _check_offered_provider(kwargs, providers_sudo):
        """Refuse a payment whose provider (or payment method) is not one the page offered:
        the one rule of which providers a route that starts a payment accepts.

        :param dict kwargs: The transaction route's parameters.
        :param payment.provider providers_sudo: The providers the route's page offers.
        :raise Forbidden: When the provider or the payment method was not offered.
        """
        try:
            provider_id = int(kwargs.get('provider_id') or 0)
            payment_method_id = int(kwargs.get('payment_method_id') or 0)
        except (TypeError, ValueError):
            raise Forbidden() from None
        provider_sudo = providers_sudo.filtered(lambda p: p.id == provider_id)
        if not provider_sudo:
            raise Forbidden()
        if payment_method_id and payment_method_id not in (
            provider_sudo.with_context(active_test=False).payment_method_ids.ids
        ):
            raise Forbidden()

    @staticmethod
    def _check_typed_card(kwargs):
        """Refuse a payment with a card on file: a link's page takes a card its holder types
        in (a link forwarded to someone else, or a colleague holding it, must not charge a card
        on file).

        :raise Forbidden: When a saved card is named.
        """
        if kwargs.get('token_id') or kwargs.get('flow') == 'token':
            raise Forbidden()

    @staticmethod
    def _check_own_card(kwargs):
        """Refuse a payment with a card on file that is not the logged-in user's to use (their
        own, or their company's where they may act for it): Odoo's own payment pages offer the
        user's saved cards, never a colleague's, and none to a visitor holding a link.

        :raise Forbidden: When the card named is not theirs.
        """
        if not (kwargs.get('token_id') or kwargs.get('flow') == 'token'):
            return
        try:
            token_id = int(kwargs.get('token_id') or 0)
        except (TypeError, ValueError):
            raise Forbidden() from None
        token_sudo = request.env['payment.token'].sudo().browse(token_id).exists()
        user = request.env.user
        if not token_sudo or user._is_public() or not user._payment_plan_may_act(token_sudo):
            raise Forbidden()

    @staticmethod
    def _check_invoice_payment(invoices_sudo):
        """Refuse a payment of invoices on Odoo's own pages while another charge of them is
        under way (`account.move._payment_plan_get_charges_under_way`). The amount stays Odoo's
        choice there: a customer paying their own invoice may pay more (a credit).

        :raise ValidationError: When a charge of the invoices is under way.
        """
        if invoices_sudo and invoices_sudo._payment_plan_get_charges_under_way(online_drafts=False):
            raise ValidationError(
                request.env._("A payment of this invoice is already under way: wait for it.")
            )

    @staticmethod
    def _check_provider_of_company(kwargs, company):
        """Refuse a payment through a disabled provider or one of another company than the
        document's (Odoo's own pages offer neither).

        :raise Forbidden: When the provider is not one of `company`'s enabled providers.
        """
        try:
            provider_id = int(kwargs.get('provider_id') or 0)
        except (TypeError, ValueError):
            raise Forbidden() from None
        provider_sudo = request.env['payment.provider'].sudo().browse(provider_id).exists()
        if (
            not provider_sudo
            or provider_sudo.state == 'disabled'
            or provider_sudo.company_id != company
        ):
            raise Forbidden()

    @staticmethod
    def _check_attempt_rate(key):
        """Count an attempt made through the link `key` and refuse it past the rate limits (per
        link and per address).

        :raise TooManyRequests: When too many attempts were made.
        """
        if (
            not request.env['payment.plan.rate.limit']
            .sudo()
            ._hit(
                key,
                request.httprequest.remote_addr,
                const.LINK_MAX_ATTEMPTS_PER_LINK,
                const.LINK_MAX_ATTEMPTS_PER_IP,
            )
        ):
            raise TooManyRequests(
                request.env._("Too many attempts: try again in an hour, or contact us.")
            )

    def _get_plan_sortings(self):
        return {
            'date': {'label': request.env._("Newest"), 'order': 'date_start desc, id desc'},
            'name': {'label': request.env._("Reference"), 'order': 'name'},
            'next_due': {'label': request.env._("Next Due Date"), 'order': 'next_due_date, id'},
            'state': {'label': request.env._("Status"), 'order': 'state, id desc'},
        }

    @http.route(['/my/plans', '/my/plans/page/<int:page>'], type='http', auth='user', website=True)
    def portal_my_plans(self, page=1, sortby=None, **_kwargs):
        Plan = request.env['payment.plan']
        partner = request.env.user.partner_id
        sortings = self._get_plan_sortings()
        sortby = sortby if sortby in sortings else 'date'
        domain = self._prepare_plans_domain(partner)
        pager = portal_pager(
            url='/my/plans',
            url_args={'sortby': sortby},
            total=Plan.search_count(domain),
            page=page,
            step=self._items_per_page,
        )
        plans = Plan.search(
            domain,
            order=sortings[sortby]['order'],
            limit=self._items_per_page,
            offset=pager['offset'],
        )
        # Read what the list shows at once for the page (a constant number of queries).
        plans.fetch(['name', 'plan_type', 'amount', 'currency_id', 'state', 'token_id'])
        plans.token_id.sudo().fetch(['payment_details', 'payment_method_id'])
        plans.token_id.sudo().payment_method_id.fetch(['name'])
        failed_sudo = (
            request.env['payment.plan.installment']
            .sudo()
            .search(
                [
                    ('plan_id', 'in', plans.ids),
                    '|',
                    ('state', '=', 'denied'),
                    '&',
                    ('state', '=', 'pending'),
                    ('authentication_required', '=', True),
                ]
            )
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                'plans': plans,
                'plans_to_pay_ids': set(failed_sudo.plan_id.ids),
                'page_name': 'payment_plans',
                'pager': pager,
                'default_url': '/my/plans',
                'searchbar_sortings': sortings,
                'sortby': sortby,
            }
        )
        return request.render('payment_plan.portal_my_plans', values)

    @http.route('/my/plans/<int:plan_id>', type='http', auth='public', website=True)
    def portal_my_plan(
        self, plan_id, access_token=None, report_type=None, download=False, **kwargs
    ):
        try:
            plan_sudo = self._document_check_access('payment.plan', plan_id, access_token)
        except (AccessError, MissingError):
            raise request.not_found() from None
        if report_type in ('html', 'pdf', 'text'):
            return self._show_report(
                model=plan_sudo,
                report_type=report_type,
                report_ref='payment_plan.action_report_payment_plan_schedule',
                download=download,
            )
        values = self._get_page_view_values(
            plan_sudo,
            access_token,
            self._prepare_plan_values(plan_sudo, **kwargs),
            'my_plans_history',
            False,
        )
        return request.render('payment_plan.portal_my_plan', values)

    def _prepare_plan_values(self, plan_sudo, message=None, **_kwargs):
        to_pay_sudo = plan_sudo._get_installments_to_pay_now()
        return {
            'plan': plan_sudo,
            'page_name': 'payment_plan',
            'installments': plan_sudo.installment_ids.sorted('sequence'),
            'transactions': plan_sudo.installment_ids.transaction_ids.sorted('id', reverse=True),
            'installments_to_pay': to_pay_sudo,
            'amount_to_pay': plan_sudo._get_amount_to_pay_now(),
            'can_cancel': plan_sudo._can_payer_cancel(),
            'message': message,
        }

    @http.route(
        '/my/plans/<int:plan_id>/cancel', type='http', methods=['POST'], auth='user', website=True
    )
    def portal_my_plan_cancel(self, plan_id, access_token=None, **_kwargs):
        try:
            plan_sudo = self._document_check_access('payment.plan', plan_id, access_token)
        except (AccessError, MissingError):
            raise request.not_found() from None
        if not plan_sudo._can_payer_cancel() or not request.env.user._payment_plan_may_act(
            plan_sudo
        ):
            raise AccessError(request.env._("This plan cannot be cancelled from the portal."))
        plan_sudo._cancel_plans(
            request.env._(
                "Cancelled by the customer (%(user)s) from the portal.",
                user=request.env.user.display_name,
            )
        )
        return request.redirect(plan_sudo.get_portal_url(query_string='&message=cancelled'))

    def _get_plan_to_pay(self, plan_id, access_token=None):
        """Return the plan (sudoed) whose pay page the visitor may open: the logged-in payer's
        own, or any plan with its portal access token or the signed, unexpired link of a mail.

        :raise MissingError: If the plan does not exist.
        :raise AccessError: If the visitor may not pay it.
        """
        plan_sudo = request.env['payment.plan'].sudo().browse(plan_id).exists()
        if plan_sudo and access_token and plan_sudo._check_pay_token(access_token):
            return plan_sudo
        return self._document_check_access('payment.plan', plan_id, access_token)

    @http.route(
        '/my/plans/<int:plan_id>/pay', type='http', auth='public', website=True, sitemap=False
    )
    def portal_my_plan_pay(self, plan_id, access_token=None, pay_token=None, **_kwargs):
        """Let the payer pay what is overdue (every installment denied, or refused by their bank
        until they authenticate), in one payment, with a card which then pays the plan; with
        nothing overdue, replace the plan's card. Mails link here with a signed token that needs
        no login."""
        token = pay_token or access_token
        try:
            plan_sudo = self._get_plan_to_pay(plan_id, token)
        except (AccessError, MissingError):
            return request.render(
                'payment_plan.portal_plan_link_refused',
                {'company': request.env.company},
                status=403,
            )
        installments_sudo = plan_sudo._get_installments_to_pay_now()
        if not installments_sudo and (
            plan_sudo.collection_mode != 'token'
            or plan_sudo.state not in ('active', 'paused')
            or not self._may_replace_plan_card(plan_sudo, token)
        ):
            if pay_token:  # Never the plan's permanent portal token to a link's holder.
                return request.render(
                    'payment_plan.portal_plan_pay_done',
                    {'plan': plan_sudo, 'company': plan_sudo.company_id, 'nothing_due': True},
                )
            return request.redirect(plan_sudo.get_portal_url())
        partner_sudo = plan_sudo.partner_id
        installments_sudo._ensure_invoices()
        amount = plan_sudo._get_amount_to_pay_now()
        consent_text = self._may_replace_plan_card(plan_sudo, token) and (
            plan_sudo._get_consent_text(paying=installments_sudo)
        )
        currency = plan_sudo.currency_id
        providers_sudo = self._get_plan_pay_providers(plan_sudo, installments_sudo, amount)
        payment_methods_sudo = (
            request.env['payment.method']
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids,
                partner_sudo.id,
                currency_id=currency.id,
                force_tokenization=True,
            )
        )
        # The visitor's own key, never more: a signed link's visitor never gets the plan's
        # permanent portal token.
        landing_key = {'pay_token': pay_token} if pay_token else {}
        if access_token and not pay_token:
            landing_key = {'access_token': access_token}
        landing_route = f'/my/plans/{plan_sudo.id}/pay/done'
        if landing_key:
            landing_route += f'?{url_encode(landing_key)}'
        values = self._prepare_portal_layout_values()
        values.update(
            {
                'plan': plan_sudo,
                'installments': installments_sudo,
                # What the payer agrees to when the card they save pays the plan from now on.
                'consent_text': consent_text,
                # What the page shows, which the payment must still be when the payer pays.
                'shown': self._get_pay_page_shown(
                    plan_sudo, installments_sudo, amount, consent_text, request.env.lang
                ),
                'page_name': 'payment_plan',
                'mode': 'payment' if installments_sudo else 'validation',
                'amount': amount,
                'currency': currency,
                'partner_id': partner_sudo.id,
                'providers_sudo': providers_sudo,
                'payment_methods_sudo': payment_methods_sudo,
                'tokens_sudo': request.env['payment.token'],  # A new card: the old one failed.
                'show_tokenize_input_mapping': dict.fromkeys(providers_sudo.ids, False),
                'transaction_route': f'/my/plans/{plan_sudo.id}/transaction',
                'landing_route': landing_route,
                'access_token': token,
            }
        )
        return request.render('payment_plan.portal_my_plan_pay', values)

    @staticmethod
    def _may_replace_plan_card(plan_sudo, token):
        """Return whether the card saved on the plan's pay page pays the plan from now on:
        only for the customer (the signed link of their mails, or a user who may act on the
        plan); anyone else pays as themselves, and their card is not kept."""
        return bool(token and plan_sudo._check_pay_token(token)) or (
            request.env.user._payment_plan_may_act(plan_sudo)
        )

    @staticmethod
    def _get_pay_page_shown(plan_sudo, installments_sudo, amount, consent_text, lang):
        """Return the fingerprint of what the plan's pay page shows (what is paid, how much, and
        what the payer agrees to, in the page's language `lang`): the page sends it back with
        the payment, which is refused when what is due changed meanwhile."""
        content = '\x1f'.join(
            [
                str(plan_sudo.id),
                ','.join(str(i) for i in installments_sudo.ids),
                plan_sudo.currency_id.format(amount),
                consent_text or '',
            ]
        )
        return f'{lang}:{hashlib.sha256(content.encode()).hexdigest()}'

    @classmethod
    def _check_pay_page_shown(cls, shown, plan_sudo, installments_sudo, amount, replaces_card):
        """Refuse a payment of the plan's pay page when what it showed (`shown`, see
        `_get_pay_page_shown`) is no longer what would be paid and agreed to: another payment
        was denied, or the plan changed, since the page was opened.

        :return: The text the payer agreed to for their card (in the page's language).
        :raise ValidationError: When the page must be reloaded.
        """
        lang = request.env.lang
        if isinstance(shown, str) and ':' in shown:
            page_lang = shown.split(':', 1)[0]
            if page_lang in dict(request.env['res.lang'].get_installed()):
                lang = page_lang
        consent_text = replaces_card and (
            plan_sudo.with_context(lang=lang)._get_consent_text(paying=installments_sudo)
        )
        if shown is not None and shown != cls._get_pay_page_shown(
            plan_sudo, installments_sudo, amount, consent_text, lang
        ):
            raise cls._get_pay_page_changed_error()
        return consent_text

    @staticmethod
    def _get_pay_page_changed_error():
        return ValidationError(
            request.env._(
                "What is due on this plan changed since the page was opened: reload the page to "
                "see what you pay."
            )
        )

    @staticmethod
    def _get_plan_pay_providers(plan_sudo, installments_sudo, amount):
        """Return the providers the plan's pay page offers, and its transaction route accepts:
        those that save the card, in the plan's company and currency."""
        return (
            request.env['payment.provider']
            .sudo()
            ._get_compatible_providers(
                plan_sudo.company_id.id,
                plan_sudo.partner_id.id,
                amount,
                currency_id=plan_sudo.currency_id.id,
                payment_plan_id=plan_sudo.id,
                force_tokenization=True,
                is_validation=not installments_sudo,
            )
        )

    @http.route(
        '/my/plans/<int:plan_id>/pay/done', type='http', auth='public', website=True, sitemap=False
    )
    def portal_my_plan_pay_done(self, plan_id, access_token=None, pay_token=None, **_kwargs):
        """Where the payer lands after paying or saving a card: thanked, on the plan's page for
        those who may see it, on a page of its own for a signed link's visitor."""
        try:
            plan_sudo = self._get_plan_to_pay(plan_id, pay_token or access_token)
        except (AccessError, MissingError):
            raise request.not_found() from None
        if pay_token:
            return request.render(
                'payment_plan.portal_plan_pay_done',
                {'plan': plan_sudo, 'company': plan_sudo.company_id},
            )
        return request.redirect(plan_sudo.get_portal_url(query_string='&message=paid'))

    @http.route('/my/plans/<int:plan_id>/transaction', type='jsonrpc', auth='public')
    def portal_my_plan_transaction(self, plan_id, access_token, **kwargs):
        """Create the transaction that pays everything overdue on the plan in one payment, or,
        with nothing overdue, the validation that saves the plan's new card.

        The amount, currency, customer and operation are the server's: what is open of the
        overdue installments on their invoices, paid (never a zero-amount card validation) by
        the plan's customer. The installments are locked first, and a payment already under way
        (another tab, a retry by staff) is refused. The payment is the oldest installment's and
        pays the invoices of all of them (invoices are the ledger: each installment is then
        settled by its invoice).
        """
        try:
            plan_sudo = self._get_plan_to_pay(plan_id, access_token)
        except (AccessError, MissingError):
            raise ValidationError(request.env._("The access token is invalid.")) from None
        replaces_card = self._may_replace_plan_card(plan_sudo, access_token)
        make_default = replaces_card and bool(kwargs.pop('payment_plan_make_default', False))
        kwargs.pop('payment_plan_make_default', None)
        shown = kwargs.pop('payment_plan_shown', None)
        self._validate_transaction_kwargs(kwargs)
        self._check_typed_card(kwargs)
        is_validation = kwargs.pop('is_validation', False)
        installments_sudo = plan_sudo._get_installments_to_pay_now()
        amount_due = plan_sudo._get_amount_to_pay_now()
        self._check_offered_provider(
            kwargs, self._get_plan_pay_providers(plan_sudo, installments_sudo, amount_due)
        )
        self._check_attempt_rate(f'payment.plan,{plan_sudo.id}')
        consent_text = self._check_pay_page_shown(
            shown, plan_sudo, installments_sudo, amount_due, replaces_card
        )
        custom_values = {
            'payment_plan_card_plan_id': plan_sudo.id if replaces_card else False,
            'payment_plan_make_default': make_default,
            'payment_plan_consent_text': consent_text or False,
        }
        if not installments_sudo:
            if (
                not replaces_card
                or not is_validation
                or plan_sudo.collection_mode != 'token'
                or plan_sudo.state not in ('active', 'paused')
            ):
                raise UserError(request.env._("Nothing is overdue on this plan."))
            kwargs.update(
                {
                    'amount': None,
                    'currency_id': None,
                    'partner_id': plan_sudo.partner_id.id,
                    'is_validation': True,
                    'tokenization_requested': True,
                    'payment_plan_id': plan_sudo.id,
                }
            )
            tx_sudo = self._create_transaction(custom_create_values=custom_values, **kwargs)
            return tx_sudo._get_processing_values()
        if is_validation:
            raise ValidationError(request.env._("An overdue installment is paid, not validated."))
        installments_sudo._lock_for_charge()
        installments_sudo._check_no_payment_under_way()
        installments_sudo._ensure_invoices()
        open_amounts = installments_sudo._get_open_amounts()
        currency = plan_sudo.currency_id
        owing = installments_sudo.filtered(
            lambda i: currency.compare_amounts(open_amounts[i.id], 0) > 0
        )
        if not owing:
            installments_sudo.invoice_id._payment_plan_settle_installments()
            raise UserError(request.env._("This installment is already paid."))
        amount = currency.round(sum(open_amounts[i.id] for i in owing))
        # Read again under the lock: a payment recorded since the check changes what is paid.
        if currency.compare_amounts(amount, amount_due) != 0:
            raise self._get_pay_page_changed_error()
        # A row update: a second tab that locked the installments meanwhile fails to serialize
        # and is run again, where it sees this payment under way.
        owing.date_last_online_payment = fields.Datetime.now()
        kwargs.update(
            {
                'amount': amount,
                'partner_id': plan_sudo.partner_id.id,
                'currency_id': currency.id,
                # The card is saved (and consented) only for who may replace the plan's.
                'payment_plan_id': plan_sudo.id if replaces_card else None,
                'reference_prefix': owing[0].name,
                'tokenization_requested': replaces_card,
            }
        )
        tx_sudo = self._create_transaction(
            custom_create_values={
                **custom_values,
                'installment_id': owing[0].id,
                'invoice_ids': [Command.set(owing.invoice_id.ids)],
            },
            **kwargs,
        )
        return tx_sudo._get_processing_values()

    # === CARDS === #

    def _get_cards_sudo(self, partner):
        """Return the cards the payer acts on: their own, and their company's where they may
        (`res.users._payment_plan_get_portal_payers`); never a colleague's."""
        payers = request.env.user._payment_plan_get_portal_payers()
        if partner not in payers:
            payers = partner
        return request.env['payment.token'].sudo().search([('partner_id', 'in', payers.ids)])

    def _get_card_sudo(self, token_id):
        """Return the payer's card `token_id`, or raise if they may not act on it."""
        card_sudo = request.env['payment.token'].sudo().browse(token_id).exists()
        if not card_sudo or not request.env.user._payment_plan_may_act(card_sudo):
            raise request.not_found()
        return card_sudo

    @http.route('/my/cards', type='http', auth='user', website=True)
    def portal_my_cards(self, message=None, tx_id=None, **_kwargs):
        """The payer's cards. Odoo's "add a card" page lands here (with its validation's `tx_id`):
        the page says whether the card was saved."""
        partner = request.env.user.partner_id
        cards_sudo = self._get_cards_sudo(partner)
        if tx_id and not message:
            tx_sudo = (
                request.env['payment.transaction']
                .sudo()
                .browse(int(tx_id) if re.fullmatch(r'[0-9]{1,9}', str(tx_id)) else 0)
                .exists()
            )
            if tx_sudo.partner_id == partner and tx_sudo.operation == 'validation':
                message = 'added' if tx_sudo.token_id in cards_sudo else 'not_added'

        running_plans_sudo = (
            request.env['payment.plan']
            .sudo()
            .search(
                [
                    *self._prepare_plans_domain(partner),
                    ('state', 'in', const.RUNNING_PLAN_STATES),
                    ('collection_mode', '=', 'token'),
                ]
            )
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                'cards': cards_sudo.sorted(lambda c: (not c.is_default, -c.id)),
                'running_plans': running_plans_sudo,
                'page_name': 'payment_cards',
                'message': message,
            }
        )
        return request.render('payment_plan.portal_my_cards', values)

    @http.route(
        '/my/cards/<int:token_id>/default', type='http', methods=['POST'], auth='user', website=True
    )
    def portal_my_card_default(self, token_id, **_kwargs):
        self._get_card_sudo(token_id).action_set_default()
        return request.redirect('/my/cards?message=default')

    @http.route(
        '/my/cards/<int:token_id>/delete', type='http', methods=['POST'], auth='user', website=True
    )
    def portal_my_card_delete(self, token_id, **_kwargs):
        # Deleting a card archives it, as Odoo's own /my/payment_method does: its plans move to
        # the default card, or are flagged.
        self._get_card_sudo(token_id).action_archive()
        return request.redirect('/my/cards?message=deleted')

    @http.route(
        '/my/cards/<int:token_id>/use_for_plans',
        type='http',
        methods=['POST'],
        auth='user',
        website=True,
    )
    def portal_my_card_use_for_plans(self, token_id, **_kwargs):
        card_sudo = self._get_card_sudo(token_id)
        card_sudo._take_over_running_plans()
        return request.redirect('/my/cards?message=moved')

    @http.route()
    def archive_token(self, token_id):
        """Override of `payment` to let a user delete only a card they may act on (their own,
        or their company's where it lets its contacts): never a colleague's or, without that
        permission, their company's."""
        token_sudo = request.env['payment.token'].sudo().browse(self._cast_as_int(token_id))
        if token_sudo.exists() and not request.env.user._payment_plan_may_act(token_sudo):
            return None
        return super().archive_token(token_id)

    # === TRANSACTIONS === #

    def _prepare_transactions_domain(self, partner):
        return [
            ('partner_id', 'in', [partner.id, partner.commercial_partner_id.id]),
            ('operation', '!=', 'validation'),
            ('state', '!=', 'draft'),
        ]

    @http.route(
        ['/my/transactions', '/my/transactions/page/<int:page>'],
        type='http',
        auth='user',
        website=True,
    )
    def portal_my_transactions(self, page=1, **_kwargs):
        partner = request.env.user.partner_id
        domain = self._prepare_transactions_domain(partner)
        Transaction = request.env['payment.transaction'].sudo()
        pager = portal_pager(
            url='/my/transactions',
            total=Transaction.search_count(domain),
            page=page,
            step=self._items_per_page,
        )
        transactions_sudo = Transaction.search(
            domain,
            order='create_date desc, id desc',
            limit=self._items_per_page,
            offset=pager['offset'],
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                'transactions': transactions_sudo,
                'page_name': 'payment_transactions',
                'pager': pager,
                'default_url': '/my/transactions',
            }
        )
        return request.render('payment_plan.portal_my_transactions', values)

    @http.route('/my/transactions/<int:tx_id>', type='http', auth='user', website=True)
    def portal_my_transaction(self, tx_id, **_kwargs):
        partner = request.env.user.partner_id
        tx_sudo = (
            request.env['payment.transaction']
            .sudo()
            .search([('id', '=', tx_id), *self._prepare_transactions_domain(partner)])
        )
        if not tx_sudo:
            raise request.not_found()
        values = self._prepare_portal_layout_values()
        values.update({'tx': tx_sudo, 'page_name': 'payment_transaction'})
        return request.render('payment_plan.portal_my_transaction', values)


class PaymentPlanOrderPortal(sale_portal.PaymentPortal):
    """The order's payment page, while its first payment is charged to the card on file."""

    @http.route()
    def portal_order_transaction(self, order_id, access_token, **kwargs):
        """Override of `sale` to refuse a second payment of an order's first installment while
        the card on file is being charged for it (its outcome may still be a payment)."""
        try:
            order_sudo = self._document_check_access('sale.order', order_id, access_token)
        except (AccessError, MissingError):
            order_sudo = None  # `sale` answers the access error.
        if order_sudo and order_sudo._payment_plan_awaits_setup():
            # Its plan not set up (or its attempt cancelled): a payment would count for nothing.
            raise ValidationError(
                request.env._(
                    "This order is paid by plan: it can be paid once the seller asks for its "
                    "first payment."
                )
            )
        if order_sudo and order_sudo.payment_plan_id:
            PaymentPlanPortal._check_own_card(kwargs)
            if order_sudo._payment_plan_first_charge_under_way():
                raise ValidationError(
                    request.env._(
                        "The first payment of this order is being charged to the card on file: "
                        "wait for its outcome."
                    )
                )
            # Only the providers the order's page offers: never another company's or a
            # disabled one.
            PaymentPlanPortal._check_offered_provider(
                kwargs,
                request.env['payment.provider']
                .sudo()
                ._get_compatible_providers(
                    order_sudo.company_id.id,
                    order_sudo.partner_invoice_id.id,
                    order_sudo._get_payment_plan_first_amount(),
                    currency_id=order_sudo.currency_id.id,
                    sale_order_id=order_sudo.id,
                ),
            )
        return super().portal_order_transaction(order_id, access_token, **kwargs)


class PaymentPlanOrderPage(sale_portal.CustomerPortal):
    """The order's page, while its plan waits for the first payment."""

    def _determine_is_down_payment(self, order_sudo, amount_selection, payment_amount):
        """Override of `sale`: an order paid by plan is paid its first installment, never its
        full amount at once (the page offers no choice)."""
        if order_sudo.payment_plan_id and not order_sudo.payment_plan_paid_date:
            return True
        return super()._determine_is_down_payment(order_sudo, amount_selection, payment_amount)


class PaymentPlanInvoicePortal(account_payment_portal.PaymentPortal):
    """Odoo's own invoice payment routes, under the invoices' rules."""

    @http.route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        """Override of `account_payment` never to pay the invoice while another charge of it is
        under way, through a disabled provider or another company's, nor with a card on file
        that is not the payer's."""
        try:
            invoice_sudo = self._document_check_access('account.move', invoice_id, access_token)
        except (AccessError, MissingError):
            invoice_sudo = None  # `account_payment` answers the access error.
        if invoice_sudo:
            PaymentPlanPortal._check_own_card(kwargs)
            PaymentPlanPortal._check_provider_of_company(kwargs, invoice_sudo.company_id)
            invoice_sudo._payment_plan_claim()
            PaymentPlanPortal._check_invoice_payment(invoice_sudo)
        return super().invoice_transaction(invoice_id, access_token, **kwargs)

    @http.route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Override of `account_payment`: the same rules for the customer's overdue invoices."""
        if not request.env.user._is_public():
            invoices_sudo = (
                request.env['account.move'].search(self._get_overdue_invoices_domain()).sudo()
            )
            PaymentPlanPortal._check_own_card(kwargs)
            if invoices_sudo:
                PaymentPlanPortal._check_provider_of_company(kwargs, invoices_sudo.company_id[:1])
            invoices_sudo._payment_plan_claim()
            PaymentPlanPortal._check_invoice_payment(invoices_sudo)
        return super().overdue_invoices_transaction(payment_reference, **kwargs)


class PaymentPlanActivation(http.Controller):
    """ "New customer? Activate your account": a customer the merchant knows sets a password."""

    @http.route('/web/activate', type='http', methods=['GET', 'POST'], auth='public', website=True)
    def payment_plan_activate(self, email=None, **_kwargs):
        values = {'email': email or ''}
        if request.httprequest.method == 'POST':
            accepted = (
                request.env['payment.plan.activation']
                .sudo()
                ._request_activation(email, request.httprequest.remote_addr)
            )
            values['done'] = 'sent' if accepted else 'limited'
        return request.render('payment_plan.activate_account', values)
