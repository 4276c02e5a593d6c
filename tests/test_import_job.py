import base64
import threading
import uuid
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tests import Form, HttpCase, freeze_time, new_test_user, tagged

from odoo.addons.payment_plan.tests.common import ConcurrencyCommon, PaymentPlanCommon

HEADER = 'reference,name,is_company,email,phone,vat,street,street2,zip,city,country'


@tagged('post_install', '-at_install')
class TestImportJob(PaymentPlanCommon):
    def _job(self, text, encoding='utf-8'):
        return (
            self.env['payment.plan.import.job']
            .with_user(self.plan_user)
            .create(
                {
                    'file': base64.b64encode(text.encode(encoding)),
                    'filename': 'customers.csv',
                }
            )
        )

    def _run(self, job):
        """Confirm the job and apply it as the cron does (without its commits)."""
        job.action_confirm()
        self.assertEqual(job.state, 'queued')
        job._process()
        return job

    def _errors(self, job):
        return [(i.line, i.column) for i in job.issue_ids.filtered(lambda i: i.kind == 'error')]

    def test_opening_a_new_import_and_leaving_it_leaves_no_record(self):
        Job = self.env['payment.plan.import.job'].with_user(self.plan_user)
        count = Job.search_count([])
        form = Form(Job)
        self.assertFalse(form.name, "no number is taken by opening the form: it reads New Import")
        # Saved without its file (leaving the form, switching tabs), the form is refused.
        with self.assertRaisesRegex(AssertionError, 'file is a required field'):
            form.save()
        self.assertEqual(Job.search_count([]), count)
        # The template is downloaded by a link, without saving the new import first.
        arch = Job.get_views([(False, 'form')])['views']['form']['arch']
        self.assertIn('<a href="/payment_plan/import/template">', arch)

    def test_an_import_is_numbered_when_it_gets_its_file(self):
        Job = self.env['payment.plan.import.job'].with_user(self.plan_user)
        job = self._job(HEADER)
        self.assertRegex(job.name, r'^IMP/\d{4}/\d{5}$')
        self.assertEqual(job.display_name, job.name)
        later = Job.create({})
        self.assertEqual((later.name, later.display_name), (False, "New Import"))
        later.write({'file': base64.b64encode(HEADER.encode()), 'filename': 'customers.csv'})
        self.assertRegex(later.name, r'^IMP/\d{4}/\d{5}$')
        self.assertNotEqual(later.name, job.name)

    def test_imports_left_without_a_file_are_forgotten_the_next_day(self):
        Job = self.env['payment.plan.import.job'].with_user(self.plan_user)
        empty = Job.create({})
        with_file = self._job(HEADER)
        created = empty.create_date
        with freeze_time(created + timedelta(hours=23)):
            Job._gc_empty_drafts()
        self.assertEqual((empty | with_file).exists(), empty | with_file, "kept a day")
        with freeze_time(created + timedelta(hours=25)):
            Job._gc_empty_drafts()
        self.assertEqual((empty | with_file).exists(), with_file)

    def test_valid_file_creates_exact_records(self):
        text = '\n'.join(
            [
                HEADER,
                'IMP-1,Ana Importada,no,ana.importada@example.com,+34 600 000 001,,Calle 1,,28013,Madrid,ES',
                'IMP-2,Importadora SA,yes,info@importadora.example.com,,BE0477472701,Rue 2,,1000,Brussels,Belgium',
                'IMP-3,Sin Email,no,,,,,,,,',
            ]
        )
        job = self._job(text)
        job.action_validate()
        self.assertEqual((job.state, job.row_count), ('validated', 3))
        self.assertFalse(
            self.env['res.partner'].search([('ref', 'in', ['IMP-1', 'IMP-2', 'IMP-3'])]),
            "checking writes nothing",
        )
        self._run(job)
        self.assertEqual((job.state, job.created_count, job.updated_count), ('done', 3, 0))
        ana = self.env['res.partner'].search([('ref', '=', 'IMP-1')])
        self.assertEqual(ana.email, 'ana.importada@example.com')
        self.assertEqual(ana.country_id.code, 'ES')
        company = self.env['res.partner'].search([('ref', '=', 'IMP-2')])
        self.assertTrue(company.is_company)
        self.assertEqual(company.vat, 'BE0477472701')
        self.assertEqual(company.country_id.code, 'BE', "countries by name too")
        summary = job.message_ids.filtered(lambda m: self.plan_user.partner_id in m.partner_ids)
        self.assertIn("3 customers created", summary.body)

    def test_the_requester_is_notified_when_their_import_is_applied_by_their_own_job(self):
        """queue_job runs the import as its requester: the summary still reaches them (Odoo
        notifies no author, so OdooBot posts it)."""
        job = self._job('\n'.join([HEADER, 'IMP-9,Nina Notified,no,nina@example.com,,,,,,,']))
        job.action_validate()
        job.action_confirm()
        job.with_user(self.plan_user)._process()
        summary = job.message_ids.filtered(lambda m: "customers created" in (m.body or ''))
        self.assertEqual(summary.author_id, self.env.ref('base.partner_root'))
        self.assertIn(self.plan_user.partner_id, summary.notified_partner_ids)

    def test_each_error_class_is_reported_with_line_and_column_and_nothing_written(self):
        text = '\n'.join(
            [
                HEADER,
                'ERR-1,,no,nameless@example.com,,,,,,,',  # line 2: missing name
                'ERR-2,Bad Email,no,not-an-email,,,,,,,',  # line 3
                'ERR-3,Bad VAT,yes,badvat@example.com,,BE0477472700,,,,,BE',  # line 4
                'ERR-4,Twice,no,twice@example.com,,,,,,,',  # line 5
                'ERR-5,Twice Again,no,TWICE@example.com,,,,,,,',  # line 6: duplicate email
                'ERR-6,Nowhere,no,nowhere@example.com,,,,,,,Atlantis',  # line 7
                'ERR-7,Keyless,no,,,,,,,,'.replace('ERR-7', ''),  # line 8: no key at all
            ]
        )
        job = self._job(text)
        job.action_validate()
        self.assertEqual(job.state, 'invalid')
        self.assertEqual(
            self._errors(job),
            [(2, 'name'), (3, 'email'), (4, 'vat'), (6, 'email'), (7, 'country'), (8, 'email')],
        )
        messages = job.issue_ids.mapped('message')
        self.assertIn("not-an-email is not a valid email address.", messages)
        self.assertIn("Unknown country: Atlantis.", messages)
        self.assertTrue(any("first on line 5" in m for m in messages))
        job.action_confirm()
        self.assertEqual(job.state, 'invalid', "a file with errors is never queued")
        self.assertFalse(self.env['res.partner'].search([('ref', 'like', 'ERR-')]))

    def test_missing_column_and_unreadable_files(self):
        job = self._job('reference,email\nX-1,x@example.com')
        job.action_validate()
        self.assertEqual(self._errors(job), [(1, '')])
        self.assertIn("first line must name the columns", job.issue_ids.message)
        job.write({'file': base64.b64encode(b'\n  \n')})
        job.action_validate()
        self.assertEqual(job.issue_ids.message, "The file is empty.")
        with self.assertRaises(UserError):
            self.env['payment.plan.import.job'].create({}).action_validate()

    def test_reimport_updates_without_duplicates(self):
        text = '\n'.join(
            [
                HEADER,
                'RE-1,Rita Reimport,no,rita@example.com,,,,,,,',
                'RE-2,Raul Reimport,no,raul@example.com,,,,,,,',
            ]
        )
        self._run(self._job(text))
        again = self._run(self._job(text))
        self.assertEqual((again.created_count, again.updated_count, again.skipped_count), (0, 0, 2))
        self.assertEqual(set(again.issue_ids.mapped('message')), {"Already up to date."})
        self.assertEqual(self.env['res.partner'].search_count([('ref', 'in', ['RE-1', 'RE-2'])]), 2)
        # An existing customer is found by email and updated.
        changed = self._run(
            self._job(HEADER + '\n,Rita R. Reimport,no,RITA@example.com,+1 555 0100,,,,,,')
        )
        self.assertEqual((changed.created_count, changed.updated_count), (0, 1))
        rita = self.env['res.partner'].search([('ref', '=', 'RE-1')])
        self.assertEqual((rita.name, rita.phone), ("Rita R. Reimport", '+1 555 0100'))

    def test_existing_customer_found_by_vat(self):
        existing = self.env['res.partner'].create({'name': "Vat Co", 'vat': 'BE0477472701'})
        job = self._run(self._job(HEADER + '\n,Vat Company,yes,,,BE 0477.472.701,,,,,BE'))
        self.assertEqual((job.created_count, job.updated_count), (0, 1))
        self.assertEqual(existing.name, "Vat Company")

    def test_semicolons_and_latin1_with_accents(self):
        text = (
            HEADER.replace(',', ';')
            + '\nLAT-1;José Müller;no;jose@example.com;;;Größe Straße 1;;;Köln;DE'
        )
        job = self._run(self._job(text, encoding='latin-1'))
        self.assertEqual(job.created_count, 1)
        jose = self.env['res.partner'].search([('ref', '=', 'LAT-1')])
        self.assertEqual((jose.name, jose.city), ("José Müller", "Köln"))
        bom = self._run(self._job('\ufeff' + HEADER + '\nBOM-1,Bom Bom,no,bom@example.com,,,,,,,'))
        self.assertEqual(bom.created_count, 1)
        self.assertTrue(self.env['res.partner'].search([('ref', '=', 'BOM-1')]))

    # === What an import may change === #

    def _skip_reasons(self, job):
        return job.issue_ids.filtered(lambda i: i.kind == 'skipped').mapped('message')

    def test_an_import_never_takes_over_a_users_account(self):
        """The attack: match a user's contact by email to give it a reference, then match the
        reference with the attacker's email, and reset the user's password. Users' contacts
        (internal or portal, active or archived) are never changed, nor duplicated."""
        other_company = self._create_company("Victim Company")
        users = {
            'internal': new_test_user(
                self.env,
                login='victim_admin',
                groups='base.group_system',
                email='victim.admin@example.com',
                company_id=other_company.id,
                company_ids=[Command.set(other_company.ids)],
            ),
            'portal': new_test_user(
                self.env,
                login='victim_portal',
                groups='base.group_portal',
                email='victim.portal@example.com',
            ),
            'archived': new_test_user(
                self.env, login='victim_gone', email='victim.gone@example.com'
            ),
        }
        users['archived'].active = False
        for kind, user in users.items():
            with self.subTest(user=kind):
                email = user.email
                claim = self._run(self._job(f'{HEADER}\nTAKE-{kind},Someone,no,{email},,,,,,,'))
                self.assertEqual((claim.created_count, claim.updated_count), (0, 0))
                self.assertEqual(claim.skipped_count, 1)
                self.assertIn("contact of a user", self._skip_reasons(claim)[0])
                self.assertFalse(user.partner_id.ref, "the user's contact got no reference")
                self.assertEqual(
                    self.env['res.partner']
                    .with_context(active_test=False)
                    .search_count([('email_normalized', '=', email)]),
                    1,
                    "no duplicate of the user's contact either",
                )
                # A reference the staff gave the user's contact: no email change through it.
                user.partner_id.ref = f'STAFF-{kind}'
                takeover = self._run(
                    self._job(f'{HEADER}\nSTAFF-{kind},Attacker,no,attacker@example.com,,,,,,,')
                )
                self.assertEqual((takeover.created_count, takeover.updated_count), (0, 0))
                self.assertIn("contact of a user", self._skip_reasons(takeover)[0])
                self.assertEqual((user.email, user.partner_id.name), (email, user.name))
                summary = takeover.message_ids.filtered(
                    lambda m: self.plan_user.partner_id in m.partner_ids
                )
                self.assertIn("contact of a user", summary.body)

    def test_an_import_changes_no_archived_customer_and_none_of_another_company(self):
        other_company = self._create_company("Other Company")
        Partner = self.env['res.partner']
        archived = Partner.create(
            {'name': "Ada Archived", 'email': 'ada.archived@example.com', 'active': False}
        )
        foreign = Partner.create(
            {'name': "Fred Foreign", 'ref': 'FOR-1', 'company_id': other_company.id}
        )
        own = Partner.create({'name': "Olga Own", 'ref': 'OWN-1', 'company_id': self.company.id})
        job = self._run(
            self._job(
                '\n'.join(
                    [
                        HEADER,
                        ',Ada Back,no,ada.archived@example.com,+1 555 0101,,,,,,',
                        'FOR-1,Fred Changed,no,fred@example.com,,,,,,,',
                        'OWN-1,Olga Changed,no,olga@example.com,,,,,,,',
                    ]
                )
            )
        )
        self.assertEqual((job.created_count, job.updated_count, job.skipped_count), (0, 1, 2))
        self.assertEqual(
            sorted((i.line, i.message) for i in job.issue_ids),
            [
                (2, "Matches an archived customer: an import changes no archived customer."),
                (3, "Matches a customer of another company."),
            ],
        )
        self.assertEqual(
            (archived.name, archived.phone, archived.active), ("Ada Archived", False, False)
        )
        self.assertEqual((foreign.name, foreign.email), ("Fred Foreign", False))
        self.assertEqual((own.name, own.email), ("Olga Changed", 'olga@example.com'))
        self.assertFalse(
            Partner.search(
                ['|', ('email', '=', 'ada.archived@example.com'), ('ref', '=', 'FOR-1')]
            ).filtered(lambda p: p not in archived | foreign),
            "no duplicate of a customer the import may not change",
        )

    # === Companies === #

    def test_a_user_reads_and_changes_no_import_of_another_company(self):
        other_company = self._create_company("Other Company")
        text = '\n'.join(
            [
                HEADER,
                'B-1,Bea Secret,no,bea.secret@example.com,+1 555 0199,,,,,,',
                'B-2,Bob Secret,no,bob.secret(at)example.com,,,,,,,',
            ]
        )
        other_job = (
            self.env['payment.plan.import.job']
            .with_company(other_company)
            .create({'file': base64.b64encode(text.encode()), 'filename': 'b.csv'})
        )
        other_job.action_validate()
        own_job = self._job(text)
        self.assertEqual(own_job.company_id, self.company)
        self.assertEqual(other_job.company_id, other_company)
        Jobs = self.env['payment.plan.import.job'].with_user(self.plan_user)
        self.assertEqual(Jobs.search([]), own_job, "the other company's imports are not listed")
        as_user = other_job.with_user(self.plan_user)
        with self.assertRaises(AccessError):
            as_user.read(['file', 'filename'])
        with self.assertRaises(AccessError):
            as_user.write({'file': base64.b64encode(b'name,email\nX,x@example.com')})
        with self.assertRaises(AccessError):
            other_job.issue_ids.with_user(self.plan_user).read(['message'])
        Attachment = self.env['ir.attachment'].with_user(self.plan_user)
        file_domain = [
            ('res_model', '=', other_job._name),
            ('res_id', '=', other_job.id),
            ('res_field', '=', 'file'),
        ]
        self.assertTrue(self.env['ir.attachment'].search(file_domain), "the file is stored")
        self.assertFalse(Attachment.search(file_domain), "nor is its file found")
        self.assertEqual(
            (other_job.state, other_job.issue_ids.line), ('invalid', 3), "the file was not replaced"
        )
        # Nor moves an import to another company, or to another requester's rights.
        for values in ({'company_id': other_company.id}, {'user_id': self.plan_manager.id}):
            with self.assertRaises(UserError):
                own_job.write(values)
        self.assertEqual((own_job.company_id, own_job.user_id), (self.company, self.plan_user))
        forged = Jobs.create({'user_id': self.plan_manager.id, 'company_id': self.company.id})
        self.assertEqual(forged.user_id, self.plan_user, "the requester is who creates it")

    def test_an_import_whose_requester_left_its_company_fails(self):
        other_company = self._create_company("New Employer")
        customer = self.env['res.partner'].create({'name': "Lea Left", 'ref': 'LEFT-1'})
        job = self._job(HEADER + '\nLEFT-1,Lea Changed,no,lea@example.com,,,,,,,')
        job.action_confirm()
        self.plan_user.sudo().write(
            {'company_ids': [Command.set(other_company.ids)], 'company_id': other_company.id}
        )
        job.sudo()._process()
        self.assertEqual(job.sudo().state, 'failed')
        self.assertIn("no longer manages payment plans in", job.sudo().failure_message)
        self.assertEqual((customer.name, customer.email), ("Lea Left", False))

    # === Files that cannot be stored, and failures === #

    def test_control_characters_are_refused_at_check_with_line_and_column(self):
        job = self._job(
            '\n'.join(
                [
                    HEADER,
                    'NUL-1,Nul\x00Byte,no,nul@example.com,,,,,,,',
                    'NUL-2,Bell,no,bell@example.com,,,Street\x07 1,,,,',
                ]
            )
        )
        job.action_validate()
        self.assertEqual(job.state, 'invalid')
        self.assertEqual(self._errors(job), [(2, 'name'), (3, 'street')])
        self.assertIn("control character (U+0000)", job.issue_ids[0].message)
        job.action_confirm()
        self.assertEqual(job.state, 'invalid', "never queued")

    def test_a_queued_import_that_fails_is_marked_failed_and_the_next_one_is_applied(self):
        if not type(self)._registry_patched:
            self.registry_enter_test_mode()  # the cron commits: in a cursor of its own
        # A file queued before its rows were checked for control characters: it used to crash
        # the cron at each run, and every import queued after it waited for ever.
        failing = self._job(f'{HEADER}\nFAIL-1,Fanny\x00,no,fanny@example.com,,,,,,,')
        failing.sudo().write({'state': 'queued', 'row_count': 1})
        crashing = self._job(HEADER + '\nCRASH-1,Carl Crash,no,carl@example.com,,,,,,,')
        crashing.action_confirm()
        following = self._job(HEADER + '\nNEXT-1,Nina Next,no,nina@example.com,,,,,,,')
        following.action_confirm()
        Job = self.registry['payment.plan.import.job']
        apply_rows = Job._apply_rows

        def crash_on_carl(job, rows):
            if job == crashing:
                raise ValueError("A string literal cannot contain NUL (0x00) characters.")
            return apply_rows(job, rows)

        self.env.flush_all()
        with patch.object(Job, '_apply_rows', crash_on_carl), self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})['payment.plan.import.job']._cron_apply_jobs()
        self.env.invalidate_all()
        self.assertEqual(
            (failing.state, crashing.state, following.state), ('invalid', 'failed', 'done')
        )
        self.assertIn("control character", failing.issue_ids.message)
        self.assertIn("NUL (0x00)", crashing.failure_message)
        self.assertFalse(self.env['res.partner'].search([('ref', 'in', ['FAIL-1', 'CRASH-1'])]))
        self.assertTrue(self.env['res.partner'].search([('ref', '=', 'NEXT-1')]))
        for job, words in ((failing, "has errors"), (crashing, "failed")):
            told = job.message_ids.filtered(lambda m: self.plan_user.partner_id in m.partner_ids)
            self.assertIn(words, told.body, "the requester is told")


@tagged('post_install', '-at_install')
class TestImportJobConcurrency(ConcurrencyCommon):
    """Imports applied by two workers at once, with real cursors that commit."""

    def test_the_same_file_imported_twice_at_once_creates_each_customer_once(self):
        tag = uuid.uuid4().hex[:8]
        count = 300
        text = '\n'.join(
            [HEADER]
            + [
                f'CC{tag}-{n},Concurrent {n},no,cc.{tag}.{n}@example.com,,,,,,,'
                for n in range(count)
            ]
        )
        with self.registry.cursor() as cr:
            jobs = api.Environment(cr, SUPERUSER_ID, {})['payment.plan.import.job'].create(
                [{'file': base64.b64encode(text.encode()), 'filename': 'twice.csv'}] * 2
            )
            for job in jobs:
                job.action_validate()
            jobs.write({'state': 'queued'})
            job_ids = jobs.ids
        Job = self.registry['payment.plan.import.job']
        apply_rows = Job._apply_rows
        barrier = threading.Barrier(2)
        met = set()

        def apply_together(job, rows):
            # Both workers reach their first batch at the same time.
            if job.id not in met:
                met.add(job.id)
                barrier.wait(timeout=30)
            return apply_rows(job, rows)

        def apply(job_id):
            return lambda env: env['payment.plan.import.job'].browse(job_id)._job_process()

        try:
            with patch.object(Job, '_apply_rows', apply_together):
                self._run_in_threads([apply(job_id) for job_id in job_ids])
            with self._fresh_env() as env:
                jobs = env['payment.plan.import.job'].browse(job_ids)
                self.assertEqual(set(jobs.mapped('state')), {'done'})
                self.assertEqual(
                    env['res.partner'].search_count([('ref', '=like', f'CC{tag}-%')]),
                    count,
                    "one customer per email",
                )
                self.assertEqual(sorted(jobs.mapped('created_count')), [0, count])
                self.assertEqual(sorted(jobs.mapped('skipped_count')), [0, count])
        finally:
            with self._fresh_env() as env:
                env['payment.plan.import.job'].browse(job_ids).unlink()
                env['res.partner'].search([('ref', '=like', f'CC{tag}-%')]).unlink()


@tagged('post_install', '-at_install')
class TestImportTemplate(HttpCase):
    def test_template_download(self):
        self.authenticate('admin', 'admin')
        response = self.url_open('/payment_plan/import/template')
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.content.startswith(b'\xef\xbb\xbfreference,name,'))
