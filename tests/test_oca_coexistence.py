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
        cls.pricelist = cls.env['product.pricelist'].create({'name': "Subscriptions"})
        cls.order = cls._create_installments_order(
            price=138.0, pricelist_id=cls.pricelist.id, user_id=cls.plan_user.id
        )
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

    def test_a_confirmation_refused_when_the_payment_arrives_still_records_the_payment(self):
        """`subscription_oca` refuses to confirm an order without a pricelist (it has none to
        make the subscription with): the first payment is recorded all the same, on the plan's
        invoice, and the salesperson is asked, once, to confirm the order."""
        order = self.order
        order.write({'pricelist_id': False})
        self.env['product.pricelist'].search([]).action_archive()
        order.action_payment_plan_request()
        tx = self._pay_from_link(order)
        self.assertEqual(tx.state, 'done')
        self.assertEqual((order.state, order.payment_plan_status), ('sent', 'paid'))
        self.assertFalse(self._subscriptions())
        first = order.payment_plan_id.installment_ids.sorted('sequence')[0]
        self.assertEqual(first.state, 'paid')
        self.assertEqual(first.invoice_id.amount_residual, 92.0, "138.00 less the 46.00 paid")
        tx._post_process()
        activity = order.activity_ids
        self.assertEqual(len(activity), 1, "asked once")
        self.assertEqual(activity.user_id, self.plan_user)
        self.assertIn("No pricelist found", str(activity.note))
