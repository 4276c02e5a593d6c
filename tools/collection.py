"""Pure rules of the collection engine: attempt references, retry spacing, decline kinds."""

import re
from datetime import timedelta

from . import providers


def attempt_reference(installment_name, attempt):
    """Return the transaction reference of an attempt: unique per installment and attempt.

    Computed, never random: the same attempt always has the same reference, so a transaction
    already created for it is found again (and providers that key idempotency on the reference
    refuse a second charge).
    """
    if attempt < 1:
        raise ValueError("Attempts are numbered from 1.")
    return f'{installment_name}-A{attempt}'


# The shape of every reference `attempt_reference` and `fallback_reference` make.
_ATTEMPT_REFERENCE = re.compile(r'.-A[0-9]+(-F)?(-[0-9]+)?$')


def is_attempt_reference(reference):
    """Tell whether `reference` has the shape of a collection attempt's: references of that
    shape are the collection's own, which no other payment may take.

    Odoo makes a reference unique by appending `-N`: such a reference is reserved too.
    """
    return bool(reference) and bool(_ATTEMPT_REFERENCE.search(reference))


def fallback_reference(attempt_ref):
    """Return the reference of the retry of an attempt on the customer's other card."""
    return f'{attempt_ref}-F'


def is_hard_decline(message):
    """Tell whether a provider's refusal message means that retrying is pointless."""
    return providers.classify_message(message) == providers.HARD


def next_attempt_date(today, attempt_count, max_attempts, spacing_days, hard=False):
    """Return the date of the next attempt after a failed one, or None when none is left.

    :param datetime.date today: The day of the failed attempt.
    :param int attempt_count: How many attempts were made, the failed one included.
    :param int max_attempts: How many attempts the policy allows.
    :param int spacing_days: Days between two attempts.
    :param bool hard: Whether the decline was a hard one (never retried).
    :rtype: datetime.date | None
    """
    if hard or attempt_count >= max_attempts:
        return None
    return today + timedelta(days=max(spacing_days, 1))
