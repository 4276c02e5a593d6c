import { registry } from "@web/core/registry";
import { assertNothingOverflows, assertTapTargets, payWithDemoCard } from "@payment_plan/../tests/tours/tour_steps";

registry.category("web_tour.tours").add("payment_plan_portal_phone_tour", {
    steps: () => [
        {
            content: "The plans list shows the plan's description and that its payment failed",
            trigger: ".o_payment_plan_row:contains('Phone plan') .o_payment_plan_failed_badge",
        },
        assertNothingOverflows("/my/plans"),
        {
            content: "Open the plan",
            trigger: ".o_payment_plan_row a:contains('Phone plan')",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The plan's page offers to pay what failed",
            trigger: "#payment_plan_pay_now",
        },
        {
            content: "It says how much could not be collected",
            trigger: ".alert-danger:contains('We could not collect') .o_payment_plan_overdue:contains('25.00')",
        },
        {
            content: "It says when the card is charged next: nothing while the payer must act",
            trigger: "dt:contains('Next Charge')",
        },
        assertNothingOverflows("the plan's page"),
        {
            content: "Go to the cards",
            trigger: "body",
            run: () => {
                window.location.href = "/my/cards";
            },
            expectUnloadPage: true,
        },
        {
            content: "Cards are named by brand and last four digits",
            trigger: ".o_payment_plan_card:contains('•••• 4321')",
        },
        {
            content: "Each card says which plan it pays",
            trigger: ".o_payment_plan_card:contains('•••• 4321') .o_payment_plan_card_plans:contains('Phone plan')",
        },
        assertNothingOverflows("/my/cards"),
        assertTapTargets("/my/cards", ".o_payment_plan_card .btn, a.btn.o_payment_plan_tap"),
        {
            content: "Go to the portal's home",
            trigger: "body",
            run: () => {
                window.location.href = "/my";
            },
            expectUnloadPage: true,
        },
        {
            content: "The home's entries show their number",
            trigger: ".o_portal_index_card:contains('Payment Plans'):contains('1')",
        },
        {
            trigger: ".o_portal_index_card:contains('Cards'):contains('1')",
        },
        assertTapTargets("/my", ".o_payment_plan_home_alert .btn"),
        assertNothingOverflows("/my"),
    ],
});

// The payer pays the failed installment from the plan's page, with a new card made the default.
registry.category("web_tour.tours").add("payment_plan_pay_now_tour", {
    steps: () => [
        {
            content: "Pay what failed",
            trigger: "#payment_plan_pay_now",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Make the new card the default (it is, unless unticked)",
            trigger: "#payment_plan_make_default:checked",
        },
        ...payWithDemoCard({ card: "9876" }),
        {
            content: "The payer is thanked",
            trigger: "#payment_plan_paid",
            timeout: 20000,
        },
    ],
});

// The customer form: cards by brand and last digits, plans and payments, Portal Access.
registry.category("web_tour.tours").add("payment_plan_customer_form_tour", {
    steps: () => [
        {
            content: "Open the Cards & Plans tab",
            trigger: ".o_notebook .nav-link:contains('Cards & Plans')",
            run: "click",
        },
        {
            content: "The card shows its brand and last four digits",
            trigger: ".o_field_widget[name='payment_token_ids'] .o_data_row:contains('•••• 7777')",
        },
        {
            content: "The customer's plans are listed",
            trigger: ".o_payment_plan_partner_plans .o_data_row:contains('PLAN/')",
        },
        {
            content: "And their payments",
            trigger: ".o_payment_plan_partner_transactions .o_data_row",
        },
        {
            content: "Portal Access opens Odoo's wizard",
            trigger: "button.o_payment_plan_portal_access",
            run: "click",
        },
        {
            content: "Its Grant Access button works (its line is saved)",
            trigger: ".modal button[name='action_grant_access']",
            run: "click",
        },
        {
            content: "Access is granted",
            trigger: ".modal button[name='action_revoke_access']",
        },
    ],
});

// A quotation sold as a subscription reads as one.
registry.category("web_tour.tours").add("payment_plan_subscription_quotation_tour", {
    steps: () => [
        {
            content: "Open the Payment Plan tab",
            trigger: ".o_notebook .nav-link:contains('Payment Plan')",
            run: "click",
        },
        {
            content: "Sell it as a subscription",
            trigger: ".o_field_widget[name='payment_plan_kind'] input[data-value='subscription']",
            run: "click",
        },
        {
            content: "Periods, not installments",
            trigger: ".o_form_sheet label:contains('Periods')",
        },
        {
            content: "Set no limit of periods",
            trigger: ".o_field_widget[name='payment_plan_installment_count'] input",
            run: "edit 0 && click body",
        },
        {
            content: "It says there is no end, and what the customer pays each period",
            trigger: ".o_field_widget[name='payment_plan_preview']:contains('no end')",
        },
        {
            content: "Sell it in 3 periods",
            trigger: ".o_field_widget[name='payment_plan_installment_count'] input",
            run: "edit 3 && click body",
        },
        {
            content: "The preview reads 3 × the amount",
            trigger: ".o_field_widget[name='payment_plan_preview']:contains('3 ×')",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_button_save:not(:visible)",
        },
    ],
});

// Staff send a customer a link to pay an amount, from the customer.
registry.category("web_tour.tours").add("payment_plan_send_payment_link_tour", {
    steps: () => [
        {
            content: "Open the Cards & Plans tab",
            trigger: ".o_notebook .nav-link:contains('Cards & Plans')",
            run: "click",
        },
        {
            content: "Send a payment link",
            trigger: "button[name='action_payment_plan_send_payment_link']",
            run: "click",
        },
        {
            content: "The amount",
            trigger: ".modal .o_field_widget[name='amount'] input",
            run: "edit 12.50",
        },
        {
            content: "What it is for",
            trigger: ".modal .o_field_widget[name='reason'] input",
            run: "edit Locker rental",
        },
        {
            content: "Send it",
            trigger: ".modal button[name='action_send']",
            run: "click",
        },
        {
            content: "The link is listed as sent",
            trigger: ".o_form_view .o_field_widget[name='status'] .o_arrow_button_current:contains('Sent')",
        },
    ],
});

// Staff delete a customer's card from the back office, told what it pays first.
registry.category("web_tour.tours").add("payment_plan_delete_card_tour", {
    steps: () => [
        {
            content: "Open the Cards & Plans tab",
            trigger: ".o_notebook .nav-link:contains('Cards & Plans')",
            run: "click",
        },
        {
            content: "Delete the card",
            trigger: ".o_field_widget[name='payment_token_ids'] .o_data_row:contains('•••• 3131') button.o_payment_plan_card_delete",
            run: "click",
        },
        {
            content: "The warning names the plan and says its next charges will fail",
            trigger: ".modal .o_payment_plan_card_delete_warning:contains('only card'):contains('PLAN/')",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name='action_delete']",
            run: "click",
        },
        {
            content: "The card is gone from the customer's cards",
            trigger: ".o_field_widget[name='payment_token_ids']:not(:contains('•••• 3131'))",
        },
    ],
});
