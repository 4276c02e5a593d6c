from odoo import fields, models


class PaymentPlanMetadata(models.Model):
    _name = 'payment.plan.metadata'
    _description = "Customer Metadata"
    _order = 'partner_id, key'

    partner_id = fields.Many2one(
        string="Customer",
        comodel_name='res.partner',
        required=True,
        ondelete='cascade',
        index=True,
    )
    company_id = fields.Many2one(
        related='partner_id.company_id',
        store=True,
        index=True,
        help="The customer's company: a shared customer's metadata (no company) is everyone's.",
    )
    key = fields.Char(required=True)
    value = fields.Char()

    _partner_key_uniq = models.Constraint(
        'unique(partner_id, key)',
        "A customer cannot have the same metadata key twice.",
    )
