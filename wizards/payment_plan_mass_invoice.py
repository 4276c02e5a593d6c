from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from odoo.addons.payment_plan import const


class PaymentPlanMassInvoice(models.TransientModel):
    _name = 'payment.plan.mass.invoice'
    _description = "Invoice Many Customers at Once"
    _check_company_auto = True

    company_id = fields.Many2one(
        comodel_name='res.company', required=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related='company_id.currency_id')
    partner_ids = fields.Many2many(string="Customers", comodel_name='res.partner', required=True)
    grouping = fields.Selection(
        string="Invoices", selection=const.INVOICE_GROUPINGS, required=True, default='contact'
    )
    invoice_date = fields.Date(required=True, default=fields.Date.context_today)
    post = fields.Boolean(string="Post the Invoices", default=True)
    note = fields.Html(
        help="Printed on each invoice (its terms and notes), e.g. what the fee is for.",
    )
    line_ids = fields.One2many(
        string="Lines", comodel_name='payment.plan.mass.invoice.line', inverse_name='wizard_id'
    )
    invoice_count = fields.Integer(string="Invoices to Create", compute='_compute_invoice_count')

    # === COMPUTE METHODS === #

    @api.depends('partner_ids', 'grouping')
    def _compute_invoice_count(self):
        for wizard in self:
            wizard.invoice_count = len(wizard._get_invoiced_partners())

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        if self.env.context.get('active_model') == 'res.partner' and 'partner_ids' in fields:
            values['partner_ids'] = [Command.set(self.env.context.get('active_ids') or [])]
        return values

    # === ACTION METHODS === #

    def action_create_invoices(self):
        """Create one invoice per customer (or per commercial entity) with the lines given."""
        self.ensure_one()
        if not self.line_ids:
            raise UserError(self.env._("Add at least one line to invoice."))
        partners = self._get_invoiced_partners()
        if not partners:
            raise UserError(self.env._("Select the customers to invoice."))
        invoices = (
            self.env['account.move']
            .with_company(self.company_id)
            .with_context(default_move_type='out_invoice')
            .create([self._prepare_invoice_values(partner) for partner in partners])
        )
        if self.post:
            invoices.action_post()
        action = self.env['ir.actions.act_window']._for_xml_id(
            'account.action_move_out_invoice_type'
        )
        action['domain'] = [('id', 'in', invoices.ids)]
        action['context'] = {'create': False}
        return action

    # === BUSINESS METHODS === #

    def _get_invoiced_partners(self):
        """Return who gets an invoice: each selected contact, or each commercial entity once."""
        self.ensure_one()
        if self.grouping == 'commercial':
            return self.partner_ids.commercial_partner_id
        return self.partner_ids

    def _prepare_invoice_values(self, partner):
        self.ensure_one()
        return {
            'move_type': 'out_invoice',
            'partner_id': partner.id,
            'company_id': self.company_id.id,
            'currency_id': self.currency_id.id,
            'invoice_date': self.invoice_date,
            **({'narration': self.note} if self.note else {}),
            'invoice_line_ids': [
                Command.create(line._prepare_invoice_line_values()) for line in self.line_ids
            ],
        }


class PaymentPlanMassInvoiceLine(models.TransientModel):
    _name = 'payment.plan.mass.invoice.line'
    _description = "Line of a Mass Invoice"

    wizard_id = fields.Many2one(
        comodel_name='payment.plan.mass.invoice', required=True, ondelete='cascade'
    )
    currency_id = fields.Many2one(related='wizard_id.currency_id')
    product_id = fields.Many2one(comodel_name='product.product', domain=[('sale_ok', '=', True)])
    name = fields.Char(string="Description", compute='_compute_name', store=True, readonly=False)
    quantity = fields.Float(default=1.0, digits='Product Unit')
    price_unit = fields.Monetary(
        string="Amount", compute='_compute_price_unit', store=True, readonly=False
    )

    # === COMPUTE METHODS === #

    @api.depends('product_id')
    def _compute_name(self):
        for line in self.filtered('product_id'):
            line.name = line.product_id.display_name

    @api.depends('product_id')
    def _compute_price_unit(self):
        for line in self.filtered('product_id'):
            line.price_unit = line.product_id.lst_price

    # === CONSTRAINT METHODS === #

    @api.constrains('quantity', 'price_unit', 'name', 'product_id')
    def _check_amount(self):
        for line in self:
            if not (line.name or line.product_id):
                raise ValidationError(self.env._("Describe each line, or choose its product."))
            if line.quantity <= 0 or line.currency_id.compare_amounts(line.price_unit, 0) <= 0:
                raise ValidationError(
                    self.env._(
                        "Line %(line)s: the quantity and the amount must be positive.",
                        line=line.name,
                    )
                )

    # === BUSINESS METHODS === #

    def _prepare_invoice_line_values(self):
        self.ensure_one()
        values = {
            'name': self.name or self.product_id.display_name,
            'quantity': self.quantity,
            'price_unit': self.price_unit,
        }
        if self.product_id:
            values['product_id'] = self.product_id.id
        else:
            values['tax_ids'] = [Command.clear()]
        return values
