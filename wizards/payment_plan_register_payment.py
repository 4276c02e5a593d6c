from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError


class PaymentPlanRegisterPayment(models.TransientModel):
    _name = 'payment.plan.register.payment'
    _description = "Register the Payment of an Installment"
    _check_company_auto = True

    installment_id = fields.Many2one(
        comodel_name='payment.plan.installment', required=True, ondelete='cascade'
    )
    company_id = fields.Many2one(related='installment_id.company_id')
    currency_id = fields.Many2one(related='installment_id.currency_id')
    amount = fields.Monetary(compute='_compute_amount', store=True, readonly=False, required=True)
    payment_date = fields.Date(required=True, default=fields.Date.context_today)
    journal_id = fields.Many2one(
        comodel_name='account.journal',
        required=True,
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
        compute='_compute_journal_id',
        store=True,
        readonly=False,
    )
    memo = fields.Char()

    # === COMPUTE METHODS === #

    @api.depends('installment_id')
    def _compute_amount(self):
        for wizard in self:
            installment = wizard.installment_id
            wizard.amount = installment._get_open_amounts()[installment.id] if installment else 0.0

    @api.depends('company_id')
    def _compute_journal_id(self):
        for wizard in self:
            wizard.journal_id = self.env['account.journal'].search(
                [
                    *self.env['account.journal']._check_company_domain(wizard.company_id),
                    ('type', 'in', ('bank', 'cash')),
                ],
                limit=1,
            )

    # === ACTION METHODS === #

    def action_register(self):
        """Record the payment, reconcile it with the installment's invoice, mark it paid."""
        self.ensure_one()
        installment = self.installment_id
        if installment.state not in ('pending', 'denied'):
            raise UserError(
                self.env._(
                    "Installment %(name)s is %(state)s: only a pending or denied installment can be "
                    "paid.",
                    name=installment.name,
                    state=dict(installment._fields['state']._description_selection(self.env))[
                        installment.state
                    ],
                )
            )
        installment._lock_for_charge()
        installment._check_no_payment_under_way()
        open_amount = installment._get_open_amounts()[installment.id]
        if self.currency_id.compare_amounts(self.amount, open_amount) != 0:
            raise UserError(
                self.env._(
                    "The payment must be what is still owed of the installment, %(amount)s. "
                    "Record other amounts from the invoice.",
                    amount=installment.currency_id.format(open_amount),
                )
            )
        # Recording a payment is a billing act: the user must be allowed to write the installment
        # and to invoice; the payment, its reconciliation and the order it closes are then
        # written as superuser.
        installment.check_access('write')
        if not self.env.user.has_group('account.group_account_invoice'):
            raise AccessError(self.env._("Only billing users can register payments."))
        payment = installment.sudo()._register_external_payment(
            self.amount, self.payment_date, self.journal_id, memo=self.memo
        )
        installment.plan_id.message_post(
            body=self.env._(
                "Payment of %(name)s registered: %(payment)s.",
                name=installment.name,
                payment=payment._get_html_link(),
            )
        )
        return {'type': 'ir.actions.act_window_close'}
