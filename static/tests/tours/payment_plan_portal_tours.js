import { registry } from "@web/core/registry";

// Portal tours: each relies on the records its Python test creates, and asserts what the page
// shows after the action.

registry.category("web_tour.tours").add("payment_plan_portal_cancel_tour", {
    url: "/my/plans",
    steps: () => [
        {
            content: "Open the subscription",
            trigger: ".o_payment_plan_row a:contains('PLAN/')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Ask to cancel it",
            trigger: "button#payment_plan_cancel",
            run: "click",
        },
        {
            content: "The confirmation says what happens",
            trigger: ".modal.show .modal-body:contains('Nothing more will be charged'):contains('already due stays due')",
        },
        {
            content: "Confirm",
            trigger: ".modal.show button#payment_plan_cancel_confirm",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The plan is cancelled and says so",
            trigger: "#payment_plan_cancelled:contains('nothing more will be charged')",
        },
        {
            content: "It can no longer be cancelled",
            trigger: "body:not(:has(button#payment_plan_cancel))",
        },
    ],
});

registry.category("web_tour.tours").add("payment_plan_portal_default_card_tour", {
    url: "/my/cards",
    steps: () => [
        {
            content: "Make the second card the default",
            trigger: ".o_payment_plan_card:contains('2222') button.o_payment_plan_make_default",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "It is starred now, and the other card is not",
            trigger: ".o_payment_plan_card:contains('2222') .fa-star.text-warning",
        },
        {
            trigger: ".o_payment_plan_card:contains('1111') .fa-star-o",
        },
        {
            trigger: ".alert-success:contains('default card is changed')",
        },
    ],
});

registry.category("web_tour.tours").add("payment_plan_portal_delete_card_tour", {
    url: "/my/cards",
    steps: () => [
        {
            content: "Delete the only card",
            trigger: ".o_payment_plan_card:contains('1111') button.o_payment_plan_delete",
            run: "click",
        },
        {
            content: "The warning says the next charges will fail",
            trigger: ".modal.show .o_payment_plan_last_card_warning:contains('next charges of these plans will fail')",
        },
        {
            content: "Confirm",
            trigger: ".modal.show button.o_payment_plan_delete_confirm",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The card is gone",
            trigger: ".alert-success:contains('card is deleted')",
        },
        {
            trigger: "body:not(:has(.o_payment_plan_card))",
        },
    ],
});

registry.category("web_tour.tours").add("payment_plan_activate_tour", {
    url: "/web/login",
    steps: () => [
        {
            content: "New customer? Activate your account",
            trigger: "a.o_payment_plan_activate_link",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Enter the email the merchant has",
            trigger: "input[name='email']",
            run: "edit newcomer@example.com",
        },
        {
            trigger: "button:contains('Send me the link')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The same answer whoever asks",
            trigger: ".o_payment_plan_activation_sent:contains('If we know this email')",
        },
    ],
});
