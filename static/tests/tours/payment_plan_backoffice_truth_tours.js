import { registry } from "@web/core/registry";
import { checkNothingOverflows } from "@payment_plan/../tests/tours/tour_steps";

// A cell a person must read shows its whole text: nothing cut off with an ellipsis.
function assertNotTruncated(content, selector) {
    return {
        content,
        trigger: selector,
        run() {
            const cell = document.querySelector(selector);
            if (cell.scrollWidth > cell.clientWidth + 1) {
                throw new Error(
                    `"${cell.textContent.trim()}" is cut off (${cell.scrollWidth}px in ${cell.clientWidth}px)`
                );
            }
            checkNothingOverflows("The list");
        },
    };
}

registry.category("web_tour.tours").add("payment_plan_customer_list_fits_tour", {
    steps: () => [
        {
            content: "The customer's default card is named by brand and last four digits",
            trigger: ".o_data_row td[name='default_token_id']:contains('•••• 0005')",
        },
        assertNotTruncated(
            "The customer's name is read whole",
            ".o_data_row td[name='complete_name']"
        ),
        assertNotTruncated(
            "The default card is read whole",
            ".o_data_row td[name='default_token_id']"
        ),
    ],
});

registry.category("web_tour.tours").add("payment_plan_card_expiry_tour", {
    steps: () => [
        {
            content: "The card's expiry reads 12 / 2028, without a thousands separator",
            trigger: ".o_field_widget[name='expiry_year']",
            run() {
                const month = document.querySelector(".o_field_widget[name='expiry_month']");
                const year = document.querySelector(".o_field_widget[name='expiry_year']");
                const read = (el) => (el.querySelector("input")?.value ?? el.textContent).trim();
                const expiry = `${read(month)} / ${read(year)}`;
                if (expiry !== "12 / 2028") {
                    throw new Error(`the expiry reads "${expiry}"`);
                }
            },
        },
    ],
});
