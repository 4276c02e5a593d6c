"""The demo customers, cards and plans: created by the post-install hook (`hooks.py`) when the
add-on is installed with demo data; no model carries it."""

from dateutil.relativedelta import relativedelta

from odoo import fields


def load_demo_data(env):
    """Create demo customers with demo cards and plans in every state worth showing.

    Cards need the Demo payment provider (`payment_demo`); without it the demo shows
    manually collected plans only.
    """
    today = fields.Date.context_today(env['payment.plan'])
    demo_method = env.ref('payment_demo.payment_method_demo', raise_if_not_found=False)
    provider = env.ref('payment.payment_provider_demo', raise_if_not_found=False)
    partners = env['res.partner'].create(
        [
            {
                'name': "Ana García",
                'email': 'ana.garcia@example.com',
                'phone': '+34 600 000 001',
            },
            {
                'name': "Bruno Costa",
                'email': 'bruno.costa@example.com',
                'phone': '+55 11 90000 0002',
            },
            {
                'name': "Claire Martin",
                'email': 'claire.martin@example.com',
                'phone': '+33 6 00 00 00 03',
            },
            {'name': "Dev Patel", 'email': 'dev.patel@example.com'},
        ]
    )
    for partner, xmlid in zip(partners, ('ana', 'bruno', 'claire', 'dev'), strict=True):
        env['ir.model.data'].create(
            {
                'module': 'payment_plan',
                'name': f'demo_partner_{xmlid}',
                'model': 'res.partner',
                'res_id': partner.id,
                'noupdate': True,
            }
        )
    ana, bruno, claire, dev = partners
    Consent = env['payment.plan.consent']
    for partner, channel in ((ana, 'link'), (bruno, 'portal'), (claire, 'moto')):
        Consent._record(partner, channel, user_id=env.uid)
    mode = 'token' if demo_method and provider else 'manual'
    if mode == 'token':
        provider = provider.with_company(provider.company_id)
        env['payment.token'].create(
            [
                {
                    'provider_id': provider.id,
                    'payment_method_id': demo_method.id,
                    'partner_id': partner.id,
                    'payment_details': details,
                    'provider_ref': f'demo-{details}',
                    'demo_simulated_state': state,
                    'expiry_month': 12,
                    'expiry_year': today.year + 2,
                }
                for partner, details, state in (
                    (ana, '4242', 'done'),
                    (bruno, '1881', 'done'),
                    (bruno, '0005', 'pending'),
                    (claire, '0002', 'error'),
                )
            ]
        )
    # What the plans bill: products with the company's sales tax, as a merchant's catalogue.
    sale_tax = env.company.account_sale_tax_id
    treatment, membership, magazine = env['product.product'].create(
        [
            {
                'name': name,
                'type': 'service',
                'list_price': price,
                'invoice_policy': 'order',
                'taxes_id': [fields.Command.set(sale_tax.ids)],
            }
            for name, price in (
                ("Dental treatment", 1200.0),
                ("Gym membership (month)", 49.9),
                ("Magazine (month)", 30.0),
            )
        ]
    )
    installments_plan, subscription, denied_plan, donation = env['payment.plan'].create(
        [
            {
                'partner_id': ana.id,
                'description': "Dental treatment in 6 installments",
                'plan_type': 'installments',
                'line_ids': [fields.Command.create({'product_id': treatment.id})],
                'installment_count': 6,
                'date_start': today - relativedelta(months=2),
                'collection_mode': mode,
            },
            {
                'partner_id': bruno.id,
                'description': "Gym membership",
                'plan_type': 'subscription',
                'line_ids': [fields.Command.create({'product_id': membership.id})],
                'date_start': today,
                'collection_mode': mode,
            },
            {
                'partner_id': claire.id,
                'description': "Magazine subscription",
                'plan_type': 'subscription',
                'line_ids': [fields.Command.create({'product_id': magazine.id})],
                'date_start': today - relativedelta(months=1),
                'collection_mode': mode,
            },
            {
                'partner_id': dev.id,
                'description': "Monthly donation",
                'plan_type': 'subscription',
                'amount': 25.0,
                'date_start': today,
                'collection_mode': 'manual',
            },
        ]
    )
    (installments_plan | subscription | denied_plan | donation).action_activate()
    if mode == 'token' and provider.state != 'disabled':
        # Real runs of the collection service: the paid and denied installments come with
        # their transactions, invoices and payments, as in a merchant's database.
        denied_plan.max_attempts = 1
        (installments_plan | denied_plan).installment_ids._collect()
    for plan, name in zip(
        (installments_plan, subscription, denied_plan, donation),
        ('installments', 'subscription', 'denied', 'donation'),
        strict=True,
    ):
        env['ir.model.data'].create(
            {
                'module': 'payment_plan',
                'name': f'demo_plan_{name}',
                'model': 'payment.plan',
                'res_id': plan.id,
                'noupdate': True,
            }
        )
