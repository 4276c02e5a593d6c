import { registry } from "@web/core/registry";
import { assertNothingOverflows, payWithDemoCard } from "@payment_plan/../tests/tours/tour_steps";

// The customer opens the payment link of an order sold in installments, on a running demo
// server (scripts/check_demo), and pays the first installment with the Demo provider's form.
registry.category("web_tour.tours").add("payment_plan_demo_pay_link_tour", {
    steps: () => [
        {
            content: "The link opens the payment of the first installment",
            trigger: "#modalaccept.show",
        },
        {
            content: "It asks for the first installment only: no full amount to choose",
            trigger: "#modalaccept:not(:has(button[name='o_sale_portal_amount_total_button']))",
        },
        {
            content: "Right above the card form, what the payer agrees to",
            trigger: "#modalaccept .o_payment_plan_consent_text:contains('keeps my card on file and charges it')",
        },
        {
            content: "The page shows the schedule: today's payment, then the next dates",
            trigger: ".o_payment_plan_order_preview tbody tr:first-child:contains('Today')",
        },
        assertNothingOverflows("The order's page"),
        ...payWithDemoCard({ scope: "#modalaccept" }),
        {
            content: "Back on the order, now a sales order",
            trigger: "#introduction h2:contains('Sales Order')",
            timeout: 30000,
        },
        {
            content: "The first installment is the amount paid",
            trigger: ".alert:contains('Amount paid')",
        },
        {
            content: "The order names its plan and the next charge",
            trigger: "#payment_plan_order_running:contains('Next charge')",
        },
    ],
});
