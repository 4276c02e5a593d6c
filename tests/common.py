import logging
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api
from odoo.fields import Command
from odoo.orm.registry import Registry
from odoo.tests import TransactionCase, new_test_user

from odoo.addons.base.tests.common import BaseCommon

_logger = logging.getLogger(__name__)


@contextmanager
def registry_lock_released():
    """Let other threads look the registry up while the block runs, as a server's workers do.

    Odoo's own test runner (`odoo --test-enable`) holds the registry lock in its main thread for
    the whole run: a thread of a test that creates an Environment on a new cursor (the collection
    service does, in production as in tests) would wait for that lock forever. Under pytest-odoo,
    or in test mode (where the lock is a dummy), there is nothing to release."""
    lock = Registry._lock
    if not getattr(lock, '_is_owned', lambda: False)():
        yield
        return
    state = lock._release_save()
    try:
        yield
    finally:
        lock._acquire_restore(state)


def record_consents(env, partners, channel='link', company=None):
    """Record each partner's consent to charge their cards on file in `company` (default: the
    partner's or the current one), as the card registration link does."""
    return env['payment.plan.consent'].create(
        [
            {
                'partner_id': partner.id,
                'company_id': (company or partner.company_id or env.company).id,
                'channel': channel,
            }
            for partner in partners
        ]
    )


def create_demo_cards(env, partners, states='done', provider=None, consent=True):
    """Create one demo card per partner, at once; `states` is one simulated state for all, or
    a function of the partner's position giving each its own. The customers' consent to charge
    them is recorded unless `consent` is False."""
    provider = provider or env.ref('payment.payment_provider_demo')
    method = env.ref('payment_demo.payment_method_demo')
    if consent:
        record_consents(env, partners, company=provider.company_id)
    return env['payment.token'].create(
        [
            {
                'provider_id': provider.id,
                'payment_method_id': method.id,
                'partner_id': partner.id,
                'payment_details': '4242',
                'provider_ref': f'demo-card-{partner.id}',
                'demo_simulated_state': states(n) if callable(states) else states,
            }
            for n, partner in enumerate(partners)
        ]
    )


class WorkerKilled(BaseException):
    """The worker dies (time limit, crash), e.g. right after the provider answered: no
    `except Exception` handler runs."""


class PaymentPlanCommon(BaseCommon):
    """Fixtures of the payment_plan tests: a demo provider, customers, users of each group."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.currency = cls.company.currency_id
        cls.provider = cls.env.ref('payment.payment_provider_demo')
        cls.provider.write({'state': 'test', 'company_id': cls.company.id})
        cls.payment_method = cls.env.ref('payment_demo.payment_method_demo')
        cls.customer = cls.env['res.partner'].create(
            {
                'name': "Paula Payer",
                'email': 'paula.payer@example.com',
            }
        )
        cls.other_customer = cls.env['res.partner'].create(
            {
                'name': "Oscar Other",
                'email': 'oscar.other@example.com',
            }
        )
        cls.plan_user = new_test_user(
            cls.env,
            login='plan_user',
            groups='payment_plan.group_user',
            name="Pat Planner",
        )
        cls.plan_manager = new_test_user(
            cls.env,
            login='plan_manager',
            groups='payment_plan.group_manager',
            name="Max Manager",
        )

    @classmethod
    def _let_open_customer_forms(cls, user):
        """Let `user` open a customer's form beside OCA's `subscription_oca`.

        Its Subscriptions button on the customer form reads subscriptions whatever the reader's
        groups, so there only Sales users open any contact's form, ours and Contacts' alike
        (README, Known limits). Without that module, `user` is left as it is."""
        if 'sale.subscription' in cls.env:
            user.group_ids |= cls.env.ref('sales_team.group_sale_salesman')

    @classmethod
    def _create_card(
        cls, partner=None, details='4242', state='done', provider=None, consent=True, **values
    ):
        """Return a demo card of `partner`; the customer's consent to charge it is recorded
        (as the card registration link does) unless `consent` is False."""
        provider = provider or cls.provider
        partner = partner or cls.customer
        card = cls.env['payment.token'].create(
            {
                'provider_id': provider.id,
                'payment_method_id': cls.payment_method.id,
                'partner_id': partner.id,
                'payment_details': details,
                'provider_ref': f'demo-{details}',
                'demo_simulated_state': state,
                **values,
            }
        )
        if consent:
            cls.env['payment.plan.consent']._record(partner, 'link', token=card)
        return card

    def _run_after_commit(self):
        """Run what the request left to do once committed (`_collect_after_commit`), as the
        server does: in a cursor of its own, which the test registry wraps around the test's
        transaction. Then forget the cache: the records changed in that cursor."""
        if not type(self)._registry_patched:
            self.registry_enter_test_mode()
        self.env.flush_all()
        self.env.cr.postcommit.run()
        self.env.invalidate_all()

    def _post_process_outcomes(self):
        """Post-process the outcomes that arrived, as Odoo's post-processing cron does."""
        self.env['payment.transaction'].search(
            [
                ('state', 'in', ('authorized', 'done', 'error', 'cancel')),
                ('is_post_processed', '=', False),
            ]
        )._post_process()

    def _provider_card_plan(self, card_values, **values):
        """Return a running plan of the customer charged to a card saved with a real provider
        (`card_values`), consent recorded, 3 installments of 30 from 2026-03-01."""
        card = self.env['payment.token'].create({'partner_id': self.customer.id, **card_values})
        self.env['payment.plan.consent']._record(self.customer, 'link', token=card)
        plan = self._create_plan(
            **{
                'collection_mode': 'token',
                'token_id': card.id,
                'amount': 90.0,
                'date_start': '2026-03-01',
                **values,
            }
        )
        plan.action_activate()
        return plan

    @classmethod
    def _create_gateway(cls, company=None, **values):
        company = company or cls.env.company
        return (
            cls.env['payment.plan.gateway']
            .with_company(company)
            .create(
                {
                    'name': "Test Gateway",
                    'code': f'test-{uuid.uuid4().hex[:12]}',
                    'company_id': company.id,
                    **values,
                }
            )
        )

    @classmethod
    def _create_plan(cls, **values):
        if values.get('collection_mode') == 'gateway' and 'gateway_id' not in values:
            values['gateway_id'] = cls._create_gateway().id
        return cls.env['payment.plan'].create(
            {
                'partner_id': cls.customer.id,
                'plan_type': 'installments',
                'amount': 100.0,
                'installment_count': 3,
                'date_start': '2026-01-31',
                'collection_mode': 'manual',
                **values,
            }
        )

    def _create_card_plan(self, partner=None, state='done', **values):
        """Return a running plan of `partner` (the customer) charged to a demo card of theirs
        whose payments end in `state`."""
        partner = partner or self.customer
        card = self._create_card(partner=partner, details=f'{partner.id:04d}', state=state)
        plan = self._create_plan(
            partner_id=partner.id, collection_mode='token', token_id=card.id, **values
        )
        plan.action_activate()
        return plan

    def _create_denied_plan(self, partner, plan_type='subscription', denials=('2026-03-01',)):
        """Return a plan of `partner` ($30 a payment, 3 payments from 2026-03-01) charged to a
        card that is refused, collected on each day of `denials` (one attempt each)."""
        card = self._create_card(partner=partner, details='0000', state='error')
        with freeze_time('2026-03-01'):
            plan = self._create_plan(
                partner_id=partner.id,
                plan_type=plan_type,
                collection_mode='token',
                token_id=card.id,
                amount=90.0 if plan_type == 'installments' else 30.0,
                installment_count=3,
                date_start='2026-03-01',
                max_attempts=1,
            )
            plan.action_activate()
        for day in denials:
            with freeze_time(day):
                plan.installment_ids.filtered(
                    lambda i, day=day: i.state == 'pending' and str(i.due_date) <= day
                )._collect()
        return plan

    @classmethod
    def _create_company_contacts(cls, prefix):
        """Return a customer company, Acme Corp, and two of its contacts with a portal account,
        Alice and Bob (logins `<prefix>_alice`, `<prefix>_bob`; password `<login>-password`)."""
        acme = cls.env['res.partner'].create({'name': "Acme Corp", 'is_company': True})
        alice, bob = (
            new_test_user(
                cls.env,
                login=f'{prefix}_{name.lower()}',
                password=f'{prefix}_{name.lower()}-password',
                groups='base.group_portal',
                name=f"{name} Acme",
            )
            for name in ("Alice", "Bob")
        )
        (alice.partner_id | bob.partner_id).parent_id = acme
        return acme, alice, bob

    @classmethod
    def _create_company(cls, name):
        company = cls.env['res.company'].create({'name': name})
        cls.env.user.company_ids = [Command.link(company.id)]
        return company

    @classmethod
    def _create_order(cls, partner=None, price=300.0, **values):
        """Return a quotation of one service at `price`, paid by plan per `values`."""
        product = cls.env['product.product'].create(
            {
                'name': "Consulting package",
                'type': 'service',
                'invoice_policy': 'order',
                'list_price': price,
                'taxes_id': [Command.clear()],
            }
        )
        return cls.env['sale.order'].create(
            {
                'partner_id': (partner or cls.customer).id,
                'order_line': [
                    Command.create(
                        {'product_id': product.id, 'product_uom_qty': 1, 'price_unit': price}
                    )
                ],
                **values,
            }
        )

    @classmethod
    def _create_installments_order(cls, mode='token', price=300.0, **values):
        """Return a quotation paid in 3 installments collected per `mode`."""
        return cls._create_order(
            price=price,
            payment_plan_kind='installments',
            payment_plan_installment_count=3,
            payment_plan_collection_mode=mode,
            **values,
        )


class ConcurrencyCommon(TransactionCase):
    """Separate cursors that really commit, as concurrent workers do: the records are created
    committed, for customers named after the test (the test database is dropped after the run),
    and the jobs run in threads of their own."""

    def _committed_plans(self, label, count, company=None):
        """Create and activate, in a committed transaction, `count` one-period subscriptions due
        yesterday, each for its own customer with a demo card that confirms payments."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env['res.company'].browse(company) if company else env.company
            provider = env.ref('payment.payment_provider_demo')
            if company != provider.company_id:
                provider = provider.copy({'company_id': company.id, 'state': 'test'})
            # Configure the provider's journal once, as an administrator does when enabling it
            # (Odoo would otherwise create its payment method line lazily, once per worker).
            provider.write({'journal_id': provider.journal_id.id})
            partners = env['res.partner'].create(
                [
                    {'name': f"{label} customer {n}", 'email': f'{label}.{n}@example.com'}
                    for n in range(count)
                ]
            )
            create_demo_cards(env, partners, provider=provider)
            yesterday = env['payment.plan.installment']._get_collection_today() - timedelta(days=1)
            plans = (
                env['payment.plan']
                .with_company(company)
                .create(
                    [
                        {
                            'partner_id': partner.id,
                            'company_id': company.id,
                            'plan_type': 'subscription',
                            'installment_count': 1,
                            'amount': 10.0,
                            'date_start': yesterday,
                            'collection_mode': 'token',
                        }
                        for partner in partners
                    ]
                )
            )
            plans.action_activate()
            return plans.installment_ids.ids

    def _run_in_threads(self, jobs):
        """Run each job in its own thread, on its own cursor, all at once; fail unless every job
        ran to its end (a job that never ran would make the test pass for nothing)."""
        errors, finished = [], []

        def run(job):
            try:
                with self.registry.cursor() as cr:
                    job(api.Environment(cr, SUPERUSER_ID, {}))
                finished.append(job)
            except Exception as error:
                _logger.exception("A concurrent job failed.")
                errors.append(error)

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        with registry_lock_released():
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
        self.assertFalse([thread for thread in threads if thread.is_alive()], "a job never ended")
        self.assertEqual(errors, [])
        self.assertEqual(len(finished), len(jobs), "a concurrent job did not run")

    @contextmanager
    def _fresh_env(self):
        """An environment on a new cursor: the test's own snapshot predates the committed data."""
        with self.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})
