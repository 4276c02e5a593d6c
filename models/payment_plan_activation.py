import hashlib
import logging

from odoo import api, fields, models
from odoo.tools import SQL, email_normalize
from odoo.tools.sql import escape_psql

_logger = logging.getLogger(__name__)

# Activation requests allowed per hour, from one address and for one email.
MAX_REQUESTS_PER_IP = 5
MAX_REQUESTS_PER_EMAIL = 3


class PaymentPlanActivation(models.Model):
    """A request to activate a customer's account, from the login page.

    The request only records the email (and counts against the rate limits): the user and the
    mail are made afterwards by a cron, so that the page answers the same, in the same time,
    whether the email is known or not, and never shows a failure of that work.
    """

    _name = 'payment.plan.activation'
    _description = "Customer Account Activation Request"
    _log_access = True

    ip_address = fields.Char(required=True, index=True)
    email_hash = fields.Char(
        required=True, index=True, help="SHA-256 of the email asked for (the email is not kept)."
    )
    email = fields.Char(
        groups='base.group_system',
        help="The email asked for, until the request is processed (then forgotten).",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _request_activation(self, email, ip_address):
        """Count the request against the rate limits and, unless it is refused, queue the
        activation of the customer known by `email` (see `_cron_process_requests`).

        The same work is done whether the email is known or not; the caller answers the same.

        :return: False when the request is refused for coming too often, True otherwise.
        :rtype: bool
        """
        email = (email or '').strip().lower()
        email_hash = hashlib.sha256(email.encode()).hexdigest()
        since = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
        # Every request counts, refused ones included, and two requests never count at once: in
        # a transaction of its own, committed whatever the request does next.
        with self.env.registry.cursor() as cr:
            # Under REPEATABLE READ, a snapshot taken before waiting for a lock would not see the
            # requests counted meanwhile: LOCK TABLE, the first statement of the transaction,
            # waits before the snapshot is taken. This mode conflicts with itself only, not with
            # the writes of other transactions (the cron).
            cr.execute(
                SQL(
                    "LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE",
                    SQL.identifier(self._table),
                )
            )
            Requests = self.with_env(self.env(cr=cr)).sudo()
            accepted = (
                Requests.search_count(
                    [('ip_address', '=', ip_address), ('create_date', '>=', since)]
                )
                < MAX_REQUESTS_PER_IP
                and Requests.search_count(
                    [('email_hash', '=', email_hash), ('create_date', '>=', since)]
                )
                < MAX_REQUESTS_PER_EMAIL
            )
            Requests.create(
                {
                    'ip_address': ip_address,
                    'email_hash': email_hash,
                    'email': email if accepted and '@' in email else False,
                }
            )
        if not accepted:
            _logger.info("Account activation refused: too many requests from %s.", ip_address)
            return False
        self.env.ref('payment_plan.ir_cron_process_activations')._trigger()
        return True

    def _activate(self, email):
        """Create the portal user of the customer known by exactly `email` (the whole address,
        case-insensitive: no pattern) when that customer has no user yet and either the site lets
        customers sign up or the customer pays the merchant by plan or card on file, and queue the
        mail that lets them set their password.

        :return: The new user, or an empty recordset.
        """
        Users = self.env['res.users'].sudo().with_context(active_test=False)
        normalized = email_normalize(email or '', strict=True)
        if not normalized:
            return Users
        partner = (
            self.env['res.partner']
            .sudo()
            .with_context(active_test=False)
            .search([('email_normalized', '=', normalized), ('active', '=', True)])
        )
        # Where customers may sign up, any customer known by the email; elsewhere (sign-up on
        # invitation only) the merchant's payers only: a customer with a plan or a card on file.
        if Users._get_signup_invitation_scope() != 'b2c' and not (
            len(partner) == 1 and partner._payment_plan_is_payer()
        ):
            return Users
        if (
            len(partner) != 1
            or partner.user_ids
            or Users.search_count([('login', '=ilike', escape_psql(normalized))], limit=1)
        ):
            return Users
        company = partner.company_id or self.env.company
        user = Users._create_user_from_template(
            {
                'login': normalized,
                'partner_id': partner.id,
                'company_id': company.id,
                'company_ids': [company.id],
            }
        )
        partner.signup_prepare(signup_type='signup')
        # As Odoo's own invitation does (res.users._action_reset_password), but through the mail
        # queue: nothing is sent while a request waits, and a failure shows in the mail queue.
        template = self.env.ref('auth_signup.portal_set_password_email')
        template.sudo().send_mail(
            user.id,
            force_send=False,
            email_values={
                'email_cc': False,
                'auto_delete': True,
                'message_type': 'user_notification',
                'recipient_ids': [],
                'partner_ids': [],
                'scheduled_date': False,
                'email_to': user.email,
            },
        )
        _logger.info("Portal user %s created for partner %s on request.", user.id, partner.id)
        return user

    # === CRON METHODS === #

    @api.model
    def _cron_process_requests(self, batch_size=50):
        """Activate the accounts asked for, then forget the emails. A request that fails is
        logged and forgotten (the customer may ask again); it never stops the others."""
        requests = self.sudo().search([('email', '!=', False)], order='id')
        in_cron = bool(self.env.context.get('ir_cron_progress_id'))
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            for request in batch:
                try:
                    with self.env.cr.savepoint():
                        self._activate(request.email)
                except Exception:
                    _logger.exception("Account activation request %s failed.", request.id)
            batch.email = False
            if in_cron:
                self.env['ir.cron']._commit_progress(
                    len(batch), remaining=max(len(requests) - start - batch_size, 0)
                )

    @api.autovacuum
    def _gc_requests(self):
        """Forget requests older than a day: they no longer count towards the limits."""
        self.search(
            [('create_date', '<', fields.Datetime.subtract(fields.Datetime.now(), days=1))]
        ).unlink()
