from odoo import models

# The customer links whose mail tells staff whether it reached the customer.
LINK_MODELS = ('payment.plan.payment.link', 'payment.plan.card.request')


class MailMail(models.Model):
    _inherit = 'mail.mail'

    def _postprocess_sent_message(
        self, success_pids, success_emails, failure_reason=False, failure_type=None
    ):
        """Override of `mail` to record on a customer link what became of its mail, before Odoo
        deletes the mail (sent, or failed for an invalid address)."""
        for model in LINK_MODELS:
            mails = self.filtered(lambda mail, model=model: mail.model == model)
            if mails:
                links_sudo = self.env[model].sudo().search([('mail_id', 'in', mails.ids)])
                links_sudo._record_mail_outcome(failure_type, failure_reason)
        return super()._postprocess_sent_message(
            success_pids, success_emails, failure_reason=failure_reason, failure_type=failure_type
        )
