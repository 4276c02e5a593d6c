from odoo.tests import HttpCase, tagged


@tagged('post_install', '-at_install')
class TestPaymentPlanMenus(HttpCase):
    def test_every_menu_of_the_app_opens_without_error(self):
        """Clicks every menu, view and filter of the Payment Plans app, as a manager would."""
        self.env.ref('base.user_admin').tour_enabled = False
        self.browser_js(
            '/odoo',
            "odoo.loader.modules.get('@web/webclient/clickbot/clickbot_loader')"
            ".startClickEverywhere('payment_plan.payment_plan_menu_root');",
            'odoo.isReady === true',
            login='admin',
            timeout=600,
            success_signal='clickbot test succeeded',
        )
