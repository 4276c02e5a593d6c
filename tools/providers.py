"""Provider profiles: what each card provider tells about a refused charge and a saved card.

One profile per provider code, as Odoo's `payment_*` modules specialise `payment`: how a refusal
is classified from the provider's own codes (a soft decline is retried, a hard one is not, one
that needs the customer's authentication waits for them), how the card's expiry is read from the
answer that saved it, whether staff may enter a card given by phone (MOTO), and whether the
outcome of a charge can be looked up through the provider's API. Pure functions of the data the
provider sent: no ORM.
"""

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

SOFT = 'soft'
HARD = 'hard'
AUTHENTICATION = 'authentication'
# The provider refused the request, not the card (rate limit, credentials, a bad request): the
# card was not charged, and is tried again without counting against the customer.
PROVIDER = 'provider'

# Declines that no retry can fix, told by their message only (providers without codes).
HARD_DECLINE_PATTERNS = (
    r'\blost\b',
    r'\bstolen\b',
    r'\bexpired\b',
    r'invalid (card|account|number)',
    r'incorrect (card|account) number',
    r'\bno (such )?card\b',
    r'pick ?up card',
    r'account (is )?closed',
    r'closed account',
    r'do not (retry|try again)',
    r'revoked',
    r'card (is )?(blocked|restricted)',
)
_HARD_DECLINE_RE = re.compile('|'.join(HARD_DECLINE_PATTERNS), re.IGNORECASE)
AUTHENTICATION_PATTERNS = (
    r'authentication (is )?required',
    r'\b3-?d(s| ?secure)\b',
    r'\bsca\b',
    r'requires? (customer |cardholder )?(action|authentication)',
)
_AUTHENTICATION_RE = re.compile('|'.join(AUTHENTICATION_PATTERNS), re.IGNORECASE)


def classify_message(message):
    """Classify a refusal by its message alone: the rule for providers without codes."""
    if not message:
        return SOFT
    if _AUTHENTICATION_RE.search(message):
        return AUTHENTICATION
    if _HARD_DECLINE_RE.search(message):
        return HARD
    return SOFT


# === STRIPE === #
# https://docs.stripe.com/declines/codes and https://docs.stripe.com/error-codes
STRIPE_AUTHENTICATION_CODES = frozenset({'authentication_required', 'authentication_not_handled'})
STRIPE_HARD_CODES = frozenset(
    {
        'card_not_supported',
        'currency_not_supported',
        'do_not_try_again',
        'expired_card',
        'fraudulent',
        'incorrect_number',
        'invalid_account',
        'invalid_number',
        'lost_card',
        'merchant_blacklist',
        'new_account_information_available',
        'pickup_card',
        'restricted_card',
        'revocation_of_all_authorizations',
        'revocation_of_authorization',
        'security_violation',
        'stolen_card',
        'stop_payment_order',
        'transaction_not_allowed',
    }
)
STRIPE_SOFT_CODES = frozenset(
    {
        'approve_with_id',
        'call_issuer',
        'card_declined',
        'card_velocity_exceeded',
        'do_not_honor',
        'generic_decline',
        'insufficient_funds',
        'issuer_not_available',
        'processing_error',
        'reenter_transaction',
        'try_again_later',
        'withdrawal_count_limit_exceeded',
    }
)


def _stripe_error(payment_data):
    """Return the error object of a refused PaymentIntent, or of Stripe's error answer."""
    payment_data = payment_data or {}
    if isinstance(payment_data.get('error'), dict):  # An API error answer (HTTP 402).
        return payment_data['error']
    intent = payment_data.get('payment_intent') or payment_data
    return intent.get('last_payment_error') or {}


def classify_stripe(payment_data):
    """Classify a Stripe refusal by its `decline_code`, then its `code`, then its message."""
    error = _stripe_error(payment_data)
    codes = [error.get('decline_code'), error.get('code')]
    for code in filter(None, codes):
        if code in STRIPE_AUTHENTICATION_CODES:
            return AUTHENTICATION
        if code in STRIPE_HARD_CODES:
            return HARD
        if code in STRIPE_SOFT_CODES and code != 'card_declined':
            return SOFT
    intent = (payment_data or {}).get('payment_intent') or {}
    if intent.get('status') == 'requires_action':
        return AUTHENTICATION
    return classify_message(error.get('message'))


def stripe_card_expiry(payment_data):
    """Read the card's expiry from the PaymentMethod that Stripe returns with the intent."""
    payment_method = (payment_data or {}).get('payment_method')
    if not isinstance(payment_method, dict):
        return None
    card = payment_method.get('card') or {}
    return _month_year(card.get('exp_month'), card.get('exp_year'))


# === ADYEN === #
# https://docs.adyen.com/development-resources/refusal-reasons
ADYEN_AUTHENTICATION_REASON_CODES = frozenset({'11', '38'})
ADYEN_HARD_REASON_CODES = frozenset(
    {'5', '6', '8', '10', '14', '18', '20', '22', '23', '25', '26', '31', '34', '35'}
)
ADYEN_AUTHENTICATION_REASONS = frozenset({'3d not authenticated', 'authentication required'})
ADYEN_HARD_REASONS = frozenset(
    {
        'acquirer fraud',
        'blocked card',
        'expired card',
        'fraud',
        'fraud-cancelled',
        'invalid card number',
        'issuer suspected fraud',
        'no checking account available on card',
        'no savings account available on card',
        'not supported',
        'pin tries exceeded',
        'restricted card',
        'revocation of auth',
        'transaction not permitted',
    }
)
# Result codes asking the shopper to act (3-D Secure): impossible without them.
ADYEN_AUTHENTICATION_RESULT_CODES = frozenset(
    {'ChallengeShopper', 'IdentifyShopper', 'RedirectShopper', 'PresentToShopper'}
)


def classify_adyen(payment_data):
    """Classify an Adyen refusal by its `refusalReasonCode`, `refusalReason` or `resultCode`.

    The refusal comes in the answer of /payments or in the `reason` of an AUTHORISATION
    notification (`additionalData.refusalReasonRaw` holds the issuer's own words).
    """
    payment_data = payment_data or {}
    additional = payment_data.get('additionalData') or {}
    result_code = payment_data.get('resultCode')
    if result_code in ADYEN_AUTHENTICATION_RESULT_CODES:
        return AUTHENTICATION
    code = str(payment_data.get('refusalReasonCode') or additional.get('refusalReasonCode') or '')
    if code in ADYEN_AUTHENTICATION_REASON_CODES:
        return AUTHENTICATION
    if code in ADYEN_HARD_REASON_CODES:
        return HARD
    reason = (payment_data.get('refusalReason') or payment_data.get('reason') or '').strip()
    if reason.lower() in ADYEN_AUTHENTICATION_REASONS:
        return AUTHENTICATION
    if reason.lower() in ADYEN_HARD_REASONS:
        return HARD
    return classify_message(' '.join(filter(None, [reason, additional.get('refusalReasonRaw')])))


def adyen_card_expiry(payment_data):
    """Read the card's expiry from `additionalData.expiryDate` ("M/YYYY" or "MM/YYYY")."""
    additional = (payment_data or {}).get('additionalData') or {}
    match = re.fullmatch(r'\s*(\d{1,2})/(\d{2}|\d{4})\s*', str(additional.get('expiryDate') or ''))
    if not match:
        return None
    return _month_year(match.group(1), match.group(2))


# === MERCADO PAGO === #
# https://www.mercadopago.com/developers/en/docs/checkout-api/response-handling/collection-results
MERCADO_PAGO_AUTHENTICATION_DETAILS = frozenset(
    {
        'cc_rejected_3ds_challenge',
        'cc_rejected_3ds_mandatory',
        'cc_rejected_call_for_authorize',
        'pending_challenge',
    }
)
MERCADO_PAGO_HARD_DETAILS = frozenset(
    {
        'cc_rejected_bad_filled_card_number',
        'cc_rejected_bad_filled_date',
        'cc_rejected_bad_filled_other',
        'cc_rejected_blacklist',
        'cc_rejected_card_disabled',
        'cc_rejected_card_type_not_allowed',
        'cc_rejected_high_risk',
        'cc_rejected_invalid_installments',
        'rejected_high_risk',
    }
)


def classify_mercado_pago(payment_data):
    """Classify a Mercado Pago refusal by the payment's `status_detail`."""
    payment_data = payment_data or {}
    detail = payment_data.get('status_detail') or ''
    if detail in MERCADO_PAGO_AUTHENTICATION_DETAILS:
        return AUTHENTICATION
    if detail in MERCADO_PAGO_HARD_DETAILS:
        return HARD
    if detail.startswith(('cc_rejected', 'rejected', 'cc_amount')):
        return SOFT
    return classify_message(payment_data.get('message') or detail)


def mercado_pago_card_expiry(payment_data):
    """Read the card's expiry from the payment's (or the saved card's) `card` object."""
    card = (payment_data or {}).get('card') or {}
    return _month_year(card.get('expiration_month'), card.get('expiration_year'))


# === REDSYS === #
# The order numbers Redsys accepts (DS_MERCHANT_ORDER): 4 to 12 letters and digits.
REDSYS_ORDER_RE = re.compile(r'[0-9A-Za-z]{4,12}')
# https://pagosonline.redsys.es/desarrolladores-inicio/integrate-con-nosotros/parametros-de-entrada-y-salida/
# `Ds_Response`: 0000 to 0099 authorise; the others refuse (four digits, 0-padded).
REDSYS_AUTHENTICATION_CODES = frozenset({'184', '195', '9104', '9999'})
REDSYS_HARD_CODES = frozenset(
    {
        '101',  # expired card
        '102',  # card blocked temporarily or suspected fraud
        '104',  # operation not allowed for this card
        '106',  # PIN attempts exceeded
        '118',  # card not registered
        '125',  # card not effective
        '129',  # wrong security code
        '172',  # refused, do not retry
        '173',  # refused, do not retry without new card details
        '180',  # card outside the service
        '191',  # wrong expiry date
        '202',  # card blocked, to be withdrawn (lost or stolen)
        '9064',  # wrong number of digits
        '9078',  # operation type not allowed for this card
        '9093',  # card does not exist
        '9253',  # card fails its check digit
        '9257',  # card does not allow pre-authorisations
    }
)
REDSYS_SOFT_CODES = frozenset(
    {
        '116',  # insufficient funds
        '174',  # refused, do not retry before 72 hours
        '190',  # refused by the issuer without a reason
        '912',  # issuer unavailable
        '9912',  # issuer unavailable
        '9094',  # refused by the international servers
        '9915',  # cancelled by the customer
        '9997',  # another transaction with the same card is being processed
        '9998',  # card data being requested
    }
)
# The merchant's terminal or Redsys refused the request, not the card.
REDSYS_PROVIDER_CODES = frozenset({'904', '909', '913', '944', '950', '9218', '9256', '9261'})


def redsys_order_number(transaction_id):
    """Return a Redsys order number for a charge the merchant sends: 8 digits of the
    transaction's id and 4 random letters or digits, so that a copy of the database (a restored
    backup, a test copy) charging on the same terminal does not repeat the numbers Redsys saw."""
    alphabet = string.ascii_uppercase + string.digits
    return f'{transaction_id % 10**8:08d}' + ''.join(secrets.choice(alphabet) for _i in range(4))


def redsys_response_code(payment_data):
    """Return the `Ds_Response` of Redsys's data without its leading zeros ('0190' → '190')."""
    code = str((payment_data or {}).get('Ds_Response') or '').strip()
    return code.lstrip('0') or ('0' if code else '')


def redsys_is_authorized(payment_data):
    """Tell whether Redsys's `Ds_Response` authorises the operation (0000 to 0099)."""
    code = str((payment_data or {}).get('Ds_Response') or '').strip()
    return code.isdigit() and int(code) <= 99


def classify_redsys(payment_data):
    """Classify a Redsys refusal by its `Ds_Response` code."""
    code = redsys_response_code(payment_data)
    if code in REDSYS_AUTHENTICATION_CODES:
        return AUTHENTICATION
    if code in REDSYS_HARD_CODES:
        return HARD
    if code in REDSYS_PROVIDER_CODES:
        return PROVIDER
    if code in REDSYS_SOFT_CODES:
        return SOFT
    return classify_message((payment_data or {}).get('Ds_ErrorCode'))


def redsys_card_expiry(payment_data):
    """Read the card's expiry from `Ds_ExpiryDate` (YYMM)."""
    match = re.fullmatch(
        r'\s*(\d{2})(\d{2})\s*', str((payment_data or {}).get('Ds_ExpiryDate') or '')
    )
    if not match:
        return None
    return _month_year(match.group(2), match.group(1))


def redsys_needs_customer(payment_data):
    """An answer saying that the cardholder must authenticate the payment (SCA)."""
    return redsys_response_code(payment_data) in REDSYS_AUTHENTICATION_CODES


def redsys_last_digits(payment_data):
    """Return the last four digits of Redsys's masked card number (`Ds_Card_Number`)."""
    digits = re.sub(r'\D', '', str((payment_data or {}).get('Ds_Card_Number') or ''))
    return digits[-4:] if len(digits) >= 4 else ''


# === PROFILES === #


@dataclass(frozen=True)
class Profile:
    """What a provider supports for cards on file, and how its answers are read."""

    code: str
    # Reads the provider's decline codes; None: the refusal's message is all there is.
    classify: Callable[[dict], str] | None
    card_expiry: Callable[[dict], tuple | None]
    moto: bool = False
    outcome_lookup: bool = False
    sca_detected: bool = True
    # HTTP statuses of the provider's answers that are the card's refusal; None: any 4xx (the
    # rule for providers without a profile). Others are the provider refusing the request.
    refusal_statuses: tuple | None = None
    # Whether the data of a charge left waiting says that only the customer can finish it.
    needs_customer: Callable[[dict], bool] = lambda _data: False
    # Whether the provider saved a card whose payment it refused (the card is then not kept).
    saved_refused_card: Callable[[dict], bool] = lambda _data: False

    def is_card_refusal(self, status):
        """Tell whether an answer with HTTP `status` (4xx) is the card's refusal."""
        if self.refusal_statuses is None:
            return 400 <= status < 500
        return status in self.refusal_statuses


def _month_year(month, year):
    """Return (month, four-digit year) when both are valid, else None."""
    try:
        month, year = int(month), int(year)
    except (TypeError, ValueError):
        return None
    if year < 100:
        year += 2000
    if not 1 <= month <= 12 or not 2000 <= year <= 2200:
        return None
    return month, year


def stripe_needs_customer(payment_data):
    """A PaymentIntent confirmed off-session that asks for the customer (3-D Secure)."""
    intent = (payment_data or {}).get('payment_intent') or {}
    return intent.get('status') == 'requires_action'


def adyen_needs_customer(payment_data):
    """A /payments answer that asks the shopper to act (redirect, 3-D Secure challenge)."""
    payment_data = payment_data or {}
    return payment_data.get('resultCode') in ADYEN_AUTHENTICATION_RESULT_CODES or bool(
        payment_data.get('action')
    )


def mercado_pago_needs_customer(payment_data):
    """A payment waiting for the payer's 3-D Secure challenge."""
    return (payment_data or {}).get('status_detail') == 'pending_challenge'


PROFILES = {
    'stripe': Profile(
        'stripe',
        classify_stripe,
        stripe_card_expiry,
        outcome_lookup=True,
        refusal_statuses=(402,),
        needs_customer=stripe_needs_customer,
    ),
    'adyen': Profile(
        'adyen',
        classify_adyen,
        adyen_card_expiry,
        refusal_statuses=(),
        needs_customer=adyen_needs_customer,
    ),
    'mercado_pago': Profile(
        'mercado_pago',
        classify_mercado_pago,
        mercado_pago_card_expiry,
        outcome_lookup=True,
        refusal_statuses=(),
        needs_customer=mercado_pago_needs_customer,
    ),
    # MOTO where the merchant's terminal allows it: a setting of the provider.
    'redsys': Profile(
        'redsys',
        classify_redsys,
        redsys_card_expiry,
        refusal_statuses=(),
        needs_customer=redsys_needs_customer,
    ),
    # Demo saves the card before it applies the simulated state (so that a card that always
    # fails can be tested): a card whose payment failed is not kept.
    'demo': Profile(
        'demo',
        None,
        lambda _data: None,
        moto=True,
        sca_detected=False,
        saved_refused_card=lambda data: (data or {}).get('simulated_state') in ('error', 'cancel'),
    ),
}
# Providers without a profile: refusals classified by their message, no expiry, no look-up.
DEFAULT_PROFILE = Profile('default', None, lambda _data: None, sca_detected=False)


def get_profile(provider_code):
    """Return the profile of a provider code (the default one for providers without one)."""
    return PROFILES.get(provider_code, DEFAULT_PROFILE)
