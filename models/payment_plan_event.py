import logging

from odoo import api, fields, models
from odoo.tools import SQL, float_compare

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import webhook

_logger = logging.getLogger(__name__)


class PaymentPlanEvent(models.Model):
    _name = 'payment.plan.event'
    _description = "Payment Plan Gateway Event"
    _order = 'create_date desc, id desc'
    _rec_name = 'event_reference'
    _check_company_auto = True

    gateway_id = fields.Many2one(
        comodel_name='payment.plan.gateway', required=True, ondelete='restrict', index=True
    )
    company_id = fields.Many2one(related='gateway_id.company_id', store=True, index=True)
    event_reference = fields.Char(
        string="Event ID", required=True, readonly=True, help="The gateway's id of the event."
    )
    reference = fields.Char(
        string="Installment Reference", required=True, readonly=True, index='trigram'
    )
    installment_id = fields.Many2one(
        comodel_name='payment.plan.installment', readonly=True, index=True, ondelete='restrict'
    )
    plan_id = fields.Many2one(related='installment_id.plan_id', store=True, index=True)
    partner_id = fields.Many2one(related='installment_id.partner_id')
    amount = fields.Monetary(readonly=True)
    currency_id = fields.Many2one(comodel_name='res.currency', readonly=True)
    status = fields.Selection(selection=const.EVENT_STATUSES, required=True, readonly=True)
    message = fields.Text(readonly=True)
    occurred_at = fields.Datetime(readonly=True)
    payload = fields.Text(readonly=True, help="The raw body the gateway sent.")
    state = fields.Selection(
        string="Outcome",
        selection=const.EVENT_OUTCOMES,
        required=True,
        default='applied',
        readonly=True,
        index=True,
    )
    outcome = fields.Text(string="Outcome Details", readonly=True)
    payment_id = fields.Many2one(comodel_name='account.payment', readonly=True)

    _event_uniq = models.Constraint(
        'unique(gateway_id, event_reference)',
        "The gateway already sent an event with this id.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _receive(self, gateway_code, body, signature):
        """Check, store and apply an event a gateway posted to its webhook.

        Nothing is written (but the log) unless the event is valid: signed with the gateway's
        secret, well formed, about a known installment of one of the gateway's plans, of the
        right amount and currency. A valid event is stored first (once per gateway and event
        id: a replay is found and changes nothing), then applied.

        :param str gateway_code: The gateway's code, from the URL.
        :param bytes body: The raw request body.
        :param str signature: The X-Payment-Plan-Signature header.
        :return: The HTTP status and the JSON answer.
        :rtype: tuple(int, dict)
        """
        if len(body) > const.WEBHOOK_MAX_BYTES:
            return 413, {'error': f"The body exceeds {const.WEBHOOK_MAX_BYTES} bytes."}
        gateway_sudo = (
            self.env['payment.plan.gateway']
            .sudo()
            .search([('code', '=', gateway_code or ''), ('active', '=', True)], limit=1)
        )
        # The signature is checked before anything else is read, also for an unknown gateway,
        # so that the answer never tells which codes exist.
        if not gateway_sudo or not webhook.is_signature_valid(gateway_sudo.secret, body, signature):
            _logger.warning("Webhook %s: missing or bad signature, refused.", gateway_code)
            return 403, {'error': "Missing or invalid signature."}
        try:
            data = webhook.parse_event(body)
        except webhook.EventError as error:
            _logger.warning("Webhook %s: malformed event refused: %s", gateway_code, error)
            return 400, {'error': str(error)}
        if self._find_received(gateway_sudo, data['event_id']):
            _logger.info("Webhook %s: event %s replayed.", gateway_code, data['event_id'])
            return 200, {'status': 'replay', 'event_id': data['event_id']}
        # Only the gateway that collects a plan settles its installments: for any other, the
        # reference is unknown.
        installment_sudo = (
            self.env['payment.plan.installment']
            .sudo()
            .search(
                [
                    ('name', '=', data['reference']),
                    ('company_id', '=', gateway_sudo.company_id.id),
                    ('collection_mode', '=', 'gateway'),
                    ('plan_id.gateway_id', '=', gateway_sudo.id),
                ],
                limit=1,
            )
        )
        if not installment_sudo:
            _logger.warning("Webhook %s: unknown reference %s.", gateway_code, data['reference'])
            return 404, {'error': f"Unknown installment reference: {data['reference']}"}
        currency = installment_sudo.currency_id
        # What the gateway may have charged: what is still owed of the installment (the one rule
        # of "paid"), or its amount in the schedule the gateway was given (money that came in
        # is recorded, whatever paid the installment meanwhile).
        expected = {installment_sudo._get_open_amounts()[installment_sudo.id]}
        expected.add(installment_sudo.amount)
        if data['currency'] != currency.name or all(
            float_compare(float(data['amount']), amount, precision_rounding=currency.rounding)
            or currency.is_zero(amount)
            for amount in expected
        ):
            _logger.warning(
                "Webhook %s: amount or currency mismatch for %s.", gateway_code, data['reference']
            )
            return 400, {
                'error': f"Amount or currency mismatch: {data['reference']} is "
                f"{installment_sudo.amount} {currency.name}.",
            }
        values = {
            'gateway_id': gateway_sudo.id,
            'event_reference': data['event_id'],
            'reference': data['reference'],
            'installment_id': installment_sudo.id,
            'amount': float(data['amount']),
            'currency_id': currency.id,
            'status': data['status'],
            'message': data['message'],
            'occurred_at': data['occurred_at'],
            'payload': body.decode(),
        }
        # Gateways are system actors: the event and its effects are written as superuser.
        event_sudo = self.sudo().create(values)
        event_sudo._apply()
        return 200, {'status': event_sudo.state, 'event_id': data['event_id']}

    @api.model
    def _find_received(self, gateway, event_reference):
        """Return the event `event_reference` of `gateway` if it was already received.

        The look-up, not the unique key, stops a replay: a failed insert would log an error.
        Receptions of one event are queued on a lock held until the transaction ends, and the
        look-up reads through a cursor of its own, whose snapshot sees an event that another
        request committed meanwhile (the request's own snapshot may predate it). The unique
        key remains the last guard.

        :rtype: bool
        """
        self.env.cr.execute(
            SQL(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                gateway.id,
                f'payment_plan.event:{event_reference}',
            )
        )
        if self.sudo().search_count(
            [('gateway_id', '=', gateway.id), ('event_reference', '=', event_reference)], limit=1
        ):
            return True
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT 1 FROM payment_plan_event WHERE gateway_id = %s AND event_reference = %s",
                    gateway.id,
                    event_reference,
                )
            )
            return bool(cr.rowcount)

    def _apply(self):
        """Apply the stored events to their installments, each installment locked meanwhile so
        that two events about it are applied one after the other."""
        for event in self:
            installment = event.installment_id
            self.env.cr.execute(
                SQL(
                    "SELECT id FROM payment_plan_installment WHERE id = %s FOR UPDATE",
                    installment.id,
                )
            )
            installment.invalidate_recordset()
            outcome, state = event._apply_to_installment(installment)
            event.write({'outcome': outcome, 'state': state})
            installment.plan_id.message_post(
                body=self.env._(
                    "%(gateway)s reported %(status)s for %(name)s: %(outcome)s",
                    gateway=event.gateway_id.name,
                    status=dict(const.EVENT_STATUSES)[event.status],
                    name=installment.name,
                    outcome=outcome,
                )
            )

    def _alert_overpayment(self, installment, open_amount):
        """Ask the plan's responsible to settle a gateway's charge of more than was owed (an
        installment already paid by another path): the excess is the customer's credit until it
        is refunded. Return the event's outcome."""
        self.ensure_one()
        currency = installment.currency_id
        outcome = self.env._(
            "%(gateway)s charged %(amount)s for %(name)s while %(open)s was owed (paid by another "
            "path): %(excess)s is the customer's credit until it is refunded.",
            gateway=self.gateway_id.name,
            amount=currency.format(self.amount),
            name=installment.name,
            open=currency.format(open_amount),
            excess=currency.format(self.amount - open_amount),
        )
        plan = installment.plan_id
        plan.activity_schedule(
            'mail.mail_activity_data_todo',
            user_id=(plan.user_id or self.env.ref('base.user_admin')).id,
            summary=self.env._("Charged twice by the gateway: refund the customer"),
            note=outcome,
        )
        _logger.warning("Gateway event %s: %s", self.event_reference, outcome)
        return outcome

    def _apply_to_installment(self, installment):
        """Apply the event to its installment and return what happened and the outcome state.

        A confirmed charge always pays its installment (money came in); a denial or a
        cancellation of an installment already settled changes nothing.
        """
        self.ensure_one()
        if self.status == 'confirmed':
            # Money came in: it is recorded whatever paid the installment meanwhile.
            open_amount = installment._get_open_amounts()[installment.id]
            payment = installment._register_external_payment(
                self.amount,
                self.occurred_at.date(),
                self.gateway_id.journal_id,
                memo=f'{self.gateway_id.name} {self.event_reference}',
            )
            self.payment_id = payment
            if installment.currency_id.compare_amounts(self.amount, open_amount) > 0:
                return self._alert_overpayment(installment, open_amount), 'applied'
            return self.env._("Paid by %(payment)s.", payment=payment.name), 'applied'
        if installment.state in ('paid', 'cancelled'):
            return (
                self.env._("The installment is already settled: nothing changed."),
                'ignored',
            )
        if self.status == 'cancelled':
            installment._set_cancelled()
            installment.plan_id._check_done()
            return self.env._("Installment cancelled."), 'applied'
        message = self.message or self.env._("The gateway refused the payment.")
        installment._write_internal({'attempt_count': installment.attempt_count + 1})
        if installment.state == 'denied':
            installment.last_error = message
        else:
            installment._register_failure(message, hard=True)
        return self.env._("Denied: %(message)s", message=message), 'applied'
