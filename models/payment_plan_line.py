from odoo import api, fields, models
from odoo.exceptions import UserError


class PaymentPlanLine(models.Model):
    """What a plan bills: a product (or a description), a quantity, a unit price and taxes, as a
    sale order line. A subscription invoices its lines each period; an installment plan invoices
    them once and its installments pay shares of that invoice."""

    _name = 'payment.plan.line'
    _description = "Payment Plan Line"
    _inherit = ['analytic.mixin']
    _order = 'plan_id, sequence, id'
    _check_company_auto = True

    plan_id = fields.Many2one(
        comodel_name='payment.plan', required=True, index=True, ondelete='cascade'
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related='plan_id.company_id', store=True, index=True)
    currency_id = fields.Many2one(related='plan_id.currency_id')
    partner_id = fields.Many2one(related='plan_id.partner_id')
    product_id = fields.Many2one(
        comodel_name='product.product',
        check_company=True,
        domain=[('sale_ok', '=', True)],
        ondelete='restrict',
    )
    name = fields.Text(
        string="Description",
        compute='_compute_name',
        store=True,
        readonly=False,
        precompute=True,
        required=True,
    )
    quantity = fields.Float(default=1.0, digits='Product Unit', required=True)
    price_unit = fields.Float(
        string="Unit Price",
        min_display_digits='Product Price',  # Full precision, as order and invoice lines.
        compute='_compute_price_unit',
        store=True,
        readonly=False,
        precompute=True,
    )
    discount = fields.Float(string="Discount (%)", digits='Discount')
    tax_ids = fields.Many2many(
        string="Taxes",
        comodel_name='account.tax',
        compute='_compute_tax_ids',
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        domain=[('type_tax_use', '=', 'sale')],
        help="The product's sales taxes, mapped by the plan's fiscal position.",
    )
    price_subtotal = fields.Monetary(
        string="Subtotal", compute='_compute_amounts', store=True, precompute=True
    )
    price_tax = fields.Monetary(
        string="Tax", compute='_compute_amounts', store=True, precompute=True
    )
    price_total = fields.Monetary(
        string="Total", compute='_compute_amounts', store=True, precompute=True
    )

    # === COMPUTE METHODS === #

    @api.depends('product_id')
    def _compute_name(self):
        for line in self:
            if line.product_id:
                line.name = line.product_id.get_product_multiline_description_sale()
            elif not line.name:
                line.name = line.plan_id.description or line.plan_id.name or ''

    @api.depends('product_id', 'plan_id.fiscal_position_id')
    def _compute_price_unit(self):
        """The product's sales price, in the plan's currency, as a sale order line's: a price
        that includes a tax the fiscal position maps to another (an export's 0%) leaves it out.
        A draft plan's lines follow its product and fiscal position; a running plan's are what
        its customer agreed to, whatever is written on the plan."""
        for line in self.filtered(lambda line: line.product_id and line.plan_id.state == 'draft'):
            plan = line.plan_id
            company = plan.company_id or self.env.company
            line.price_unit = line.product_id._get_tax_included_unit_price(
                company,
                plan.currency_id or company.currency_id,
                plan.date_start or fields.Date.context_today(line),
                'sale',
                product_taxes=line.product_id.taxes_id._filter_taxes_by_company(company),
                fiscal_position=plan.fiscal_position_id,
            )

    @api.depends('product_id', 'plan_id.fiscal_position_id')
    def _compute_tax_ids(self):
        for line in self.filtered(lambda line: line.product_id and line.plan_id.state == 'draft'):
            company = line.plan_id.company_id or self.env.company
            taxes = line.product_id.taxes_id._filter_taxes_by_company(company)
            line.tax_ids = line.plan_id.fiscal_position_id.map_tax(taxes)

    @api.depends('quantity', 'price_unit', 'discount', 'tax_ids', 'currency_id')
    def _compute_amounts(self):
        AccountTax = self.env['account.tax']
        for line in self:
            company = line.plan_id.company_id or self.env.company
            base_line = line._prepare_base_line_for_taxes_computation()
            AccountTax._add_tax_details_in_base_line(base_line, company)
            AccountTax._round_base_lines_tax_details([base_line], company)
            line.price_subtotal = base_line['tax_details']['total_excluded_currency']
            line.price_total = base_line['tax_details']['total_included_currency']
            line.price_tax = line.price_total - line.price_subtotal

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        self.env['payment.plan'].browse(
            {vals['plan_id'] for vals in vals_list if vals.get('plan_id')}
        )._check_lines_editable()
        return super().create(vals_list)

    def write(self, vals):
        if 'plan_id' in vals and any(line.plan_id.id != vals['plan_id'] for line in self):
            raise UserError(self.env._("A line belongs to its plan: add a new line instead."))
        self.plan_id._check_lines_editable()
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_running(self):
        self.plan_id._check_lines_editable()

    # === BUSINESS METHODS === #

    def _prepare_base_line_for_taxes_computation(self, **kwargs):
        """Return the line as a base line of Odoo's taxes computation (`account.tax`)."""
        self.ensure_one()
        plan = self.plan_id
        return self.env['account.tax']._prepare_base_line_for_taxes_computation(
            self,
            partner_id=plan.partner_id,
            currency_id=plan.currency_id or plan.company_id.currency_id,
            **kwargs,
        )

    def _prepare_invoice_line_values(self, period_label=None):
        """Return the values of the invoice line billing this line (of one period, named
        `period_label`, for a subscription)."""
        self.ensure_one()
        name = self.name
        if period_label:
            name = f'{name}\n{period_label}'
        return {
            'display_type': 'product',
            'product_id': self.product_id.id,
            'name': name,
            'quantity': self.quantity,
            'price_unit': self.price_unit,
            'discount': self.discount,
            'tax_ids': [fields.Command.set(self.tax_ids.ids)],
            'analytic_distribution': self.analytic_distribution,
        }
