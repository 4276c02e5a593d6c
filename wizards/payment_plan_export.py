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
        header, rows = self._get_operation_rows()
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

    def _get_operation_rows(self):
        """Return the header and the rows of the operations of the wizard's plans, for an
        accountant.

        One row per charge attempt (transaction) and per recorded payment of each installment,
        and one row for an installment with neither yet; plans and installments in order.

        :return: (header, rows) where rows hold dates, numbers and text.
        :rtype: tuple[list, list[list]]
        """
        header = [
            self.env._("Plan"),
            self.env._("Customer"),
            self.env._("Tax ID"),
            self.env._("Plan Kind"),
            self.env._("Installment"),
            self.env._("Due Date"),
            self.env._("Installment Amount"),
            self.env._("Currency"),
            self.env._("Installment Status"),
            self.env._("Operation"),
            self.env._("Attempt"),
            self.env._("Date"),
            self.env._("Transaction Reference"),
            self.env._("Provider"),
            self.env._("Provider Reference"),
            self.env._("Card"),
            self.env._("Transaction Status"),
            self.env._("Message"),
            self.env._("Payment"),
            self.env._("Payment Date"),
            self.env._("Amount Paid"),
            self.env._("Journal"),
            self.env._("Invoice"),
        ]
        kinds = dict(self.plan_ids._fields['plan_type']._description_selection(self.env))
        inst_states = dict(
            self.env['payment.plan.installment']._fields['state']._description_selection(self.env)
        )
        tx_states = dict(
            self.env['payment.transaction']._fields['state']._description_selection(self.env)
        )
        rows = []
        for plan in self.plan_ids.sorted('name'):
            partner = plan.partner_id
            for inst in plan.installment_ids.sorted('sequence'):
                base = [
                    plan.name,
                    partner.display_name,
                    partner.vat or '',
                    kinds.get(plan.plan_type),
                    inst.name,
                    inst.due_date,
                    inst.amount,
                    inst.currency_id.name,
                    inst_states.get(inst.state),
                ]
                # Transactions are the payment administrators': the staff's right to the plan
                # is the one that counts for its own history.
                transactions = inst.sudo().transaction_ids.sorted('id')
                for attempt, tx in enumerate(transactions, start=1):
                    payment = tx.payment_id
                    rows.append(
                        [
                            *base,
                            self.env._("Card charge"),
                            attempt,
                            tx.create_date,
                            tx.reference,
                            tx.provider_id.name,
                            tx.provider_reference or '',
                            tx.token_id.display_name or '',
                            tx_states.get(tx.state),
                            tx.state_message or '',
                            payment.name or '',
                            payment.date or None,
                            payment.amount if payment else None,
                            payment.journal_id.name or '',
                            ', '.join(tx.invoice_ids.mapped('name')),
                        ]
                    )
                for payment in inst.sudo().payment_ids.sorted('id'):
                    rows.append(
                        [
                            *base,
                            self.env._("Recorded payment"),
                            None,
                            payment.create_date,
                            '',
                            '',
                            '',
                            '',
                            '',
                            payment.memo or '',
                            payment.name,
                            payment.date,
                            payment.amount,
                            payment.journal_id.name,
                            inst.invoice_id.name or '',
                        ]
                    )
                if not transactions and not inst.payment_ids:
                    rows.append(
                        [*base, self.env._("Scheduled"), None, None]
                        + [''] * 6
                        + ['', None, None, '', inst.invoice_id.name or '']
                    )
        return header, rows
