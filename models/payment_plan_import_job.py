import base64
import logging

from psycopg2 import OperationalError

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.models.payment_plan_collection import lock_rows_nowait
from odoo.addons.payment_plan.tools import customer_import

_logger = logging.getLogger(__name__)

# The advisory lock of the imports' matching (`_search_matches`).
IMPORT_LOCK = 'payment_plan.import.job'


class OutdatedSnapshot(Exception):
    """The transaction cannot see customers that another import committed after it began."""


class PaymentPlanImportJob(models.Model):
    """A bulk upload of customers: checked at once, applied by a cron, mailed when done."""

    _name = 'payment.plan.import.job'
    _description = "Customer Import"
    _inherit = ['mail.thread']
    _order = 'id desc'

    # Given when the import gets its file: opening a new import and leaving it takes no number.
    name = fields.Char(string="Reference", readonly=True, copy=False)
    user_id = fields.Many2one(
        string="Requested By",
        comodel_name='res.users',
        readonly=True,
        default=lambda self: self.env.user,
    )
    company_id = fields.Many2one(
        comodel_name='res.company',
        required=True,
        readonly=True,
        index=True,
        default=lambda self: self.env.company,
    )
    file = fields.Binary(string="CSV File", attachment=True, copy=False)
    filename = fields.Char()
    state = fields.Selection(
        string="Status",
        selection=const.IMPORT_JOB_STATES,
        required=True,
        default='draft',
        readonly=True,
        tracking=True,
    )
    row_count = fields.Integer(string="Rows", readonly=True)
    rows_done = fields.Integer(string="Rows Applied", readonly=True)
    created_count = fields.Integer(string="Created", readonly=True)
    updated_count = fields.Integer(string="Updated", readonly=True)
    skipped_count = fields.Integer(string="Skipped", readonly=True)
    error_count = fields.Integer(compute='_compute_error_count')
    progress = fields.Float(compute='_compute_progress')
    issue_ids = fields.One2many(
        string="Errors and Skipped Rows",
        comodel_name='payment.plan.import.issue',
        inverse_name='job_id',
        readonly=True,
    )
    date_done = fields.Datetime(string="Finished On", readonly=True)
    failure_message = fields.Text(string="Failure", readonly=True, copy=False)

    # === COMPUTE METHODS === #

    @api.depends('name')
    def _compute_display_name(self):
        for job in self:
            job.display_name = job.name or self.env._("New Import")

    @api.depends('issue_ids.kind')
    def _compute_error_count(self):
        for job in self:
            job.error_count = len(job.issue_ids.filtered(lambda i: i.kind == 'error'))

    @api.depends('rows_done', 'row_count')
    def _compute_progress(self):
        for job in self:
            job.progress = 100.0 * job.rows_done / job.row_count if job.row_count else 0.0

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not self.env.su:
                # The import applies what its requester may change: the user who creates it.
                vals['user_id'] = self.env.uid
            if vals.get('file') and not vals.get('name'):
                vals['name'] = self._get_next_name()
        return super().create(vals_list)

    def write(self, vals):
        if {'user_id', 'company_id'} & vals.keys() and not self.env.su:
            # The import applies what its requester may change in its company: both are fixed.
            raise UserError(self.env._("The requester and the company of an import cannot change."))
        if 'file' in vals and self.filtered(
            lambda j: j.state not in ('draft', 'invalid', 'validated')
        ):
            raise UserError(self.env._("The file of an import under way cannot change."))
        if 'file' in vals:
            vals = {**vals, 'state': 'draft', 'row_count': 0}
            self.issue_ids.sudo().unlink()  # The job's own report: users only read it.
        result = super().write(vals)
        if vals.get('file'):
            for job in self.filtered(lambda j: not j.name):
                job.name = self._get_next_name()
        return result

    @api.autovacuum
    def _gc_empty_drafts(self):
        """Delete the imports left without a file a day ago: a form opened, then left."""
        threshold = fields.Datetime.subtract(fields.Datetime.now(), days=1)
        self.sudo().search(
            [
                ('state', '=', 'draft'),
                ('file', '=', False),
                ('name', '=', False),  # Never numbered: it never had a file.
                ('create_date', '<', threshold),
            ]
        ).unlink()

    # === ACTION METHODS === #

    def action_download_template(self):
        return {
            'type': 'ir.actions.act_url',
            'url': '/payment_plan/import/template',
            'target': 'download',
        }

    def action_validate(self):
        """Check the whole file now: count its rows, or list every error with its line and
        column. Nothing is written to the customers."""
        self.ensure_one()
        if self.state not in ('draft', 'invalid', 'validated'):
            raise UserError(self.env._("This import was already confirmed."))
        rows, errors = self._read_file()
        self._record_errors(errors)
        self.write(
            {
                'state': 'invalid' if errors else 'validated',
                'row_count': len(rows) if not errors else 0,
            }
        )
        return True

    def action_confirm(self):
        """Queue the checked file: the cron applies it in batches."""
        self.ensure_one()
        self.action_validate()
        if self.state != 'validated':
            return True
        self.write({'state': 'queued', 'rows_done': 0})
        self.env['payment.plan.queue']._dispatch(
            self,
            '_job_process',
            self.env._("Payment Plans: apply an import"),
            'payment_plan.ir_cron_apply_import_jobs',
            size=1,
        )
        return True

    # === BUSINESS METHODS === #

    @api.model
    def _get_next_name(self):
        return self.env['ir.sequence'].next_by_code('payment.plan.import.job')

    def _read_file(self):
        """Return the clean rows of the file and its errors ([(line, column, code, value)])."""
        self.ensure_one()
        if not self.file:
            raise UserError(self.env._("Upload the CSV file to import."))
        data = base64.b64decode(self.with_context(bin_size=False).file)
        try:
            header, rows = customer_import.read_rows(data)
        except customer_import.ImportFileError as error:
            return [], [(1, '', error.code, '')]
        except Exception as error:  # csv.Error and the like: not a CSV file.
            _logger.info("Import %s: unreadable file (%s).", self.name, error)
            return [], [(1, '', 'unreadable', str(error))]
        countries = {}
        for country in self.env['res.country'].search_read(
            [('code', '!=', False)], ['code', 'name']
        ):
            countries[country['code'].upper()] = country['code']
            countries[country['name'].lower()] = country['code']
        return customer_import.validate(header, rows, countries)

    def _record_errors(self, errors):
        """Replace the job's report by `errors` ([(line, column, code, value)])."""
        # The issues are the job's own report: users read them, only the job writes them.
        self.issue_ids.sudo().unlink()
        self.env['payment.plan.import.issue'].sudo().create(
            [
                {
                    'job_id': self.id,
                    'kind': 'error',
                    'line': line,
                    'column': column,
                    'message': self._get_error_message(code, value),
                }
                for line, column, code, value in errors
            ]
        )

    def _get_error_message(self, code, value):
        messages = {
            'empty': self.env._("The file is empty."),
            'no_header': self.env._(
                "The first line must name the columns, as the template does (name, email...)."
            ),
            'unreadable': self.env._("This is not a CSV file: %(error)s", error=value),
            'missing_column': self.env._("The column %(column)s is missing.", column=value),
            'missing_key_column': self.env._(
                "At least one of the columns %(columns)s is needed to recognise customers.",
                columns=value,
            ),
            'required': self.env._("A name is required."),
            'missing_key': self.env._(
                "Give an email, a VAT number or a reference to recognise the customer."
            ),
            'bad_email': self.env._("%(value)s is not a valid email address.", value=value),
            'bad_vat': self.env._(
                "%(value)s is not a valid VAT number for its country.", value=value
            ),
            'unknown_country': self.env._("Unknown country: %(value)s.", value=value),
            'bad_bool': self.env._("%(value)s is neither yes nor no.", value=value),
            'control_character': self.env._(
                "The cell holds a control character (%(character)s), which a customer's data "
                "cannot hold: the file is damaged or was not saved as text. Remove it.",
                character=value,
            ),
        }
        if code == 'duplicate':
            duplicate, first_line = value.rsplit('|', 1)
            return self.env._(
                "%(value)s appears twice in the file (first on line %(line)s).",
                value=duplicate,
                line=first_line,
            )
        return messages[code]

    def _apply_rows(self, rows):
        """Create or update the customers of `rows` (matched by reference, VAT, then email).

        :return: (created, updated, skipped [(line, reason)])
        """
        # sudo: the cron's rights, whoever runs it; what the requester may change is checked.
        quiet = {
            'tracking_disable': True,
            'mail_create_nolog': True,
            'mail_create_nosubscribe': True,
        }
        Partner_sudo = self.env['res.partner'].sudo().with_context(**quiet)
        # A row may match any customer, archived or of any company: one the import may not
        # change is skipped, never duplicated.
        found = self._search_matches(rows).with_context(**quiet)
        protected = self._get_protected_partners(found)
        by_key = {'reference': {}, 'vat': {}, 'email': {}}
        for partner in found:
            for key, value in (
                ('reference', partner.ref),
                ('vat', self._compact_vat(partner.vat or '')),
                ('email', partner.email_normalized),
            ):
                if value:
                    by_key[key].setdefault(value, Partner_sudo.browse())
                    by_key[key][value] |= partner
        country_ids = {
            country.code: country.id
            for country in self.env['res.country'].search([('code', '!=', False)])
        }
        to_create, skipped = [], []
        updated = 0
        for row in rows:
            values = self._prepare_partner_values(row, country_ids)
            matches = Partner_sudo.browse()
            for key, value in (
                ('reference', row.get('reference')),
                ('vat', self._compact_vat(row.get('vat', ''))),
                ('email', row.get('email')),
            ):
                if value and value in by_key[key]:
                    matches = by_key[key][value]
                    break
            if reasons := [protected[p.id] for p in matches if p.id in protected]:
                skipped.append((row['line'], reasons[0]))
                continue
            if len(matches) > 1:
                skipped.append(
                    (
                        row['line'],
                        self.env._(
                            "Matches several customers: %(names)s.",
                            names=", ".join(matches.mapped('display_name')),
                        ),
                    )
                )
                continue
            if not matches:
                to_create.append(values)
                continue
            changes = {
                field: value
                for field, value in values.items()
                if value
                and matches._fields[field].convert_to_write(matches[field], matches) != value
            }
            if changes:
                matches.write(changes)
                updated += 1
            else:
                skipped.append((row['line'], self.env._("Already up to date.")))
        if to_create:
            # Created as the cron (the superuser) creates them, if the requester still may.
            Partner_sudo.with_user(self.user_id).check_access('create')
        # The imported customers have no parent and no children yet: there is nothing for
        # `res.partner._fields_sync` to synchronise, which Odoo's own loader skips likewise.
        created = Partner_sudo.with_context(_partners_skip_fields_sync=True).create(to_create)
        return len(created), updated, skipped

    def _search_matches(self, rows):
        """Return every customer that `rows` may match, by reference, compact VAT (as the import
        stores it) or normalised email, archived or of any company, once no other import is
        matching and creating customers.

        One import batch at a time in the database, from its matching to its commit (a PostgreSQL
        advisory lock, released when the transaction ends): the imported customers belong to no
        company, so imports of every company match them, and two imports of the same file at once
        would each create every customer. The transaction's snapshot (REPEATABLE READ) may
        predate the batch that another import committed before releasing the lock: the matches
        are read again through a cursor of its own, whose snapshot sees that batch.

        :return: res.partner, as superuser, archived ones included.
        :raise OutdatedSnapshot: The cursor of its own found customers that this transaction
                                 cannot see: the batch is applied again in a new transaction.
        """
        refs = [row['reference'] for row in rows if row.get('reference')]
        vats = [self._compact_vat(row['vat']) for row in rows if row.get('vat')]
        emails = [row['email'] for row in rows if row.get('email')]
        domain = Domain.OR(
            [
                Domain('ref', 'in', refs),
                Domain('vat', 'in', vats),
                Domain('email_normalized', 'in', emails),
            ]
        )
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", IMPORT_LOCK))
        # sudo: every customer may be matched (then skipped if the import may not change it).
        Partner_sudo = self.env['res.partner'].sudo().with_context(active_test=False)
        found = Partner_sudo.search(domain)
        with self.env.registry.cursor() as cr:
            cr.execute(Partner_sudo._search(domain).select())
            if {partner_id for (partner_id,) in cr.fetchall()} - set(found.ids):
                raise OutdatedSnapshot()
        return found

    def _get_protected_partners(self, partners):
        """Return the customers of `partners` that this import may not change, with the reason.

        The one rule of what an import touches: customers its requester may change in the
        import's company, as Odoo's record rules let them (no company, or that company), active,
        and neither a user's contact (internal or portal, active or archived: their email is
        where a password reset goes) nor a company's own. A row that matches another customer is
        skipped with the reason, and creates no duplicate either.

        :param partners: res.partner, archived ones included.
        :return: {partner id: reason}
        :rtype: dict
        """
        self.ensure_one()
        if not self.user_id.sudo()._payment_plan_is_staff(self.company_id):
            raise UserError(
                self.env._(
                    "The user who requested this import no longer manages payment plans in "
                    "%(company)s.",
                    company=self.company_id.name,
                )
            )
        # sudo: the users and companies of every company, archived ones too, whoever asks.
        users_sudo = (
            self.env['res.users']
            .sudo()
            .with_context(active_test=False)
            .search([('partner_id', 'in', partners.ids)])
        )
        companies_sudo = (
            self.env['res.company']
            .sudo()
            .with_context(active_test=False)
            .search([('partner_id', 'in', partners.ids)])
        )
        user_partner_ids = set(users_sudo.partner_id.ids)
        company_partner_ids = set(companies_sudo.partner_id.ids)
        editable_ids = set(
            partners.with_user(self.user_id)
            .with_context(allowed_company_ids=self.company_id.ids)
            ._filtered_access('write')
            .ids
        )
        protected = {}
        for partner in partners:
            if partner.id in user_partner_ids:
                protected[partner.id] = self.env._(
                    "Matches the contact of a user: an import never changes a user's contact."
                )
            elif partner.id in company_partner_ids:
                protected[partner.id] = self.env._(
                    "Matches the contact of a company: an import never changes it."
                )
            elif not partner.active:
                protected[partner.id] = self.env._(
                    "Matches an archived customer: an import changes no archived customer."
                )
            elif partner.id not in editable_ids:
                protected[partner.id] = self.env._("Matches a customer of another company.")
        return protected

    @staticmethod
    def _compact_vat(vat):
        return ''.join(ch for ch in vat if ch.isalnum()).upper()

    def _prepare_partner_values(self, row, country_ids):
        values = {
            'name': row['name'],
            'is_company': bool(row.get('is_company')),
            'ref': row.get('reference') or False,
            'email': row.get('email') or False,
            'phone': row.get('phone') or False,
            'vat': self._compact_vat(row['vat']) if row.get('vat') else False,
            'street': row.get('street') or False,
            'street2': row.get('street2') or False,
            'zip': row.get('zip') or False,
            'city': row.get('city') or False,
            'country_id': country_ids.get(row.get('country_code')) or False,
        }
        # Empty cells set nothing: fewer values for `create` to convert and store.
        return {field: value for field, value in values.items() if value}

    def _process(self, commit=False):
        """Apply the job's rows in batches, from where it stopped; mail the requester at the end.

        Each batch is applied under the job's row lock, from the count of rows done read under
        it: a second worker on the same import (a job next to the cron) stops at once, or goes on
        from where the first stopped; no row is applied twice. A batch that fails is rolled back
        and the job marked failed, the requester told: it never blocks the imports after it.

        :param bool commit: Commit after each batch (the cron and the jobs).
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                rows, errors = self._read_file()
        except OperationalError:
            raise  # A concurrency conflict: run again.
        except Exception as error:  # The job fails; the caller goes on with the next one.
            _logger.exception("Import %s: the file could not be read.", self.name)
            self._set_failed(error)
            return
        if errors:
            # Checked when confirmed, the file fails a check added since (an upgrade).
            self._record_errors(errors)
            self.write({'state': 'invalid', 'row_count': 0})
            self._notify_invalid()
            return
        batch_size = const.IMPORT_BATCH_SIZE
        retries = 0
        while True:
            if lock_rows_nowait(self) is None:
                return  # Another worker applies it.
            self.invalidate_recordset(['state', 'rows_done'])
            if self.state not in ('queued', 'running') or self.rows_done >= len(rows):
                break
            batch = rows[self.rows_done : self.rows_done + batch_size]
            try:
                with self.env.cr.savepoint():
                    self._apply_batch(batch)
            except (OutdatedSnapshot, OperationalError) as error:
                # Another import changed these customers after this transaction began (a
                # concurrency conflict): the batch is applied again, in a new transaction.
                if not commit or retries >= const.IMPORT_MAX_RETRIES:
                    raise
                retries += 1
                _logger.info("Import %s: %r, the batch is applied again.", self.name, error)
                self.env['ir.cron']._commit_progress()
                self.env.invalidate_all()
                continue
            except Exception as error:  # The batch is rolled back, the job fails.
                _logger.exception("Import %s: applying rows failed.", self.name)
                self._set_failed(error)
                if commit:
                    self.env['ir.cron']._commit_progress(len(batch), remaining=0)
                return
            retries = 0
            if commit:
                remaining = len(rows) - self.rows_done
                if self.env['ir.cron']._commit_progress(len(batch), remaining=remaining) <= 0:
                    return
                self.env.invalidate_all()
        if self.state not in ('queued', 'running'):
            return
        self.write({'state': 'done', 'date_done': fields.Datetime.now()})
        self._notify_done()

    def _apply_batch(self, batch):
        """Apply `batch` (the rows after those done) and record its counts and skipped rows."""
        self.state = 'running'
        created, updated, skipped = self._apply_rows(batch)
        self.env['payment.plan.import.issue'].sudo().create(
            [
                {
                    'job_id': self.id,
                    'kind': 'skipped',
                    'line': line,
                    'message': reason,
                }
                for line, reason in skipped
            ]
        )
        self.write(
            {
                'rows_done': self.rows_done + len(batch),
                'created_count': self.created_count + created,
                'updated_count': self.updated_count + updated,
                'skipped_count': self.skipped_count + len(skipped),
            }
        )

    def _set_failed(self, error):
        """Mark the job failed with `error` and tell the requester: the rows of the batches
        applied before stay, the others are not applied."""
        self.ensure_one()
        self.write(
            {
                'state': 'failed',
                'failure_message': str(error),
                'date_done': fields.Datetime.now(),
            }
        )
        self._notify(
            self.env._(
                "Import %(name)s failed after %(done)s of %(count)s rows (%(created)s customers "
                "created, %(updated)s updated): %(error)s. The rows after them were not applied.",
                name=self.name,
                done=self.rows_done,
                count=self.row_count,
                created=self.created_count,
                updated=self.updated_count,
                error=str(error),
            )
        )

    def _notify_invalid(self):
        """Tell the requester that the file was refused when applied (see its errors)."""
        self.ensure_one()
        self._notify(
            self.env._(
                "Import %(name)s was not applied: the file has errors (listed on the import). "
                "Correct them and upload the file again.",
                name=self.name,
            )
        )

    def _notify_done(self):
        """Mail the requester the summary: created, updated, skipped with their reasons."""
        self.ensure_one()
        reasons = {}
        for issue in self.issue_ids.filtered(lambda i: i.kind == 'skipped'):
            reasons[issue.message] = reasons.get(issue.message, 0) + 1
        body = self.env._(
            "Import %(name)s is done: %(created)s customers created, %(updated)s updated, "
            "%(skipped)s skipped.",
            name=self.name,
            created=self.created_count,
            updated=self.updated_count,
            skipped=self.skipped_count,
        )
        if reasons:
            body += " " + "; ".join(
                self.env._("%(count)s: %(reason)s", count=count, reason=reason)
                for reason, count in reasons.items()
            )
        self._notify(body)

    def _notify(self, body):
        """Post `body` on the job for its requester (mailed as their preferences say), as
        OdooBot: a job runs as its requester, whom Odoo would otherwise not notify."""
        self.message_post(
            author_id=self.env.ref('base.partner_root').id,
            body=body,
            partner_ids=self.user_id.partner_id.ids,
            # The requester is told even when they are the one applying it (their job).
            notify_author_mention=True,
            message_type='comment',
            subtype_xmlid='mail.mt_comment',
        )

    @api.model
    def _cron_apply_jobs(self):
        """Apply the queued imports (and resume interrupted ones), oldest first: each in a job of
        its own when queue_job's runner takes them, else here."""
        imports = self.search([('state', 'in', ('queued', 'running'))], order='id')
        self.env['payment.plan.queue']._run(
            self._name,
            '_job_process',
            enqueue=lambda: self.env['payment.plan.queue']._enqueue(
                imports, '_job_process', self.env._("Payment Plans: apply an import"), size=1
            ),
            inline=lambda: [job._process(commit=True) for job in imports],
        )

    def _job_process(self):
        """The job of an import: apply its rows from where it stopped (a job run again after
        its worker died resumes, as the cron does)."""
        # As the cron does (the superuser): the user's right to import was checked when they
        # confirmed it.
        for job in self.sudo().filtered(lambda j: j.state in ('queued', 'running')):
            job._process(commit=True)
