import base64
import io
from datetime import date, datetime

import xlsxwriter

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import reporting


class PaymentPlanExport(models.TransientModel):
    _name = 'payment.plan.export'
    _description = "Export the Operations of Payment Plans"

    plan_ids = fields.Many2many(string="Plans", comodel_name='payment.plan', required=True)
    file_format = fields.Selection(
        string="Format", selection=const.EXPORT_FORMATS, required=True, default='xlsx'
    )
    data = fields.Binary(string="File", readonly=True, attachment=False)
    filename = fields.Char(readonly=True)

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        values = super().default_get(fields)
        if self.env.context.get('active_model') == 'payment.plan' and 'plan_ids' in fields:
            values['plan_ids'] = [Command.set(self.env.context.get('active_ids') or [])]
        return values

    # === ACTION METHODS === #

    def action_export(self):
        """Write the file of the plans' operations and offer it for download."""
        self.ensure_one()
        if not self.plan_ids:
            raise UserError(self.env._("Select the plans to export."))
        header, rows = self.plan_ids._get_operation_rows()
        if self.file_format == 'csv':
            content = reporting.to_csv(header, rows)
        else:
            content = self._to_xlsx(header, rows)
        name = self.plan_ids.name.replace('/', '-') if len(self.plan_ids) == 1 else 'payment-plans'
        self.write(
            {
                'data': base64.b64encode(content),
                'filename': f'{name}-operations.{self.file_format}',
            }
        )
        return {
            'type': 'ir.actions.act_url',
            'url': f'/web/content/{self._name}/{self.id}/data/{self.filename}?download=true',
            'target': 'self',
        }

    # === BUSINESS METHODS === #

    def _to_xlsx(self, header, rows):
        """Return the rows as an XLSX workbook: dates as dates, amounts as numbers."""
        buffer = io.BytesIO()
        workbook = xlsxwriter.Workbook(buffer, {'in_memory': True, 'strings_to_formulas': False})
        sheet = workbook.add_worksheet(self.env._("Operations")[:31])
        bold = workbook.add_format({'bold': True})
        date_format = workbook.add_format({'num_format': 'yyyy-mm-dd'})
        datetime_format = workbook.add_format({'num_format': 'yyyy-mm-dd hh:mm'})
        sheet.write_row(0, 0, header, bold)
        for row_index, row in enumerate(rows, start=1):
            for col_index, value in enumerate(row):
                if isinstance(value, datetime):
                    sheet.write_datetime(row_index, col_index, value, datetime_format)
                elif isinstance(value, date):
                    sheet.write_datetime(row_index, col_index, value, date_format)
                elif value is None or value is False:
                    sheet.write_blank(row_index, col_index, None)
                else:
                    sheet.write(row_index, col_index, value)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
        workbook.close()
        return buffer.getvalue()
