import { registry } from "@web/core/registry";

// The salesperson sells a quotation in 3 installments and confirms it: the order waits for its
// first payment and shows the link sent to the customer. Relies on the quotation created by
// the Python test (its url opens the tour).
registry.category("web_tour.tours").add("payment_plan_order_tour", {
    steps: () => [
        {
            content: "Open the Payment Plan tab",
            trigger: ".o_notebook_headers a[name='payment_plan']",
            run: "click",
        },
        {
            content: "Pay in installments",
            trigger: "div[name='payment_plan_kind'] input[data-value='installments']",
            run: "click",
        },
        {
            content: "In 3 installments",
            trigger: "div[name='payment_plan_installment_count'] input",
            run: "edit 3",
        },
        {
            content: "Request the first payment",
            trigger: ".o_form_statusbar button[name='action_payment_plan_request']",
            run: "click",
        },
        {
            content: "The order waits for its first payment, link at hand",
            trigger: ".alert:contains('Payment pending') div[name='payment_plan_link']:contains('/my/orders/')",
        },
        {
            content: "The plan is one click away",
            trigger: "button[name='action_view_payment_plan']",
        },
    ],
});
