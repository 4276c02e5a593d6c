import { registry } from "@web/core/registry";

// The customer opens the payment link of an order sold in installments, on a running demo
// server (scripts/check_demo), and pays the first installment with the Demo provider's form.
registry.category("web_tour.tours").add("payment_plan_demo_pay_link_tour", {
    steps: () => [
        {
            content: "The link opens the payment of the first installment",
            trigger: "#modalaccept.show",
        },
        {
            content: "Choose the Demo provider's card form",
            trigger: "#modalaccept input[name='o_payment_radio']",
            run: "click",
        },
        {
            content: "Type the card (test data)",
            trigger: "#modalaccept input#customer_input",
            run: "edit 4242",
        },
        {
            content: "Pay",
            trigger: "#modalaccept button[name='o_payment_submit_button']:enabled",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Back on the order, now a sales order",
            trigger: "#introduction h2:contains('Sales Order')",
            timeout: 30000,
        },
        {
            content: "The first installment is the amount paid",
            trigger: ".alert:contains('Amount paid')",
        },
    ],
});
