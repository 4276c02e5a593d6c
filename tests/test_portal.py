import re

from freezegun import freeze_time

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment_plan.tests.http_common import PaymentPlanHttpCommon


@tagged('post_install', '-at_install')
class TestPortal(PaymentPlanHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.payer, cls.stranger = (
            new_test_user(
                cls.env,
                login=login,
                password=f'{login}-password',
                groups='base.group_portal',
                name=name,
            )
            for login, name in (('payer', "Pam Payer"), ('stranger', "Sid Stranger"))
        )
        cls.payer.partner_id.email = 'pam.payer@example.com'
        cls.card = cls._create_card(partner=cls.payer.partner_id, details='1111')
        with freeze_time('2026-03-01'):
            cls.subscription = cls._create_plan(
                partner_id=cls.payer.partner_id.id,
                plan_type='subscription',
                amount=20.0,
                installment_count=0,
                collection_mode='token',
                token_id=cls.card.id,
                date_start='2026-03-01',
                allow_payer_cancel=True,
            )
            cls.subscription.action_activate()
            cls.subscription.installment_ids._collect()
        cls.tx = cls.subscription.installment_ids.transaction_ids
        cls.other_card = cls._create_card(partner=cls.stranger.partner_id, details='9999')

    def _csrf_token(self):
        """Return a CSRF token of the current session, read from a page's form."""
        page = self.url_open('/web/activate').text
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def _post(self, url, data=None, csrf=True):
        data = {'submitted': '1', **(data or {})}
        if csrf:
            data['csrf_token'] = self._csrf_token()
        return self.url_open(url, data=data, allow_redirects=False)

    def _denied_plan(self):
        card = self._create_card(partner=self.payer.partner_id, details='0000', state='error')
        with freeze_time('2026-03-01'):
            plan = self._create_plan(
                partner_id=self.payer.partner_id.id,
                collection_mode='token',
                token_id=card.id,
                amount=90.0,
                installment_count=3,
                date_start='2026-03-01',
                max_attempts=1,
            )
            plan.action_activate()
            plan.installment_ids._collect()
        return plan

    def test_every_page_answers_its_owner(self):
        denied = self._denied_plan()
        self._login(self.payer)
        for url in (
            '/my',
            '/my/plans',
            '/my/plans?sortby=next_due',
            self.subscription.access_url,
            f'{self.subscription.access_url}?report_type=html',
            f'/my/plans/{denied.id}/pay',
            '/my/cards',
            '/my/transactions',
            f'/my/transactions/{self.tx.id}',
            '/my/account',
        ):
            with self.subTest(url=url):
                response = self.url_open(url)
                self.assertEqual(response.status_code, 200)
        page = self.url_open(self.subscription.access_url).text
        self.assertIn(self.subscription.installment_ids[0].name, page)
        self.assertIn(self.tx.reference, page)
        self.assertIn('Update your card and pay now', self.url_open(denied.access_url).text)
        self.assertIn(
            'Payment Schedule',
            self.url_open(f'{self.subscription.access_url}?report_type=html').text,
        )
        pdf = self.url_open(f'{self.subscription.access_url}?report_type=pdf&download=true')
        self.assertEqual(pdf.status_code, 200, "the payer's schedule as PDF")
        self.assertEqual(pdf.headers['Content-Type'], 'application/pdf')
        self.assertIn('Schedule_', pdf.headers['Content-Disposition'])

    def test_someone_elses_records_are_out_of_reach(self):
        denied = self._denied_plan()
        self._login(self.stranger)
        plans = self.subscription | denied
        for plan_id in range(min(plans.ids) - 1, max(plans.ids) + 2):
            for url in (f'/my/plans/{plan_id}', f'/my/plans/{plan_id}/pay'):
                with self.subTest(url=url):
                    self.assertIn(self.url_open(url).status_code, (403, 404))
            with self.subTest(url='cancel', plan=plan_id):
                self.assertIn(self._post(f'/my/plans/{plan_id}/cancel').status_code, (403, 404))
        for card_id in range(self.card.id - 1, self.card.id + 2):
            if card_id == self.other_card.id:
                continue
            for action in ('default', 'delete', 'use_for_plans'):
                with self.subTest(card=card_id, action=action):
                    self.assertIn(
                        self._post(f'/my/cards/{card_id}/{action}').status_code, (403, 404)
                    )
        for tx_id in range(self.tx.id - 1, self.tx.id + 2):
            with self.subTest(tx=tx_id):
                self.assertIn(self.url_open(f'/my/transactions/{tx_id}').status_code, (403, 404))
        with mute_logger('odoo.http'):
            self.assertEqual(
                self.make_jsonrpc_request_status(f'/my/plans/{denied.id}/transaction'), 'refused'
            )
        self.assertEqual(self.subscription.state, 'active')
        self.assertTrue(self.card.active)
        self.assertTrue(self.card.is_default)
        self.assertNotIn(self.tx.reference, self.url_open('/my/transactions').text)

    def make_jsonrpc_request_status(self, route):
        try:
            self.make_jsonrpc_request(
                route,
                {'access_token': 'guess', 'provider_id': self.provider.id, 'flow': 'direct'},
            )
        except Exception:  # Any refusal will do: nothing must be created.
            return 'refused'
        return 'accepted'

    def test_post_routes_refuse_a_missing_csrf_token(self):
        self._login(self.payer)
        second = self._create_card(partner=self.payer.partner_id, details='2222')
        with mute_logger('odoo.http'):
            for url in (
                f'/my/plans/{self.subscription.id}/cancel',
                f'/my/cards/{second.id}/default',
                f'/my/cards/{second.id}/delete',
                f'/my/cards/{second.id}/use_for_plans',
                '/web/activate',
            ):
                with self.subTest(url=url):
                    self.assertEqual(self._post(url, csrf=False).status_code, 400)
        self.assertEqual(self.subscription.state, 'active')
        self.assertTrue(second.active)
        self.assertFalse(second.is_default)

    def test_a_plan_the_merchant_keeps_cannot_be_cancelled(self):
        self.subscription.allow_payer_cancel = False
        self._login(self.payer)
        self.assertNotIn('payment_plan_cancel', self.url_open(self.subscription.access_url).text)
        with mute_logger('odoo.http'):
            response = self._post(f'/my/plans/{self.subscription.id}/cancel')
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.subscription.state, 'active')

    def test_payer_cancels_a_subscription(self):
        self._login(self.payer)
        response = self._post(f'/my/plans/{self.subscription.id}/cancel')
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.subscription.state, 'cancelled')
        self.assertTrue(
            self.subscription.message_ids.filtered(lambda m: 'Cancelled by the customer' in m.body)
        )

    def test_payer_manages_cards(self):
        second = self._create_card(partner=self.payer.partner_id, details='2222')
        self._login(self.payer)
        self._post(f'/my/cards/{second.id}/default')
        self.assertTrue(second.is_default)
        self.assertFalse(self.card.is_default)
        self._post(f'/my/cards/{second.id}/use_for_plans')
        self.assertEqual(self.subscription.token_id, second)
        self._post(f'/my/cards/{second.id}/delete')
        self.assertFalse(second.active)
        self.assertTrue(self.card.is_default, "the default passes to the other card")
        self.assertEqual(self.subscription.token_id, self.card, "the plan follows the default card")

    def test_update_card_and_pay_now_pays_the_denied_installment(self):
        plan = self._denied_plan()
        denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
        self._login(self.payer)
        tx = self._pay_overdue(plan)
        self.assertEqual(tx.installment_id, denied)
        self.assertEqual((tx.state, tx.amount), ('done', denied.amount))
        self.assertEqual(denied.state, 'paid')
        self.assertFalse(plan.payment_failed)
        self.assertEqual(plan.token_id, tx.token_id, "the new card pays the plan from now on")
        self.assertEqual(tx.payment_id.reconciled_invoice_ids, plan.invoice_id)

    def _twice_denied_plan(self, plan_type):
        """Return a plan of the payer whose first two payments were declined ($30 each)."""
        return self._create_denied_plan(
            self.payer.partner_id, plan_type, denials=('2026-03-01', '2026-04-01')
        )

    def test_pay_now_pays_everything_overdue_in_one_payment(self):
        """Two declined payments: the plan page says $60.00 could not be collected, the pay
        page asks for $60.00, and one payment of the card form pays both."""
        for plan_type in ('installments', 'subscription'):
            with self.subTest(plan_type=plan_type):
                plan = self._twice_denied_plan(plan_type)
                denied = plan.installment_ids.filtered(lambda i: i.state == 'denied')
                self.assertEqual(len(denied), 2)
                self._login(self.payer)
                page = self.url_open(plan.access_url).text
                self.assertIn('We could not collect', page)
                self.assertRegex(page, r'o_payment_plan_overdue">\$\s?60\.00<')
                self.assertIn('2 payments', page)
                self.assertRegex(page, r'Next Charge</dt>')
                pay_page = self.url_open(f'/my/plans/{plan.id}/pay').text
                self.assertRegex(pay_page, r'o_payment_plan_pay_amount">\$\s?60\.00<')
                for installment in denied:
                    self.assertIn(installment.name, pay_page)
                tx = self._pay_overdue(plan, amount=1.0)
                self.assertEqual((tx.state, tx.amount), ('done', 60.0), "one payment of both")
                self.assertEqual(denied.mapped('state'), ['paid', 'paid'])
                self.assertEqual(tx.payment_id.reconciled_invoice_ids, denied.invoice_id)
                self.assertFalse(plan.payment_failed)
                self.assertEqual(plan.amount_due, 30.0, "the third installment still owes $30")
                self.assertNotIn('We could not collect', self.url_open(plan.access_url).text)

    def test_a_card_whose_payment_failed_is_not_kept(self):
        """Demo saves the card before it fails the payment: the payer's failed card is neither
        kept, nor consented, nor offered again."""
        plan = self._twice_denied_plan('subscription')
        self._login(self.payer)
        tx = self._pay_overdue(plan, simulated_state='error')
        self.assertEqual(tx.state, 'error')
        self.assertTrue(tx.token_id, "Demo saved it")
        self.assertFalse(tx.token_id.active, "and it is not kept")
        self.assertFalse(
            self.env['payment.plan.consent'].search([('token_id', '=', tx.token_id.id)])
        )
        self.assertNotEqual(plan.token_id, tx.token_id)
        self.assertNotIn('5555', self.url_open('/my/cards').text)

    def test_home_entries_count_and_cards_live_in_one_place(self):
        self._login(self.payer)
        home = self.url_open('/my').text
        for title, count in (('Payment Plans', 1), ('Cards', 1), ('Payments', 1)):
            with self.subTest(entry=title):
                self.assertRegex(
                    home,
                    rf'{count}\s*<span[^>]*data-placeholder_count="[a-z_]+"[^>]*></span>\s*'
                    rf'<span>{title}</span>',
                )
        cards = self.url_open('/my/cards').text
        self.assertRegex(
            cards,
            rf'o_payment_plan_card_plans">\s*Pays {re.escape(self.subscription.name)}',
            "each card says which plans it pays",
        )
        add = self.url_open('/my/payment_method').text
        self.assertIn('the plans each card pays are in', add)
        self.assertNotIn('o_payment_delete_token', add, "cards are deleted from Your Cards only")
        self.assertIn('data-landing-route="/my/cards"', add)

    # === Account activation === #

    def _allow_signup(self, scope='b2c'):
        self.env['ir.config_parameter'].sudo().set_param('auth_signup.invitation_scope', scope)

    def _ask_activation(self, email):
        """Post the activation form as a visitor; return the answer."""
        self.url_open('/web/logout')
        return self.url_open(
            '/web/activate', data={'email': email, 'csrf_token': self._csrf_token()}
        )

    @staticmethod
    def _page(response):
        """Return the bytes of an answer, but for the session's CSRF token, which every page
        of the session carries and which changes each second (whatever the email)."""
        return re.sub(rb'\b[0-9a-f]{40}o[0-9]+\b', b'<csrf-token>', response.content)

    def _process_activations(self):
        """Run what the activation cron runs, after the answer."""
        self.env['payment.plan.activation']._cron_process_requests()

    def test_activation_answers_the_same_and_creates_a_user_for_a_known_customer(self):
        self._allow_signup()
        known = self.env['res.partner'].create(
            {'name': "Newcomer", 'email': 'Newcomer@Example.com'}
        )
        answers = {}
        for email in ('newcomer@example.com', 'nobody@example.com', 'pam.payer@example.com'):
            response = self._ask_activation(email)
            self.assertEqual(response.status_code, 200)
            self.assertIn('If we know this email', response.text)
            answers[email] = self._page(response)
        self.assertEqual(
            len(set(answers.values())), 1, "the same bytes whether the email is known or not"
        )
        self.assertFalse(
            known.with_context(active_test=False).user_ids, "nothing is done while answering"
        )
        self._process_activations()
        user = known.with_context(active_test=False).user_ids
        self.assertEqual(len(user), 1)
        self.assertTrue(user._is_portal())
        self.assertEqual(user.login, 'newcomer@example.com')
        self.assertEqual(
            known.signup_type, 'signup', "the customer is mailed the link to set a password"
        )
        mail = self.env['mail.mail'].sudo().search([('email_to', '=', user.email)])
        self.assertEqual(mail.state, 'outgoing', "the mail leaves through the mail queue")
        self.assertEqual(
            len(self.payer.partner_id.user_ids), 1, "an existing account is left alone"
        )
        self.assertFalse(self.env['res.users'].search([('login', '=', 'nobody@example.com')]))
        self.assertFalse(
            self.env['payment.plan.activation'].sudo().search([('email', '!=', False)]),
            "the emails are forgotten once processed",
        )

    def test_activation_does_the_same_work_whatever_the_email(self):
        self._allow_signup()
        self.env['res.partner'].create({'name': "Newcomer", 'email': 'newcomer@example.com'})
        self._ask_activation('warm-up@example.com')
        queries = {}
        for email in ('newcomer@example.com', 'nobody@example.com'):
            self.url_open('/web/logout')
            csrf_token = self._csrf_token()
            self.env.flush_all()
            start = self.cr.sql_log_count
            self.url_open('/web/activate', data={'email': email, 'csrf_token': csrf_token})
            queries[email] = self.cr.sql_log_count - start
        self.assertEqual(len(set(queries.values())), 1, f"queries per email: {queries}")

    def test_activation_with_a_pattern_creates_no_user_for_someone_else(self):
        self._allow_signup()
        victim = self.env['res.partner'].create(
            {'name': "Victim Clinic", 'email': 'reception@victim-clinic.com'}
        )
        for pattern in ('%@victim-clinic.com', 'reception@victim%', '_eception@victim-clinic.com'):
            self._ask_activation(pattern)
        self._process_activations()
        self.assertFalse(victim.with_context(active_test=False).user_ids)
        self.assertFalse(
            self.env['res.users'].search([('login', 'like', 'victim')]), "no user for a pattern"
        )

    def test_activation_failure_is_not_visible_and_only_logged(self):
        self._allow_signup()
        known = self.env['res.partner'].create(
            {'name': "Newcomer", 'email': 'newcomer@example.com'}
        )
        # The user cannot be created (no portal template user): the work fails after the answer.
        self.env['ir.config_parameter'].sudo().set_param('base.template_portal_user_id', '0')
        known_answer = self._ask_activation('newcomer@example.com')
        unknown_answer = self._ask_activation('nobody@example.com')
        self.assertEqual(known_answer.status_code, 200)
        self.assertEqual(self._page(known_answer), self._page(unknown_answer))
        with self.assertLogs(
            'odoo.addons.payment_plan.models.payment_plan_activation', level='ERROR'
        ) as logs:
            self._process_activations()
        self.assertIn("failed", logs.output[0])
        self.assertFalse(known.with_context(active_test=False).user_ids)

    def test_activation_follows_the_signup_setting(self):
        self._allow_signup('b2b')
        known = self.env['res.partner'].create(
            {'name': "Newcomer", 'email': 'newcomer@example.com'}
        )
        payer = self.env['res.partner'].create({'name': "Planned", 'email': 'planned@example.com'})
        self._create_plan(partner_id=payer.id)
        login_page = self.url_open('/web/login').text
        self.assertIn('o_payment_plan_activate_link', login_page, "one way in for known payers")
        self.assertNotIn('/web/signup', login_page, "Odoo's sign-up only where it is enabled")
        answer = self._ask_activation('newcomer@example.com')
        self.assertEqual(self._page(answer), self._page(self._ask_activation('nobody@example.com')))
        self._ask_activation('planned@example.com')
        self._process_activations()
        self.assertFalse(
            known.with_context(active_test=False).user_ids,
            "no account for a contact who pays nothing by plan where customers may not sign up",
        )
        self.assertTrue(
            payer.with_context(active_test=False).user_ids, "a payer of the merchant gets theirs"
        )

    def test_activation_requests_are_rate_limited(self):
        for _attempt in range(5):
            self.url_open(
                '/web/activate', data={'email': 'x@example.com', 'csrf_token': self._csrf_token()}
            )
        response = self.url_open(
            '/web/activate',
            data={'email': 'newcomer@example.com', 'csrf_token': self._csrf_token()},
        )
        self.assertIn('Too many requests', response.text)

    def test_plans_list_renders_in_constant_queries(self):
        self._login(self.payer)
        self.url_open('/my/plans')  # Warm the caches.
        queries = []
        for extra in (4, 495):
            # The newest plan of each round runs (the page reads its installments): each round
            # shows plans of both kinds.
            plans = self.env['payment.plan'].create(
                [
                    {
                        'partner_id': self.payer.partner_id.id,
                        'plan_type': 'subscription',
                        'amount': 10.0 + n,
                        'collection_mode': 'token',
                        'token_id': self.card.id,
                        'date_start': '2026-03-01',
                    }
                    for n in range(extra)
                ]
            )
            plans[-1].action_activate()
            self.env.flush_all()
            start = self.cr.sql_log_count
            response = self.url_open('/my/plans')
            queries.append(self.cr.sql_log_count - start)
            self.assertEqual(response.status_code, 200)
        self.assertGreater(queries[0], 0, "the page's queries are counted")
        self.assertEqual(queries[0], queries[1], f"queries with 5 and 500 plans: {queries}")

    # === Tours === #

    def test_tour_cancel_a_subscription(self):
        self.start_tour('/my/plans', 'payment_plan_portal_cancel_tour', login='payer')
        self.assertEqual(self.subscription.state, 'cancelled')

    def test_tour_set_the_default_card(self):
        second = self._create_card(partner=self.payer.partner_id, details='2222')
        self.start_tour('/my/cards', 'payment_plan_portal_default_card_tour', login='payer')
        self.assertTrue(second.is_default)

    def test_tour_delete_the_only_card_with_the_warning(self):
        self.start_tour('/my/cards', 'payment_plan_portal_delete_card_tour', login='payer')
        self.assertFalse(self.card.active)
        self.assertTrue(self.subscription.card_missing)

    def test_tour_activate_an_account(self):
        self._allow_signup()
        known = self.env['res.partner'].create(
            {'name': "Newcomer", 'email': 'newcomer@example.com'}
        )
        self.start_tour('/web/login', 'payment_plan_activate_tour')
        self._process_activations()
        self.assertTrue(known.with_context(active_test=False).user_ids)

    def test_schedule_prints_from_the_backend(self):
        html, _format = self.env['ir.actions.report']._render_qweb_html(
            'payment_plan.action_report_payment_plan_schedule', self.subscription.ids
        )
        html = html.decode()
        self.assertIn(self.subscription.name, html)
        for installment in self.subscription.installment_ids:
            self.assertIn(installment.name, html)
        report = self.env.ref('payment_plan.action_report_payment_plan_schedule')
        self.assertEqual(report.binding_model_id.model, 'payment.plan', "in the plan's Print menu")


@tagged('post_install', '-at_install')
class TestPortalOnAPhone(PaymentPlanHttpCommon):
    """The payer's pages on a 390 px wide phone, and paying what failed from there."""

    browser_size = '390x844'
    touch_enabled = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider.write({'is_published': True})
        cls.payer = new_test_user(
            cls.env,
            login='phone_payer',
            password='phone_payer-password',
            groups='base.group_portal',
            name="Phoebe Phone",
        )
        card = cls._create_card(partner=cls.payer.partner_id, details='4321', state='error')
        cls.plan = cls._create_plan(
            partner_id=cls.payer.partner_id.id,
            description="Phone plan",
            plan_type='subscription',
            amount=25.0,
            collection_mode='token',
            token_id=card.id,
            date_start=cls.env['payment.plan.installment']._get_collection_today(),
            max_attempts=1,
        )
        cls.plan.action_activate()
        cls.plan.installment_ids._collect()
        cls.denied = cls.plan.installment_ids.filtered(lambda i: i.state == 'denied')

    def test_tour_the_portal_fits_a_phone(self):
        self.assertTrue(self.denied)
        self.start_tour('/my/plans', 'payment_plan_portal_phone_tour', login='phone_payer')

    def test_tour_pay_now_thanks_and_makes_the_new_card_the_default(self):
        self.start_tour(
            self.plan.get_portal_url(), 'payment_plan_pay_now_tour', login='phone_payer'
        )
        self.env['payment.transaction'].search(
            [
                ('installment_id', '=', self.denied.id),
                ('state', '=', 'done'),
                ('is_post_processed', '=', False),
            ]
        )._post_process()
        self.assertEqual(self.denied.state, 'paid')
        self.assertEqual(self.plan.token_id.payment_details, '9876')
        self.assertTrue(self.plan.token_id.is_default, "ticked by default: the new default card")

    def test_home_alerts_the_payer_of_a_failed_payment(self):
        self.authenticate('phone_payer', 'phone_payer-password')
        page = self.url_open('/my')
        self.assertIn('o_payment_plan_home_alert', page.text)
        self.assertIn("Phone plan", page.text)
        self.assertIn(f'/my/plans/{self.plan.id}/pay', page.text)
