from odoo import fields, models


class PaymentPlanImportIssue(models.Model):
    _name = 'payment.plan.import.issue'
    _description = "Customer Import Error or Skipped Row"
    _order = 'job_id, line, id'

    job_id = fields.Many2one(
        comodel_name='payment.plan.import.job', required=True, ondelete='cascade', index=True
    )
    company_id = fields.Many2one(related='job_id.company_id', store=True, index=True)
    kind = fields.Selection(
        selection=[('error', "Error"), ('skipped', "Skipped")], required=True, default='error'
    )
    line = fields.Integer(required=True)
    column = fields.Char()
    message = fields.Char(required=True)
