import { registry } from "@web/core/registry";
import { assertNothingOverflows, payWithDemoCard } from "@payment_plan/../tests/tours/tour_steps";

// A customer opens the link to add a card and fills the Demo provider's form: the page then
// says that the card is saved. Relies on the link created by the Python test.
registry.category("web_tour.tours").add("payment_plan_card_request_tour", {
    steps: () => [
        {
            content: "The page says who asks, and why",
            trigger: ".o_payment_plan_card_request:contains('asks you to save a card')",
        },
        {
            content: "It states what the customer agrees to",
            trigger: ".o_payment_plan_consent_text:contains('keeps my card on file and charges it')",
        },
        assertNothingOverflows("The card page"),
        ...payWithDemoCard({ submitLabel: "Save it" }),
        {
            content: "The card is saved",
            trigger: ".o_payment_plan_card_saved:contains('Your card is saved')",
            timeout: 20000,
        },
    ],
});
