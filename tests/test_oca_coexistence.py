from unittest import SkipTest

from odoo.tests import tagged

from odoo.addons.payment_plan.tests.http_common import PaymentPlanHttpCommon


@tagged('post_install', '-at_install', 'payment_plan_oca')
class TestBesideOcaSubscriptions(PaymentPlanHttpCommon):
    """With OCA's `subscription_oca`, which makes a subscription when an order is confirmed: an
    order paid by plan makes one, when its first payment arrives. Runs on the database where
    `scripts/check_oca` installs OCA's `contract` and `subscription_oca` beside the add-on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if 'sale.subscription' not in cls.env:
            raise SkipTest("OCA's subscription_oca is not installed (see scripts/check_oca)")
        template = cls.env['sale.subscription.template'].create(
            {'name': "Monthly", 'recurring_rule_type': 'months'}
        )
        cls.order = cls._create_installments_order(price=138.0)
        cls.order.order_line.product_id.product_tmpl_id.write(
            {'subscribable': True, 'subscription_template_id': template.id}
        )

    def _subscriptions(self):
        return self.env['sale.subscription'].search([('sale_order_id', '=', self.order.id)])

    def test_an_order_paid_by_plan_gets_one_subscription_when_paid(self):
        order = self.order
        order.action_payment_plan_request()
        self.assertFalse(self._subscriptions(), "no subscription while the order is unpaid")
        order.action_payment_plan_cancel_attempt()
        self.assertFalse(self._subscriptions(), "none left by the cancelled attempt")
        order.action_payment_plan_request()
        self._pay_from_link(order)
        self.assertEqual((order.state, order.payment_plan_status), ('sale', 'paid'))
        self.assertEqual(len(self._subscriptions()), 1)
        order.transaction_ids._post_process()
        self.assertEqual(len(self._subscriptions()), 1, "the payment processed again: still one")
