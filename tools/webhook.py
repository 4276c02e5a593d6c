"""Signed gateway events: signature and payload checks, free of the ORM."""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

EVENT_STATUSES = ('confirmed', 'denied', 'cancelled')
REQUIRED_KEYS = ('event_id', 'reference', 'amount', 'currency', 'status', 'occurred_at')


# Above any amount a gateway charges, below what a float holds exactly to the cent.
MAX_AMOUNT = Decimal(10) ** 12


class EventError(ValueError):
    """The body of an event is not a valid event; the message says why."""


def _check_text(key, value):
    """Refuse a string that the database cannot store: a NUL, or a lone surrogate (JSON's
    `\\ud800` escape decodes to one; it has no UTF-8 encoding)."""
    if '\x00' in value:
        raise EventError(f"Field '{key}' must not contain NUL characters.")
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise EventError(f"Field '{key}' holds a lone surrogate: it is not text.") from None


def sign(secret, body):
    """Return the hex HMAC-SHA256 of the raw `body` (bytes) with `secret` (str)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_signature_valid(secret, body, signature):
    """Return whether `signature` (the header's value) signs `body` with `secret`, compared in
    constant time. A missing, malformed or non-ASCII secret or signature is never valid (and
    never an error: the header is whatever a stranger sent)."""
    if not secret or not signature or not isinstance(signature, str):
        return False
    try:
        received = signature.strip().lower().encode('ascii')
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, body).encode('ascii'), received)


def read_bounded(stream, limit):
    """Return the bytes of `stream` up to its end or `limit` + 1 bytes, whichever comes first,
    so that a caller tells an oversized body (longer than `limit`) without reading it all.

    The stream may return fewer bytes than asked per read (a chunked request's body arrives
    chunk by chunk): it is read until it ends or the bound is reached.
    """
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)


def parse_event(body):
    """Return the event of a raw JSON body as a dict of checked, normalized values.

    :param bytes body: The raw request body.
    :return: `event_id`, `reference`, `currency` (str, ISO code upper-cased), `amount`
             (Decimal), `status` (one of EVENT_STATUSES), `message` (str), `occurred_at`
             (naive UTC datetime).
    :raise EventError: If the body is not JSON, or a key is missing or invalid.
    """
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError:
        raise EventError("The body is not valid JSON: it must be encoded in UTF-8.") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise EventError(f"The body is not valid JSON: {error}") from None
    except RecursionError:
        raise EventError("The body is not valid JSON: nested too deeply.") from None
    if not isinstance(data, dict):
        raise EventError("The body must be a JSON object.")
    missing = [key for key in REQUIRED_KEYS if data.get(key) in (None, '')]
    if missing:
        raise EventError(f"Missing field(s): {', '.join(missing)}.")
    for key in ('event_id', 'reference', 'currency', 'status', 'occurred_at'):
        if not isinstance(data[key], str) or len(data[key]) > 255:
            raise EventError(f"Field '{key}' must be a string of at most 255 characters.")
        _check_text(key, data[key])
    message = data.get('message') or ''
    if not isinstance(message, str):
        raise EventError("Field 'message' must be a string.")
    _check_text('message', message)
    if isinstance(data['amount'], bool) or not isinstance(data['amount'], (int, float, str)):
        raise EventError("Field 'amount' must be a number.")
    try:
        amount = Decimal(str(data['amount']))
    except InvalidOperation:
        raise EventError("Field 'amount' must be a number.") from None
    if not amount.is_finite() or amount <= 0:
        raise EventError("Field 'amount' must be a positive number.")
    if amount >= MAX_AMOUNT:
        raise EventError(f"Field 'amount' must be below {MAX_AMOUNT:.0f}.")
    if data['status'] not in EVENT_STATUSES:
        raise EventError(f"Field 'status' must be one of: {', '.join(EVENT_STATUSES)}.")
    try:
        occurred_at = datetime.fromisoformat(data['occurred_at'].replace('Z', '+00:00'))
        if occurred_at.tzinfo:
            occurred_at = occurred_at.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise EventError(
            "Field 'occurred_at' must be an ISO 8601 date and time between the years 1 and 9999."
        ) from None
    return {
        'event_id': data['event_id'].strip(),
        'reference': data['reference'].strip(),
        'amount': amount,
        'currency': data['currency'].strip().upper(),
        'status': data['status'],
        'message': message[:2000],
        'occurred_at': occurred_at,
    }
