import { registry } from "@web/core/registry";

// A manager charges the open invoice of the customers selected in a list, from the Actions
// menu, and lands on the batch that tells what happened to each. Relies on the customer with
// a card, a consent and an open invoice created by the Python test (the list shows only them).
registry.category("web_tour.tours").add("payment_plan_mass_charge_tour", {
    steps: () => [
        {
            content: "Select the customer",
            trigger: ".o_data_row:contains('Tara Tour') .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Open the Actions menu of the selection",
            trigger: ".o_selection_container .o_cp_action_menus button:has(.fa-cog)",
            run: "click",
        },
        {
            content: "Charge their cards on file",
            trigger: ".o-dropdown--menu .o-dropdown-item:contains('Charge Cards on File')",
            run: "click",
        },
        {
            content: "The wizard tells who will be charged, and how much",
            trigger: ".modal div[name='charge_count']:contains('1')",
        },
        {
            content: "Nobody is skipped: the selected customer is listed once",
            trigger: ".modal div[name='skip_count']:contains('0')",
        },
        {
            content: "The preview names the customer who will be charged, and the amount",
            trigger: ".modal .o_payment_plan_preview tr:contains('Tara Tour'):contains('35.00') .o_payment_plan_preview_charged:contains('Will be charged')",
        },
        {
            content: "No blank skipped row",
            trigger: ".modal .o_payment_plan_preview tbody:not(:has(.o_payment_plan_preview_skipped))",
        },
        {
            content: "Charge",
            trigger: ".modal button[name='action_charge']",
            run: "click",
        },
        {
            // On a server the charge runs right after the request is committed, before this form
            // loads; the test server never commits, so the line is still queued here.
            content: "The batch is recorded with the customer's line",
            trigger: ".o_field_widget[name='line_ids'] .o_data_row:contains('Tara Tour'):contains('35.00')",
        },
    ],
});

// The overview: each figure opens its list.
registry.category("web_tour.tours").add("payment_plan_overview_tour", {
    steps: () => [
        {
            content: "The overview shows what is due this week",
            trigger: ".o_payment_plan_overview .o_pp_due:contains('Due this week')",
            run: "click",
        },
        {
            content: "The installments due open in a list",
            trigger: ".o_list_view .o_data_row",
        },
    ],
});

// Settings: the parallel collection says why it is not used, and its job size is saved.
registry.category("web_tour.tours").add("payment_plan_parallel_collection_settings_tour", {
    steps: () => [
        ...[
            "payment_plan_jobs_disabled",
            "payment_plan_payer_cancel_subscriptions",
            "payment_plan_payer_cancel_installments",
            "payment_plan_notify_sms",
        ].map((name) => ({
            content: `The checkbox of ${name} is at the left of its title, as Odoo's settings`,
            trigger: `.o_setting_box .o_setting_left_pane .o_field_widget[name='${name}'] input[type='checkbox']`,
        })),
        {
            content: "The Settings page says why the crons collect inline",
            trigger: ".o_field_widget[name='payment_plan_job_status']:contains('has started no job')",
        },
        {
            content: "Set the installments per job",
            trigger: ".o_field_widget[name='payment_plan_job_size'] input",
            run: "edit 20",
        },
        {
            content: "Save (the settings page reloads)",
            trigger: ".o_form_button_save",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Saved",
            trigger: ".o_field_widget[name='payment_plan_job_size'] input:value(20)",
        },
    ],
});
