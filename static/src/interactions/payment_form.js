import { patch } from '@web/core/utils/patch';

import { PaymentForm } from '@payment/interactions/payment_form';

patch(PaymentForm.prototype, {
    /**
     * Tell the plan's pay page whether the card paid with becomes the payer's default card, and
     * what the page showed.
     *
     * @override method from payment.payment_form
     * @return {object} The transaction route params.
     */
    _prepareTransactionRouteParams() {
        const params = super._prepareTransactionRouteParams(...arguments);
        const makeDefault = document.querySelector('#payment_plan_make_default');
        if (makeDefault) {
            params.payment_plan_make_default = makeDefault.checked;
        }
        // What the plan's pay page showed: the payment is refused if it changed meanwhile.
        const shown = document.querySelector('#payment_plan_shown');
        if (shown) {
            params.payment_plan_shown = shown.value;
        }
        return params;
    },
});
