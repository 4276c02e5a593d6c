// Steps shared by the add-on's tours: what a person on a phone or a laptop must see whole.

// Nothing is wider than the screen, and no table's last column is cut off: a phone shows the
// page without scrolling sideways.
export function assertNothingOverflows(page) {
    return {
        content: `${page}: nothing is wider than the screen`,
        trigger: "body",
        run() {
            checkNothingOverflows(page);
        },
    };
}

export function checkNothingOverflows(page) {
    const overflow = document.documentElement.scrollWidth - window.innerWidth;
    if (overflow > 1) {
        throw new Error(`${page} overflows the screen by ${overflow}px`);
    }
    for (const cell of document.querySelectorAll("table th:last-child, table td:last-child")) {
        const box = cell.getBoundingClientRect();
        if (box.width && box.right > window.innerWidth + 1) {
            throw new Error(`${page}: the last column is cut off (${box.right}px)`);
        }
    }
}

// Every button a payer taps on a phone is at least 44px tall.
export function assertTapTargets(page, selector) {
    return {
        content: `${page}: every button is a tap target of at least 44px`,
        trigger: selector,
        run() {
            for (const button of document.querySelectorAll(selector)) {
                const box = button.getBoundingClientRect();
                if (box.height && box.height < 44) {
                    throw new Error(`${page}: "${button.textContent.trim()}" is ${box.height}px tall`);
                }
            }
        },
    };
}

// Pay (or save a card) on the Demo provider's form of the page, within `scope` (e.g. the order's
// payment dialog), with the test card `card`; the page then unloads.
export function payWithDemoCard({ submitLabel = "Pay", scope = "", card = "4242" } = {}) {
    const within = scope ? `${scope} ` : "";
    return [
        {
            content: "Choose the Demo provider's card form",
            trigger: `${within}input[name='o_payment_radio']`,
            run: "click",
        },
        {
            content: "Type the card (test data)",
            trigger: `${within}input#customer_input`,
            run: `edit ${card}`,
        },
        {
            content: submitLabel,
            trigger: `${within}button[name='o_payment_submit_button']:enabled`,
            run: "click",
            expectUnloadPage: true,
        },
    ];
}
