import hashlib
import logging

from odoo import api, fields, models

from odoo.addons.auth_signup.models.res_partner import SignupError

_logger = logging.getLogger(__name__)

# Activation requests allowed per hour, from one address and for one email.
MAX_REQUESTS_PER_IP = 5
MAX_REQUESTS_PER_EMAIL = 3


class PaymentPlanActivation(models.Model):
    _name = 'payment.plan.activation'
    _description = "Customer Account Activation Request"
    _log_access = True

    ip_address = fields.Char(required=True, index=True)
    email_hash = fields.Char(
        required=True, index=True, help="SHA-256 of the email asked for (the email is not kept)."
    )

    @api.model
    def _request_activation(self, email, ip_address):
        """Create the portal user of the customer known by `email` and mail them the link to
        set their password, when that customer exists and has no user yet.

        The caller answers the same whatever happens, so that nobody learns whether an email
        is known.

        :return: False when the request is refused for coming too often, True otherwise.
        :rtype: bool
        """
        email = (email or '').strip().lower()
        email_hash = hashlib.sha256(email.encode()).hexdigest()
        since = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
        # Every request counts, refused ones included.
        self.create({'ip_address': ip_address, 'email_hash': email_hash})
        if (
            self.search_count([('ip_address', '=', ip_address), ('create_date', '>=', since)])
            > MAX_REQUESTS_PER_IP
            or self.search_count([('email_hash', '=', email_hash), ('create_date', '>=', since)])
            > MAX_REQUESTS_PER_EMAIL
        ):
            _logger.info("Account activation refused: too many requests from %s.", ip_address)
            return False
        if '@' not in email:
            return True
        partner = (
            self.env['res.partner']
            .with_context(active_test=False)
            .search([('email', '=ilike', email), ('user_ids', '=', False), ('active', '=', True)])
        )
        Users = self.env['res.users'].with_context(active_test=False)
        if len(partner) != 1 or Users.search_count([('login', '=ilike', email)]):
            return True
        try:
            user = Users._create_user_from_template(
                {
                    'login': email,
                    'partner_id': partner.id,
                    'company_id': partner.company_id.id or self.env.company.id,
                }
            )
        except SignupError:
            _logger.exception("Account activation of partner %s failed.", partner.id)
            return True
        user.with_context(create_user=True).action_reset_password()
        _logger.info("Portal user %s created for partner %s on request.", user.id, partner.id)
        return True

    @api.autovacuum
    def _gc_requests(self):
        """Forget requests older than a day: they no longer count towards the limits."""
        self.search(
            [('create_date', '<', fields.Datetime.subtract(fields.Datetime.now(), days=1))]
        ).unlink()
