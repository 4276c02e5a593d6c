import logging

from psycopg2 import OperationalError

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.payment_plan import const

_logger = logging.getLogger(__name__)


class PaymentPlanChargeBatch(models.Model):
    _name = 'payment.plan.charge.batch'
    _description = "Charge Batch"
    _inherit = ['mail.thread']
    _order = 'id desc'
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default="/", index='trigram'
    )
    company_id = fields.Many2one(
        comodel_name='res.company', required=True, readonly=True, default=lambda s: s.env.company
    )
    currency_id = fields.Many2one(related='company_id.currency_id')
    user_id = fields.Many2one(
        string="Requested By",
        comodel_name='res.users',
        readonly=True,
        default=lambda self: self.env.user,
    )
    charge_mode = fields.Selection(
        string="Charge", selection=const.CHARGE_MODES, required=True, readonly=True
    )
    state = fields.Selection(
        string="Status",
        selection=const.CHARGE_BATCH_STATES,
        required=True,
        default='queued',
        readonly=True,
        tracking=True,
    )
    settle_plans = fields.Boolean(
        string="Settle Plans Early",
        readonly=True,
        help="Invoices that running plans collect are charged too: those plans are settled early "
        "(and their gateways told).",
    )
    date_done = fields.Datetime(string="Finished On", readonly=True, copy=False)
    note = fields.Char(readonly=True, help="Shown on the payments' receipts (their memo).")
    line_ids = fields.One2many(
        string="Lines", comodel_name='payment.plan.charge.batch.line', inverse_name='batch_id'
    )
    line_count = fields.Integer(compute='_compute_line_stats')
    queued_count = fields.Integer(string="To Charge", compute='_compute_line_stats')
    done_count = fields.Integer(string="Charged", compute='_compute_line_stats')
    pending_count = fields.Integer(string="Pending", compute='_compute_line_stats')
    failed_count = fields.Integer(string="Failed", compute='_compute_line_stats')
    skipped_count = fields.Integer(string="Skipped", compute='_compute_line_stats')
    amount_done = fields.Monetary(string="Amount Charged", compute='_compute_line_stats')
    amount_failed = fields.Monetary(compute='_compute_line_stats')
    progress = fields.Float(
        compute='_compute_line_stats', help="Share of the lines to charge whose charge is over."
    )

    # === COMPUTE METHODS === #

    @api.depends('line_ids.state', 'line_ids.amount')
    def _compute_line_stats(self):
        stats = {
            (batch.id, state): (count, amount)
            for batch, state, count, amount in self.env[
                'payment.plan.charge.batch.line'
            ]._read_group(
                [('batch_id', 'in', self.ids)],
                ['batch_id', 'state'],
                ['__count', 'amount:sum'],
            )
        }
        for batch in self:

            def get(state, batch_id=batch.id):
                return stats.get((batch_id, state), (0, 0.0))

            batch.queued_count = get('queued')[0] + get('processing')[0]
            batch.done_count, batch.amount_done = get('done')
            batch.pending_count = get('pending')[0]
            batch.failed_count, batch.amount_failed = get('failed')
            batch.skipped_count = get('skipped')[0]
            batch.line_count = sum(count for (b, _s), (count, _a) in stats.items() if b == batch.id)
            to_charge = batch.line_count - batch.skipped_count
            finished = to_charge - batch.queued_count
            batch.progress = 100.0 * finished / to_charge if to_charge else 100.0

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get('name', '/') == '/':
                vals['name'] = self.env['ir.sequence'].next_by_code('payment.plan.charge.batch')
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_charged(self):
        if self.line_ids.transaction_ids:
            raise UserError(self.env._("A batch that charged cards is kept for the record."))

    # === ACTION METHODS === #

    def action_rerun_failed(self):
        """Charge the failed lines again: only those, and only what is still unpaid."""
        self.ensure_one()
        failed = self.line_ids.filtered(lambda line: line.state == 'failed')
        if not failed:
            raise UserError(self.env._("No line of %(batch)s failed.", batch=self.name))
        failed._set_queued()
        self.message_post(
            body=self.env._("1 failed line charged again.")
            if len(failed) == 1
            else self.env._("%(count)s failed lines charged again.", count=len(failed))
        )
        return self._process()

    def action_view_transactions(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Transactions"),
            'res_model': 'payment.transaction',
            'view_mode': 'list,form',
            'domain': [('payment_plan_charge_line_id.batch_id', '=', self.id)],
        }

    def action_view_invoices(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id(
            'account.action_move_out_invoice_type'
        )
        action['domain'] = [('id', 'in', self.line_ids.invoice_ids.ids)]
        action['context'] = {'create': False}
        return action

    # === BUSINESS METHODS === #

    def _process(self):
        """Charge the queued lines: at once for a small batch, in the background otherwise.

        Both ways go through the collection service; the background runs in the collection
        cron, which reports its progress on the batch as it goes.

        :return: The action showing the batch.
        :rtype: dict
        """
        self.ensure_one()
        queued = self.line_ids.filtered(lambda line: line.state == 'queued')
        if not queued:
            pass
        elif len(queued) <= const.MASS_CHARGE_SYNC_LIMIT:
            queued._check_charge_rights()
            # Charged right after this request is committed, in a cursor of their own: the
            # batch's form, shown next, has the outcome.
            queued._collect_after_commit()
        else:
            queued._check_charge_rights()
            self.state = 'queued'
            queued._collect_in_background()
        self._update_progress()
        return self._get_records_action()

    def _get_records_action(self):
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Charge Batch"),
            'res_model': self._name,
            'res_id': self.id,
            'view_mode': 'form',
        }

    @api.model
    def _update_unfinished(self):
        """Report the progress of every unfinished batch (the collection cron's last step)."""
        self.env['payment.plan.charge.batch.line']._flag_interrupted_charges()
        self.search([('state', '!=', 'done')])._update_progress()

    def _update_progress(self):
        """Move the batches to running or done; tell the requester when a batch is done.

        Several workers may charge the lines of one batch at once: a worker that finds the batch
        being updated by another leaves it to that one (or to the cron's last step).
        """
        self.invalidate_recordset()
        for batch in self:
            try:
                with self.env.cr.savepoint():
                    batch._update_state()
            except OperationalError:
                _logger.info("Batch %s is being updated by another worker.", batch.name)

    def _update_state(self):
        self.ensure_one()
        if self.queued_count:
            if self.state == 'queued' and self.line_count > self.queued_count:
                self.state = 'running'
        elif self.state != 'done':
            self.write({'state': 'done', 'date_done': fields.Datetime.now()})
            self._notify_done()

    def _notify_done(self):
        """Mail the requester the batch's totals, as OdooBot: a large batch is charged as its
        requester (their jobs), whom Odoo would otherwise not notify."""
        self.ensure_one()
        self.message_post(
            author_id=self.env.ref('base.partner_root').id,
            body=self.env._(
                "Charge batch %(batch)s is done: %(done)s charged (%(amount)s), %(pending)s "
                "pending, %(failed)s failed, %(skipped)s skipped.",
                batch=self.name,
                done=self.done_count,
                amount=self.currency_id.format(self.amount_done),
                pending=self.pending_count,
                failed=self.failed_count,
                skipped=self.skipped_count,
            ),
            partner_ids=self.user_id.partner_id.ids,
            # The requester is told even when they are the one charging it (their jobs).
            notify_author_mention=True,
            message_type='comment',
            subtype_xmlid='mail.mt_comment',
        )
