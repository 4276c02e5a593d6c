from odoo import api, fields, models, tools
from odoo.tools import SQL

from odoo.addons.payment_plan import const
from odoo.addons.payment_plan.tools import reporting


class PaymentPlanRecoveryReport(models.Model):
    """Recovery: one row per installment whose first charge failed, and how it was recovered.

    An installment fails at its first attempt when a charge of it was refused (or a gateway
    reported it denied): a success ends the attempts, so any failure is a first-attempt failure.
    It is recovered when it ends up paid: by a retry (of the same card, or the gateway's), by a
    card update (the customer paid online or registered a new card after the failure), or by a
    payment recorded by staff.
    """

    _name = 'payment.plan.recovery.report'
    _description = "Recovery Report"
    _auto = False
    _order = 'date_failed desc, id desc'
    _rec_name = 'installment_id'
    _depends = {
        'payment.plan.installment': [
            'plan_id',
            'partner_id',
            'company_id',
            'currency_id',
            'plan_type',
            'collection_mode',
            'state',
            'date_paid',
            'amount',
        ],
        'payment.transaction': ['installment_id', 'state', 'operation', 'token_id', 'create_date'],
        'payment.plan.event': ['installment_id', 'status', 'state', 'create_date'],
        'payment.token': ['create_date'],
    }

    installment_id = fields.Many2one(comodel_name='payment.plan.installment', readonly=True)
    plan_id = fields.Many2one(comodel_name='payment.plan', readonly=True)
    partner_id = fields.Many2one(string="Customer", comodel_name='res.partner', readonly=True)
    company_id = fields.Many2one(comodel_name='res.company', readonly=True)
    currency_id = fields.Many2one(comodel_name='res.currency', readonly=True)
    plan_type = fields.Selection(string="Plan Kind", selection=const.PLAN_TYPES, readonly=True)
    collection_mode = fields.Selection(selection=const.COLLECTION_MODES, readonly=True)
    date_failed = fields.Date(string="First Failure", readonly=True)
    date_paid = fields.Date(string="Recovered On", readonly=True)
    recovery_channel = fields.Selection(
        string="Recovered By", selection=const.RECOVERY_CHANNELS, readonly=True
    )
    amount_failed = fields.Monetary(string="Failed at First Attempt", readonly=True)
    amount_recovered = fields.Monetary(string="Recovered", readonly=True)
    amount_recovered_retry = fields.Monetary(string="Recovered by Retries", readonly=True)
    amount_recovered_card = fields.Monetary(string="Recovered by Card Update", readonly=True)
    amount_recovered_manual = fields.Monetary(string="Recovered by Manual Payment", readonly=True)
    amount_lost = fields.Monetary(string="Not Recovered", readonly=True)
    recovery_rate = fields.Float(
        string="Recovery Rate (%)",
        readonly=True,
        aggregator='avg',
        help="Grouped: the share of the failed installments that were recovered (by number).",
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE OR REPLACE VIEW %(table)s AS (
                    WITH failures AS (
                        SELECT f.installment_id, MIN(f.failed_on) AS failed_on
                          FROM (
                                SELECT tx.installment_id, tx.create_date AS failed_on
                                  FROM payment_transaction tx
                                 WHERE tx.installment_id IS NOT NULL
                                   AND tx.state IN ('error', 'cancel')
                             UNION ALL
                                SELECT ev.installment_id, ev.create_date
                                  FROM payment_plan_event ev
                                 WHERE ev.installment_id IS NOT NULL
                                   AND ev.status = 'denied'
                                   AND ev.state = 'applied'
                               ) f
                      GROUP BY f.installment_id
                    ), channels AS (
                        SELECT inst.id AS installment_id,
                               CASE
                                   WHEN inst.state != 'paid' THEN NULL
                                   WHEN paid_tx.id IS NOT NULL
                                        AND (paid_tx.operation != 'offline'
                                             OR token.create_date > failures.failed_on)
                                       THEN 'card_update'
                                   WHEN paid_tx.id IS NOT NULL THEN 'retry'
                                   WHEN EXISTS (
                                        SELECT 1 FROM payment_plan_event ev
                                         WHERE ev.installment_id = inst.id
                                           AND ev.status = 'confirmed'
                                           AND ev.state = 'applied'
                                   ) THEN 'retry'
                                   ELSE 'manual'
                               END AS channel
                          FROM payment_plan_installment inst
                          JOIN failures ON failures.installment_id = inst.id
                     LEFT JOIN LATERAL (
                                   SELECT t.id, t.operation, t.token_id
                                     FROM payment_transaction t
                                    WHERE t.installment_id = inst.id AND t.state = 'done'
                                 ORDER BY t.id
                                    LIMIT 1
                               ) paid_tx ON TRUE
                     LEFT JOIN payment_token token ON token.id = paid_tx.token_id
                    )
                    SELECT inst.id AS id,
                           inst.id AS installment_id,
                           inst.plan_id,
                           inst.partner_id,
                           inst.company_id,
                           inst.currency_id,
                           inst.plan_type,
                           inst.collection_mode,
                           failures.failed_on::date AS date_failed,
                           inst.date_paid,
                           channels.channel AS recovery_channel,
                           inst.amount AS amount_failed,
                           CASE WHEN channels.channel IS NOT NULL THEN inst.amount ELSE 0 END
                               AS amount_recovered,
                           CASE WHEN channels.channel = 'retry' THEN inst.amount ELSE 0 END
                               AS amount_recovered_retry,
                           CASE WHEN channels.channel = 'card_update' THEN inst.amount ELSE 0 END
                               AS amount_recovered_card,
                           CASE WHEN channels.channel = 'manual' THEN inst.amount ELSE 0 END
                               AS amount_recovered_manual,
                           CASE WHEN channels.channel IS NULL THEN inst.amount ELSE 0 END
                               AS amount_lost,
                           CASE WHEN channels.channel IS NOT NULL THEN 100.0 ELSE 0.0 END
                               AS recovery_rate
                      FROM payment_plan_installment inst
                      JOIN failures ON failures.installment_id = inst.id
                      JOIN channels ON channels.installment_id = inst.id
                )
                """,
                table=SQL.identifier(self._table),
            )
        )

    @api.model
    def _get_summary(self, domain=()):
        """Return the recovery totals of the rows matching `domain`, per currency.

        :return: {currency: {'failed', 'retry', 'card_update', 'manual', 'recovered', 'lost',
                 'rate'}} where `rate` is the share of the failed amount that was recovered.
        :rtype: dict
        """
        groups = self._read_group(
            list(domain),
            ['currency_id'],
            [
                'amount_failed:sum',
                'amount_recovered_retry:sum',
                'amount_recovered_card:sum',
                'amount_recovered_manual:sum',
                'amount_recovered:sum',
                'amount_lost:sum',
            ],
        )
        return {
            currency: {
                'failed': failed,
                'retry': retry,
                'card_update': card,
                'manual': manual,
                'recovered': recovered,
                'lost': lost,
                'rate': reporting.recovery_rate(failed, recovered),
            }
            for currency, failed, retry, card, manual, recovered, lost in groups
        }
