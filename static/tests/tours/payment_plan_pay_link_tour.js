import { registry } from "@web/core/registry";
import { assertNothingOverflows, payWithDemoCard } from "@payment_plan/../tests/tours/tour_steps";

// A customer opens a payment link, pays it on the Demo provider's form, and is thanked with the
// amount, the reference and the receipt. Relies on the link created by the Python test.
registry.category("web_tour.tours").add("payment_plan_pay_link_customer_tour", {
    steps: () => [
        {
            content: "The page asks for the link's amount",
            trigger: ".o_payment_plan_payment_link:contains('please pay'):contains('80.00')",
        },
        assertNothingOverflows("The link's page"),
        ...payWithDemoCard(),
        {
            content: "Thanked, with the amount paid",
            trigger: ".o_payment_plan_link_paid:contains('Thank you')",
            timeout: 20000,
        },
        {
            trigger: ".o_payment_plan_link_amount:contains('80.00')",
        },
        {
            content: "The reference and the receipt to download",
            trigger: ".o_payment_plan_link_reference:not(:empty)",
        },
        {
            trigger: "a.o_payment_plan_link_receipt_pdf[href*='/receipt/']",
        },
    ],
});
