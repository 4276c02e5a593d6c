"""The routes a payer uses, as their browser calls them: shared by the HTTP tests."""

import re

from werkzeug.urls import url_decode, url_parse

from odoo.tests import HttpCase

from odoo.addons.payment_plan.tests.common import PaymentPlanCommon


class PaymentPlanHttpCommon(PaymentPlanCommon, HttpCase):
    """Log in as a portal user (password `<login>-password`), pay a plan's overdue installments
    from its pay page, pay an order's first installment from its link, on the Demo provider."""

    def _login(self, user):
        self.authenticate(user.login, f'{user.login}-password')

    @staticmethod
    def _shown(page):
        """Return what the plan's pay page showed, as its form sends it back."""
        return re.search(r'id="payment_plan_shown" value="([^"]+)"', page).group(1)

    def _start_pay_now(self, plan, amount, shown=None, tokenize=True):
        """Post the plan's pay page form (with what the page showed, `shown`, as its script
        sends it); return the processing values."""
        params = {
            'access_token': plan._portal_ensure_token(),
            'provider_id': self.provider.id,
            'payment_method_id': self.payment_method.id,
            'token_id': None,
            'amount': amount,
            'flow': 'direct',
            'tokenization_requested': tokenize,
            'landing_route': plan.access_url,
        }
        if shown:
            params['payment_plan_shown'] = shown
        return self.make_jsonrpc_request(f'/my/plans/{plan.id}/transaction', params)

    def _simulate(self, reference, state='done', details='5555'):
        """Answer the Demo provider's form: the payment ends in `state`."""
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {'reference': reference, 'payment_details': details, 'simulated_state': state},
        )

    def _pay_overdue(self, plan, amount=1.0, simulated_state='done'):
        """Pay the plan's overdue installments from its pay page (what the server asks, whatever
        `amount` the form says), then the status page; return the transaction."""
        processing_values = self._start_pay_now(plan, amount, tokenize=False)
        self._simulate(processing_values['reference'], simulated_state)
        self.make_jsonrpc_request('/payment/status/poll', {})
        return self.env['payment.transaction'].search(
            [('reference', '=', processing_values['reference'])]
        )

    def _pay_from_link(self, order, simulated_state='done', poll=True):
        """Pay the first installment as the customer does: the order's portal payment page, the
        demo provider's form, then the status page that post-processes the payment."""
        self.authenticate(None, None)
        link = order._get_payment_plan_link()
        page = self.url_open(link.removeprefix(order.get_base_url()))
        self.assertEqual(page.status_code, 200)
        processing_values = self.make_jsonrpc_request(
            f'/my/orders/{order.id}/transaction',
            {
                'access_token': order.access_token,
                'provider_id': self.provider.id,
                'payment_method_id': self.payment_method.id,
                'token_id': None,
                'amount': order._get_payment_plan_first_amount(),
                'flow': 'direct',
                'tokenization_requested': False,
                'landing_route': order.get_portal_url(),
            },
        )
        self._simulate(processing_values['reference'], simulated_state, details='4242')
        if poll:
            self.make_jsonrpc_request('/payment/status/poll', {})
        return self.env['payment.transaction'].search(
            [('reference', '=', processing_values['reference'])]
        )


def pay_token(url):
    """Return the signed token of a pay link."""
    return url_decode(url_parse(url).query)['pay_token']


class PayLinkCase(PaymentPlanHttpCommon):
    """Helpers of the pay-link tests: a denied plan, the transaction route's parameters, the
    demo provider's answer."""

    def _denied_plan(self, partner=None, **values):
        partner = partner or self.customer
        card = self._create_card(partner=partner, details=f'{partner.id:04d}', state='error')
        plan = self._create_plan(
            **{
                'partner_id': partner.id,
                'collection_mode': 'token',
                'token_id': card.id,
                'amount': 90.0,
                'date_start': '2026-03-01',
                'max_attempts': 1,
                **values,
            }
        )
        plan.action_activate()
        plan.installment_ids._collect()
        return plan, plan.installment_ids.filtered(lambda i: i.state == 'denied')

    def _params(self, plan, token, **values):
        return {
            'access_token': token,
            'provider_id': self.provider.id,
            'payment_method_id': self.payment_method.id,
            'token_id': None,
            'amount': 0.01,  # Tampered: the server decides.
            'flow': 'direct',
            'tokenization_requested': True,
            'landing_route': plan.access_url,
            **values,
        }

    def _simulate(self, reference, state='done'):
        self.make_jsonrpc_request(
            '/payment/demo/simulate_payment',
            {'reference': reference, 'payment_details': '9999', 'simulated_state': state},
        )
        self.env['payment.transaction'].search([('reference', '=', reference)])._post_process()
