{
    'name': "Payment Plans",
    'version': '19.0.1.0.0',
    'category': 'Accounting/Payment',
    'sequence': 360,
    'summary': "Cards on file, subscriptions, installments and mass charges collected without the customer.",
    'description': " ",  # Non-empty string to avoid loading the README file.
    'author': "payment_plan",
    'website': 'https://github.com/payment-plan/payment_plan',
    'license': 'LGPL-3',
    'depends': ['sale_management', 'account_payment', 'portal', 'sms'],
    'data': [
        'security/payment_plan_security.xml',
        'security/ir.model.access.csv',
        'data/ir_sequence_data.xml',
        'data/ir_cron_data.xml',
        'views/payment_plan_installment_views.xml',
        'views/payment_plan_views.xml',
        'views/payment_token_views.xml',
        'views/payment_transaction_views.xml',
        'views/res_partner_views.xml',
        'views/payment_plan_menus.xml',
    ],
    'demo': [
        'demo/payment_plan_demo.xml',
    ],
    'application': True,
    'installable': True,
}
