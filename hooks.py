from odoo.addons.payment_plan.demo import payment_plan_demo


def post_init_hook(env):
    """Create the demo customers, cards and plans when the add-on is installed with demo data."""
    if env['ir.module.module']._get('payment_plan').demo:
        payment_plan_demo.load_demo_data(env)
