from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from odoo.addons.payment_plan import const


class ResPartner(models.Model):
    _inherit = 'res.partner'

    payment_plan_ids = fields.One2many(
        string="Payment Plans",
        comodel_name='payment.plan',
        inverse_name='partner_id',
    )
    payment_plan_count = fields.Integer(
        compute='_compute_payment_plan_count',
    )
    default_token_id = fields.Many2one(
        string="Default Card",
        comodel_name='payment.token',
        compute='_compute_default_token_id',
        inverse='_inverse_default_token_id',
        domain="[('partner_id', '=', id)]",
        help="The card charged by default for this customer's plans in the current company.",
    )
    has_saved_card = fields.Boolean(
        string="Has a Saved Card",
        compute='_compute_has_saved_card',
        search='_search_has_saved_card',
    )
    card_consent_date = fields.Datetime(
        copy=False,
        help="When the customer agreed that their card be kept on file and charged.",
    )
    card_consent_channel = fields.Selection(
        selection=const.CONSENT_CHANNELS,
        copy=False,
    )
    card_consent_user_id = fields.Many2one(
        string="Consent Recorded By",
        comodel_name='res.users',
        copy=False,
    )
    payment_metadata_ids = fields.One2many(
        string="Metadata",
        comodel_name='payment.plan.metadata',
        inverse_name='partner_id',
        help="Free key/value pairs about the customer, e.g. an id in another system.",
    )

    # === COMPUTE METHODS === #

    @api.depends('payment_plan_ids')
    def _compute_payment_plan_count(self):
        counts = dict(
            self.env['payment.plan']._read_group(
                [('partner_id', 'in', self.ids)],
                ['partner_id'],
                ['__count'],
            )
        )
        for partner in self:
            partner.payment_plan_count = counts.get(partner, 0)

    @api.depends('payment_token_ids.is_default')
    @api.depends_context('company')
    def _compute_default_token_id(self):
        # The default card is shown to whoever may read the customer; the card itself stays
        # protected by the token's own access rules.
        tokens_sudo = (
            self.env['payment.token']
            .sudo()
            .search(
                [
                    ('partner_id', 'in', self.ids),
                    ('company_id', '=', self.env.company.id),
                    ('is_default', '=', True),
                ]
            )
        )
        default_by_partner = {token.partner_id.id: token.id for token in tokens_sudo}
        for partner in self:
            partner.default_token_id = default_by_partner.get(partner.id, False)

    def _inverse_default_token_id(self):
        for partner in self.filtered('default_token_id'):
            partner.default_token_id.action_set_default()

    @api.depends('payment_token_ids')
    def _compute_has_saved_card(self):
        # Tells whether a card exists without disclosing it: tokens are protected by their rules.
        partners_with_card = {
            partner.id
            for [partner] in self.env['payment.token']
            .sudo()
            ._read_group(
                [('partner_id', 'in', self.ids)],
                ['partner_id'],
            )
        }
        for partner in self:
            partner.has_saved_card = partner.id in partners_with_card

    def _search_has_saved_card(self, operator, value):
        if operator not in ('in', 'not in'):
            return NotImplemented
        wanted = {bool(v) for v in value}
        if operator == 'not in':
            wanted = {True, False} - wanted
        if len(wanted) != 1:
            return Domain.TRUE if wanted else Domain.FALSE
        # Searched in sudo for the same reason as the compute: the filter only tells existence.
        partner_ids = self.env['payment.token'].sudo()._search([]).subselect('partner_id')
        return Domain('id', 'in' if True in wanted else 'not in', partner_ids)

    # === CRUD METHODS === #

    def write(self, vals):
        """Override to cancel the running plans of the customers being archived."""
        archived = self.filtered('active') if vals.get('active') is False else self.browse()
        res = super().write(vals)
        if archived:
            # Archiving a customer is the contact manager's call: their plans must stop even when
            # the user cannot manage plans.
            plans_sudo = (
                self.env['payment.plan']
                .sudo()
                .search(
                    [
                        ('partner_id', 'in', archived.ids),
                        ('state', 'in', const.RUNNING_PLAN_STATES),
                    ]
                )
            )
            plans_sudo._cancel_plans(
                self.env._("The plan was cancelled because its customer was archived.")
            )
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_payment_plans(self):
        # Plans of other companies count too: a customer cannot vanish under anyone's plan.
        plans_sudo = (
            self.env['payment.plan']
            .sudo()
            .search(
                [('partner_id', 'in', self.ids)],
                limit=1,
            )
        )
        if plans_sudo:
            raise UserError(
                self.env._(
                    "%(customer)s has payment plans (e.g. %(plan)s) and cannot be deleted. "
                    "Archive the customer instead: their running plans will be cancelled.",
                    customer=plans_sudo.partner_id.display_name,
                    plan=plans_sudo.name,
                )
            )

    # === ACTION METHODS === #

    def action_view_payment_plans(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('payment_plan.payment_plan_action')
        action['domain'] = [('partner_id', '=', self.id)]
        action['context'] = {'default_partner_id': self.id}
        return action

    # === BUSINESS METHODS === #

    def _get_default_card(self):
        """Return the card charged by default: the customer's own, or their company's."""
        self.ensure_one()
        return self.default_token_id or self.commercial_partner_id.default_token_id
