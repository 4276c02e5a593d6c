"""Constants shared by the models, the services and the pure helpers of `payment_plan`."""

PLAN_TYPES = [
    ('subscription', "Subscription"),
    ('installments', "Installments"),
]

INTERVAL_UNITS = [
    ('day', "Days"),
    ('week', "Weeks"),
    ('month', "Months"),
    ('year', "Years"),
]

# What period each charge of a subscription bills: the one it starts (pre-paid) or the one that
# just ended (post-paid, as OCA's contract invoices "at the end of the period").
INVOICE_PERIODS = [
    ('advance', "In advance"),
    ('arrears', "At period end"),
]

COLLECTION_MODES = [
    ('token', "Card on file"),
    ('gateway', "Gateway schedule"),
    ('manual', "Manual"),
]

PLAN_STATES = [
    ('draft', "Draft"),
    ('active', "Running"),
    ('paused', "Paused"),
    ('done', "Done"),
    ('cancelled', "Cancelled"),
]

# Plans in these states may still charge their customer.
RUNNING_PLAN_STATES = ('draft', 'active', 'paused')

INSTALLMENT_STATES = [
    ('pending', "Pending"),
    ('processing', "Processing"),
    ('paid', "Paid"),
    ('denied', "Denied"),
    ('cancelled', "Cancelled"),
]

# How a refused charge is handled: a soft decline is retried, a hard one is not, and one that
# needs the customer's authentication (PSD2/SCA) waits for them to pay on-session.
DECLINE_KINDS = [
    ('soft', "Soft decline"),
    ('hard', "Hard decline"),
    ('authentication', "Authentication required"),
    ('provider', "Provider error (not the card)"),
]
# The signed link of mails to pay or update a card without a login is valid this long.
PAY_LINK_VALIDITY_DAYS = 30
# An unknown outcome is only concluded "never charged" by a look-up this long after the charge.
LOOKUP_SETTLE_MINUTES = 10

# Installments in these states are still owed by the customer.
OPEN_INSTALLMENT_STATES = ('pending', 'processing', 'denied')

CONSENT_CHANNELS = [
    ('link', "Registration link"),
    ('portal', "Customer portal"),
    ('checkout', "Online checkout"),
    ('moto', "Phone (MOTO)"),
    ('paper', "Signed form"),
    ('other', "Other"),
]

# The longest period of a schedule, per interval unit: 10 years (dates far beyond would overflow
# the calendar while a plan still runs).
MAX_INTERVAL = {'day': 3650, 'week': 520, 'month': 120, 'year': 10}

# The most installments (or subscription periods) a plan may count.
MAX_INSTALLMENT_COUNT = 360

# Number of future periods kept scheduled for an open-ended subscription.
SUBSCRIPTION_HORIZON = 12
# The periods of a subscription shown to the payer before they pay (the consent, the order page).
SCHEDULE_PREVIEW_LIMIT = 12

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RETRY_INTERVAL_DAYS = 3

DEFAULT_BATCH_SIZE = 100
# Collection in parallel on OCA's queue_job: the channel of the add-on's jobs, the records per
# job, and how long jobs may wait for the job runner before the crons work inline again.
JOB_CHANNEL = 'root.payment_plan'
DEFAULT_JOB_SIZE = 50
DEFAULT_JOB_MAX_WAIT_MINUTES = 30
# Beyond these, a job would outlast any sensible request time limit, and a wait would outlast
# the days the runner counts as seen.
MAX_JOB_SIZE = 500
MAX_JOB_MAX_WAIT_MINUTES = 7 * 24 * 60
# How long Odoo's payment providers wait for a gateway's answer (`_send_api_request`).
PROVIDER_TIMEOUT_SECONDS = 10
# The job runner counts as running when it started a job of the add-on within this delay.
JOB_RUNNER_SEEN_DAYS = 7
# A claimed attempt whose transaction is still a draft after this delay was interrupted.
INTERRUPTED_AFTER_MINUTES = 60
# A payment the customer started online (a draft transaction) blocks other charges of the same
# installment or invoice for this long: they may still be on the provider's page (a second tab,
# a bank's 3-D Secure page left open), and a second payment would charge them twice.
ONLINE_PAYMENT_HOLD_MINUTES = 24 * 60
DEFAULT_EXPIRY_WARNING_DAYS = 30
DEFAULT_RECENTLY_DENIED_DAYS = 30

# Gateway events (webhooks).
EVENT_STATUSES = [
    ('confirmed', "Confirmed"),
    ('denied', "Denied"),
    ('cancelled', "Cancelled"),
]
EVENT_OUTCOMES = [
    ('applied', "Applied"),
    ('ignored', "Ignored"),
]
# Bodies over this size are refused (413) unread.
WEBHOOK_MAX_BYTES = 64 * 1024

# Payment status of sale orders paid by plan.
ORDER_PAYMENT_STATUSES = [
    ('none', "No Plan"),
    ('pending', "Payment Pending"),
    ('error', "Payment Error"),
    ('paid', "Paid"),
]
ORDER_PLAN_KINDS = [
    ('none', "None"),
    ('installments', "Pay in Installments"),
    ('subscription', "Subscription"),
]

# Mass charges.
CHARGE_MODES = [
    ('open', "Open invoices"),
    ('fixed', "Fixed amount"),
    ('percent', "Share of the balance"),
]
CHARGE_BATCH_STATES = [
    ('queued', "Queued"),
    ('running', "Running"),
    ('done', "Done"),
]
CHARGE_LINE_STATES = [
    ('queued', "Queued"),
    ('processing', "Processing"),
    ('pending', "Pending"),
    ('done', "Done"),
    ('failed', "Failed"),
    ('skipped', "Skipped"),
]
# Lines whose charge is over for the run (pending ones end with the provider's answer).
FINISHED_CHARGE_LINE_STATES = ('pending', 'done', 'failed', 'skipped')
# Mass charges of up to this many customers run at once; larger ones in the background.
MASS_CHARGE_SYNC_LIMIT = 50

# Mass invoices.
INVOICE_GROUPINGS = [
    ('contact', "One invoice per contact"),
    ('commercial', "One invoice per company or household"),
]

# Reports.
COLLECTION_REPORT_STATES = [
    ('awaiting', "Awaiting"),
    ('confirmed', "Confirmed"),
    ('cancelled', "Cancelled"),
    ('denied', "Denied"),
]
RECOVERY_CHANNELS = [
    ('retry', "Retries"),
    ('card_update', "Card update"),
    ('manual', "Manual payment"),
]
EXPORT_FORMATS = [
    ('xlsx', "Excel (XLSX)"),
    ('csv', "CSV"),
]

# Card registration links.
CARD_REQUEST_REASONS = [
    ('subscription', "Subscription"),
    ('installments', "Deferred payment in installments"),
    ('donation', "Donation"),
    ('balance', "Balances and fees"),
    ('other', "Other"),
]
CARD_REQUEST_CHANNELS = [
    ('email', "Email"),
    ('sms', "SMS"),
    ('email_sms', "Email and SMS"),
    ('moto', "Phone (MOTO)"),
]
CARD_REQUEST_STATES = [
    ('sent', "Sent"),
    ('used', "Card saved"),
    ('cancelled', "Cancelled"),
]
CARD_REQUEST_VALIDITY_DAYS = 7

# What became of a link's mail and/or SMS, from the least to the most worrying.
LINK_DELIVERY_STATES = [
    ('sent', "Sent"),
    ('pending', "Waiting to Be Sent"),
    ('cancelled', "Not Sent"),
    ('bounced', "Bounced"),
    ('failed', "Failed"),
]

# Payment links (an amount to pay, sent to a customer).
PAYMENT_LINK_CHANNELS = [
    ('email', "Email"),
    ('sms', "SMS"),
    ('email_sms', "Email and SMS"),
]
# The means of each link channel above.
CHANNEL_MEANS = {'email': {'email'}, 'sms': {'sms'}, 'email_sms': {'email', 'sms'}, 'moto': set()}
PAYMENT_LINK_STATES = [
    ('sent', "Sent"),
    ('opened', "Opened"),
    ('paid', "Paid"),
    ('cancelled', "Cancelled"),
]
PAYMENT_LINK_VALIDITY_DAYS = 30

# Bulk customer import.
IMPORT_JOB_STATES = [
    ('draft', "Draft"),
    ('invalid', "Errors"),
    ('validated', "Checked"),
    ('queued', "Queued"),
    ('running', "Running"),
    ('done', "Done"),
    ('failed', "Failed"),
]
IMPORT_BATCH_SIZE = 2000

# The customer invoices with something left to pay, before what `account.move`'s rules subtract
# (`_payment_plan_get_open_amounts`): the one domain of searches and of fields' domains.
OPEN_INVOICE_PAYMENT_STATES = ('not_paid', 'partial')
OPEN_INVOICE_DOMAIN = [
    ('move_type', '=', 'out_invoice'),
    ('state', '=', 'posted'),
    ('payment_state', 'in', OPEN_INVOICE_PAYMENT_STATES),
]

# Attempts (card validations, payments) allowed per hour through one public link, and from one
# address through all of them: a link's holder cannot test card numbers.
LINK_MAX_ATTEMPTS_PER_LINK = 5
LINK_MAX_ATTEMPTS_PER_IP = 20

# Times a batch is applied again after a concurrency conflict with another import, in a row.
IMPORT_MAX_RETRIES = 10
