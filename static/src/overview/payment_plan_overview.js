import { Component, onWillStart, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { formatMonetary } from "@web/views/fields/formatters";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/**
 * The landing page of Payment Plans: what is due, what failed, what runs, each figure a click
 * away from its list.
 */
export class PaymentPlanOverview extends Component {
    static template = "payment_plan.PaymentPlanOverview";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ data: null });
        onWillStart(async () => {
            this.state.data = await this.orm.call("payment.plan.overview", "get_overview_data", []);
        });
    }

    money(amount) {
        return formatMonetary(amount, { currencyId: this.state.data.currency_id });
    }

    open(resModel, domain, name) {
        this.action.doAction({
            type: "ir.actions.act_window",
            name,
            res_model: resModel,
            domain,
            views: [
                [false, "list"],
                [false, "form"],
            ],
        });
    }

    openDue() {
        this.open("payment.plan.installment", this.state.data.due_this_week.domain, _t("Due This Week"));
    }

    openDenied() {
        this.open(
            "payment.plan.installment",
            this.state.data.denied_recently.domain,
            _t("Denied in the Last 30 Days")
        );
    }

    openKind(kind, label) {
        this.open("payment.plan", this.state.data.active_by_kind[kind].domain, label);
    }

    openRecurring() {
        this.open("payment.plan", this.state.data.monthly_recurring.domain, _t("Running Subscriptions"));
    }

    openCards() {
        this.open("payment.token", this.state.data.cards_expiring.domain, _t("Cards Expiring This Month"));
    }
}

registry.category("actions").add("payment_plan.overview", PaymentPlanOverview);
