"""Plain pytest tests of the pure helpers: schedules, collection rules, gateway events (no
database)."""

import hashlib
import hmac
import io
import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from odoo.addons.payment_plan.tools import outbound, providers, reporting
from odoo.addons.payment_plan.tools.collection import (
    attempt_reference,
    fallback_reference,
    is_attempt_reference,
    is_hard_decline,
    next_attempt_date,
)
from odoo.addons.payment_plan.tools.schedule import (
    add_interval,
    round_amount,
    schedule_dates,
    split_amount,
    subtract_interval,
)
from odoo.addons.payment_plan.tools.webhook import (
    EventError,
    is_signature_valid,
    parse_event,
    read_bounded,
    sign,
)


def test_monthly_dates_keep_the_day_and_clamp_to_month_end():
    dates = schedule_dates(date(2025, 1, 31), 'month', 1, count=4)
    assert dates == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]


def test_monthly_dates_in_a_leap_year_fall_on_february_29():
    assert add_interval(date(2024, 1, 31), 'month', 1) == date(2024, 2, 29)
    assert add_interval(date(2024, 1, 31), 'month', 1, periods=2) == date(2024, 3, 31)


def test_yearly_dates_from_february_29():
    dates = schedule_dates(date(2024, 2, 29), 'year', 1, count=5)
    assert dates == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_weekly_and_daily_intervals():
    assert schedule_dates(date(2026, 12, 24), 'week', 2, count=3) == [
        date(2026, 12, 24),
        date(2027, 1, 7),
        date(2027, 1, 21),
    ]
    assert schedule_dates(date(2026, 2, 27), 'day', 1, count=3) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]


def test_quarterly_dates_continue_from_a_later_period():
    dates = schedule_dates(date(2026, 1, 31), 'month', 3, first_period=2, count=2)
    assert dates == [date(2026, 7, 31), date(2026, 10, 31)]


def test_schedule_stops_at_the_end_date():
    dates = schedule_dates(date(2026, 1, 15), 'month', 1, until=date(2026, 4, 14))
    assert dates == [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]
    assert schedule_dates(date(2026, 1, 15), 'month', 1, count=10, until=date(2026, 2, 15)) == [
        date(2026, 1, 15),
        date(2026, 2, 15),
    ]


@pytest.mark.parametrize(
    'kwargs',
    [
        {'unit': 'fortnight', 'number': 1},
        {'unit': 'month', 'number': 0},
        {'unit': 'month', 'number': 1, 'periods': -1},
    ],
)
def test_bad_intervals_are_refused(kwargs):
    with pytest.raises(ValueError):
        add_interval(date(2026, 1, 1), **kwargs)


def test_schedule_needs_a_limit():
    with pytest.raises(ValueError):
        schedule_dates(date(2026, 1, 1), 'month', 1)


def test_split_gives_the_remainder_to_the_last_share():
    assert split_amount(100, 3, 0.01) == [Decimal('33.33'), Decimal('33.33'), Decimal('33.34')]
    assert split_amount('1000', 7, '1') == [Decimal(142)] * 6 + [Decimal(148)]


def test_split_respects_cash_rounding():
    shares = split_amount(10, 3, 0.05)
    assert shares == [Decimal('3.30'), Decimal('3.30'), Decimal('3.40')]


@pytest.mark.parametrize('total', ['0.10', '1', '99.99', '1234.56', '1000000.01', '0.07'])
@pytest.mark.parametrize('count', [1, 2, 3, 7, 12, 36])
def test_split_always_sums_to_the_rounded_total(total, count):
    shares = split_amount(total, count, '0.01')
    assert len(shares) == count
    assert sum(shares) == Decimal(total)
    assert all(share == shares[0] for share in shares[:-1])
    assert shares[-1] >= shares[0]


def test_split_of_a_float_has_no_binary_drift():
    # 0.1 + 0.2 is 0.30000000000000004 in binary floats.
    assert sum(split_amount(0.1 + 0.2, 3, 0.01)) == Decimal('0.30')


@pytest.mark.parametrize('args', [(0, 3, 0.01), (-10, 2, 0.01), (10, 0, 0.01), (10, 2, 0)])
def test_split_refuses_bad_input(args):
    with pytest.raises(ValueError):
        split_amount(*args)


def test_round_amount_is_half_up():
    assert round_amount('2.675', '0.01') == Decimal('2.68')
    assert round_amount(2.675, 0.01) == Decimal('2.68')
    assert round_amount('7.125', '0.05') == Decimal('7.15')


# === Collection rules === #


def test_attempt_references_are_stable_and_distinct():
    assert attempt_reference('PLAN/2026/00001-03', 1) == 'PLAN/2026/00001-03-A1'
    assert attempt_reference('PLAN/2026/00001-03', 2) != attempt_reference('PLAN/2026/00001-03', 1)
    with pytest.raises(ValueError):
        attempt_reference('PLAN/2026/00001-03', 0)


def test_attempt_references_are_recognised_as_the_collections_own():
    attempt = attempt_reference('PLAN/2026/00001-03', 2)
    assert is_attempt_reference(attempt)
    assert is_attempt_reference(fallback_reference(attempt))
    assert is_attempt_reference(f'{attempt}-1'), "Odoo's unique suffix is reserved too"
    for reference in (
        'PLAN/2026/00001-03',
        'PLAN/2026/00001-03-1',
        'INV/2026/00001',
        'V',
        '',
        None,
    ):
        assert not is_attempt_reference(reference), reference


@pytest.mark.parametrize(
    'message',
    [
        "Card reported lost",
        "The card was STOLEN",
        "Expired card",
        "Invalid card number",
        "Pick up card (fraud)",
        "Do not retry this card",
        "The account is closed",
    ],
)
def test_hard_declines_are_recognised(message):
    assert is_hard_decline(message)


@pytest.mark.parametrize(
    'message',
    [
        "Insufficient funds",
        "Do not honor",
        "Issuer unavailable, try later",
        "",
        None,
        "You selected the following demo payment status: error",
    ],
)
def test_soft_declines_are_retried(message):
    assert not is_hard_decline(message)


def test_next_attempt_is_spaced_until_attempts_run_out():
    today = date(2026, 3, 30)
    assert next_attempt_date(today, 1, 3, 3) == date(2026, 4, 2)
    assert next_attempt_date(today, 2, 3, 3) == date(2026, 4, 2)
    assert next_attempt_date(today, 3, 3, 3) is None
    assert next_attempt_date(today, 1, 3, 3, hard=True) is None


def test_fallback_reference_extends_the_attempt_reference():
    assert fallback_reference('PLAN/2026/00001-03-A2') == 'PLAN/2026/00001-03-A2-F'


# === Gateway events === #


def _body(**values):
    event = {
        'event_id': 'evt-1',
        'reference': 'PLAN/2026/00001-01',
        'amount': '30.00',
        'currency': 'eur',
        'status': 'confirmed',
        'message': 'Approved',
        'occurred_at': '2026-03-01T10:00:00+01:00',
        **values,
    }
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body():
    body = _body()
    expected = hmac.new(b'secret', body, hashlib.sha256).hexdigest()
    assert sign('secret', body) == expected
    assert is_signature_valid('secret', body, expected)
    assert is_signature_valid('secret', body, expected.upper())
    assert not is_signature_valid('secret', body + b' ', expected)
    assert not is_signature_valid('other', body, expected)
    assert not is_signature_valid('secret', body, None)
    assert not is_signature_valid('', body, sign('', body))


@pytest.mark.parametrize('signature', ['é' * 64, 'not hex at all', '\x00', 'a' * 10_000, 42])
def test_malformed_or_non_ascii_signatures_are_invalid_not_errors(signature):
    assert not is_signature_valid('secret', b'{}', signature)


class _Trickle:
    """A stream that returns at most 7 bytes per read, as a chunked request body may."""

    def __init__(self, data):
        self._data = io.BytesIO(data)
        self.read_sizes = []
        self.read = self._read_some

    def _read_some(self, size=-1):
        self.read_sizes.append(size)
        return self._data.read(min(size, 7) if size >= 0 else 7)


def test_bounded_read_stops_one_byte_past_the_limit():
    stream = _Trickle(b'x' * 1000)
    assert read_bounded(stream, 100) == b'x' * 101
    assert sum(min(s, 7) for s in stream.read_sizes) == 101, "nothing is read past the bound"


def test_bounded_read_returns_a_short_body_whole():
    assert read_bounded(_Trickle(b'{"a": 1}'), 100) == b'{"a": 1}'
    assert read_bounded(io.BytesIO(b''), 100) == b''


def test_event_is_normalized():
    event = parse_event(_body())
    assert event['amount'] == Decimal('30.00')
    assert event['currency'] == 'EUR'
    assert event['occurred_at'] == datetime(2026, 3, 1, 9, 0)
    assert event['message'] == 'Approved'
    assert parse_event(_body(message=None))['message'] == ''


@pytest.mark.parametrize(
    ('body', 'error'),
    [
        (b'{"event_id": ', 'not valid JSON'),
        (b'\xff\xfe', 'not valid JSON'),
        (b'"text"', 'JSON object'),
        (_body(event_id=None), 'Missing field(s): event_id'),
        (_body(reference=''), 'Missing field(s): reference'),
        (_body(amount='ten'), "'amount'"),
        (_body(amount=True), "'amount'"),
        (_body(amount=-5), "positive"),
        (_body(amount='NaN'), "positive"),
        (_body(status='refunded'), "'status'"),
        (_body(occurred_at='tomorrow'), "'occurred_at'"),
        (_body(event_id=12), "'event_id'"),
        (_body(message=['x']), "'message'"),
    ],
)
def test_bad_events_are_refused_with_the_reason(body, error):
    with pytest.raises(EventError) as refused:
        parse_event(body)
    assert error in str(refused.value)


def test_monthly_amount_normalises_every_interval():
    assert reporting.monthly_amount(30, 1, 'month') == Decimal('30.00')
    assert reporting.monthly_amount(90, 3, 'month') == Decimal('30.00')
    assert reporting.monthly_amount(120, 1, 'year') == Decimal('10.00')
    assert reporting.monthly_amount(30, 1, 'week') == Decimal('130.00')
    assert reporting.monthly_amount(10, 2, 'week') == Decimal('21.67')
    assert reporting.monthly_amount(1, 1, 'day') == Decimal('30.42')
    with pytest.raises(ValueError):
        reporting.monthly_amount(10, 0, 'month')
    with pytest.raises(ValueError):
        reporting.monthly_amount(10, 1, 'fortnight')


def test_recovery_rate():
    assert reporting.recovery_rate(0, 0) == 0.0
    assert reporting.recovery_rate(300, 100) == 33.3
    assert reporting.recovery_rate(200, 200) == 100.0


def test_csv_export_is_excel_friendly_and_formula_safe():
    data = reporting.to_csv(['Customer', 'Amount'], [['=HYPERLINK("x")', 10.5], ['Zoë', None]])
    assert data.startswith(b'\xef\xbb\xbf')
    text = data.decode('utf-8-sig')
    assert text.splitlines() == ['Customer,Amount', '"\'=HYPERLINK(""x"")",10.5', 'Zoë,']


# === PROVIDER PROFILES === #


@pytest.mark.parametrize(
    ('payment_data', 'kind'),
    [
        ({'error': {'code': 'card_declined', 'decline_code': 'insufficient_funds'}}, 'soft'),
        ({'error': {'code': 'card_declined', 'decline_code': 'stolen_card'}}, 'hard'),
        ({'error': {'code': 'expired_card'}}, 'hard'),
        ({'error': {'code': 'authentication_required'}}, 'authentication'),
        (
            {'payment_intent': {'last_payment_error': {'decline_code': 'do_not_try_again'}}},
            'hard',
        ),
        ({'payment_intent': {'status': 'requires_action'}}, 'authentication'),
        ({'error': {'code': 'card_declined', 'message': "Your card was declined."}}, 'soft'),
        ({'error': {'code': 'unheard_of', 'message': "Card reported lost"}}, 'hard'),
    ],
)
def test_stripe_refusals_are_classified_by_their_codes(payment_data, kind):
    assert providers.classify_stripe(payment_data) == kind


@pytest.mark.parametrize(
    ('payment_data', 'kind'),
    [
        (
            {
                'resultCode': 'Refused',
                'refusalReason': 'Not enough balance',
                'refusalReasonCode': '12',
            },
            'soft',
        ),
        (
            {'resultCode': 'Refused', 'refusalReason': 'Blocked Card', 'refusalReasonCode': '5'},
            'hard',
        ),
        ({'resultCode': 'Refused', 'refusalReason': 'Expired Card'}, 'hard'),
        ({'resultCode': 'Refused', 'refusalReasonCode': 38}, 'authentication'),
        ({'resultCode': 'RedirectShopper'}, 'authentication'),
        ({'reason': '3D Not Authenticated', 'success': 'false'}, 'authentication'),
        ({'resultCode': 'Refused', 'refusalReason': 'Refused'}, 'soft'),
    ],
)
def test_adyen_refusals_are_classified_by_their_reasons(payment_data, kind):
    assert providers.classify_adyen(payment_data) == kind


@pytest.mark.parametrize(
    ('detail', 'kind'),
    [
        ('cc_rejected_insufficient_amount', 'soft'),
        ('cc_rejected_other_reason', 'soft'),
        ('cc_rejected_card_disabled', 'hard'),
        ('cc_rejected_blacklist', 'hard'),
        ('cc_rejected_3ds_mandatory', 'authentication'),
        ('cc_rejected_call_for_authorize', 'authentication'),
    ],
)
def test_mercado_pago_refusals_are_classified_by_their_status_detail(detail, kind):
    assert providers.classify_mercado_pago({'status': 'rejected', 'status_detail': detail}) == kind


@pytest.mark.parametrize(
    ('profile', 'payment_data', 'expiry'),
    [
        ('stripe', {'payment_method': {'card': {'exp_month': 8, 'exp_year': 2031}}}, (8, 2031)),
        ('stripe', {'payment_method': 'pm_123'}, None),
        ('adyen', {'additionalData': {'expiryDate': '3/2030'}}, (3, 2030)),
        ('adyen', {'additionalData': {'expiryDate': '03/30'}}, (3, 2030)),
        ('adyen', {'additionalData': {'expiryDate': '13/2030'}}, None),
        ('adyen', {'additionalData': {}}, None),
        ('mercado_pago', {'card': {'expiration_month': 11, 'expiration_year': 2030}}, (11, 2030)),
        ('mercado_pago', {'card': {'expiration_month': None}}, None),
        ('demo', {'payment_details': '4242'}, None),
        ('razorpay', {'anything': 1}, None),
    ],
)
def test_card_expiry_is_read_from_the_saving_answer(profile, payment_data, expiry):
    assert providers.get_profile(profile).card_expiry(payment_data) == expiry


def test_providers_without_a_profile_classify_by_message_and_have_no_moto():
    profile = providers.get_profile('razorpay')
    assert profile.classify is None
    assert not profile.moto
    assert not profile.outcome_lookup
    assert providers.get_profile('demo').moto
    assert (
        providers.classify_message("This transaction requires authentication") == 'authentication'
    )


def test_every_odoo_test_module_is_imported_by_the_package():
    """Odoo's own runner (`odoo --test-enable`) runs only the modules `tests/__init__.py`
    imports: a test module left out would silently never run there."""
    import pathlib
    import re

    tests_dir = pathlib.Path(__file__).parent
    imported = set(
        re.findall(r'^from \. import (\w+)', (tests_dir / '__init__.py').read_text(), re.M)
    )
    odoo_case = re.compile(r'^class \w+\(.*(Case|Common)\b', re.M)
    missing = [
        path.stem
        for path in sorted(tests_dir.glob('test_*.py'))
        if odoo_case.search(path.read_text()) and path.stem not in imported
    ]
    assert not missing, f"not imported by tests/__init__.py: {missing}"


def _run_setup_function(script, env=None):
    """Run `script` in bash after sourcing scripts/_common.sh; return its standard output."""
    import os
    import pathlib
    import shutil
    import subprocess

    common = pathlib.Path(__file__).resolve().parent.parent / 'scripts' / '_common.sh'
    return subprocess.run(
        [shutil.which('bash'), '-c', f'source "{common}"; {script}'],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout


def test_the_set_up_adjusts_odoo_requirements_per_python_version(tmp_path):
    requirements = tmp_path / 'requirements.txt'
    requirements.write_text(
        "cbor2==5.4.2 ; python_version < '3.12'\n"
        "cbor2==5.6.2 ; python_version >= '3.12'\n"
        "psycopg2==2.9.5 ; python_version == '3.11'\n"
        "python-ldap==3.4.0 ; sys_platform != 'win32'\n"
        "lxml==5.2.1\n"
    )
    import shutil

    # A PATH with the tools the function uses, and a pg_config or not.
    tools = tmp_path / 'bin'
    tools.mkdir()
    for tool in ('sed', 'cat', 'dirname', 'id', 'pwd'):
        if shutil.which(tool):
            (tools / tool).symlink_to(shutil.which(tool))
    (tools / 'pg_config').write_text('#!/bin/sh\n')
    (tools / 'pg_config').chmod(0o755)
    path = str(tools)
    adjusted = _run_setup_function(f'odoo_requirements "{requirements}"', {'PATH': path})
    assert adjusted.splitlines() == [
        "cbor2==5.6.5 ; python_version < '3.12'",
        "cbor2==5.6.2 ; python_version >= '3.12'",
        "psycopg2==2.9.5 ; python_version == '3.11'",
        "lxml==5.2.1",
        "zope.interface<7",
        "zope.event<5.1",
    ]
    (tools / 'pg_config').unlink()
    adjusted = _run_setup_function(f'odoo_requirements "{requirements}"', {'PATH': path})
    assert "psycopg2-binary==2.9.5 ; python_version == '3.11'" in adjusted.splitlines()


def test_the_set_up_refuses_a_source_that_is_not_odoo_19(tmp_path):
    """ODOO_SRC naming something else than Odoo 19.0's source stops with the step and the fix."""
    import subprocess

    (tmp_path / 'odoo').mkdir()
    (tmp_path / 'odoo' / 'release.py').write_text("version_info = (18, 0, 0, 'final', 0, '')\n")
    (tmp_path / 'requirements.txt').write_text("lxml\n")
    with pytest.raises(subprocess.CalledProcessError) as failure:
        _run_setup_function(
            'build_odoo_venv',
            {'ODOO_SRC': str(tmp_path), 'PAYMENT_PLAN_VENV': str(tmp_path / 'venv')},
        )
    assert "checking Odoo's version failed" in failure.value.stderr
    assert "is not Odoo 19.0" in failure.value.stderr
    assert not (tmp_path / 'venv').exists(), "nothing is installed from a wrong source"


@pytest.mark.parametrize(
    'url',
    [
        'http://gateway.example.com/s',
        'https://127.0.0.1/s',
        'https://10.0.0.1/s',
        'https://172.16.0.1/s',
        'https://100.64.0.1/s',
        'https://169.254.169.254/s',
        'https://[fe80::1]/s',
        'https://[fc00::1]/s',
        'https://[::ffff:10.0.0.1]/s',
        'https://224.0.0.1/s',
        'https://0.0.0.0/s',
        'https:///s',
        'https://[::1/s',
    ],
)
def test_outbound_urls_must_be_https_to_public_addresses(url):
    with pytest.raises(outbound.UrlRefused):
        outbound.check_url(url)


def test_outbound_url_to_a_public_host_gives_host_and_port():
    assert outbound.check_url('https://gateway.example.com/s') == ('gateway.example.com', 443)
    assert outbound.check_url('https://93.184.215.14:8443/s') == ('93.184.215.14', 8443)


def test_outbound_loopback_only_when_allowed():
    assert outbound.check_url('http://127.0.0.1:8000/s', allow_loopback=True) == (
        '127.0.0.1',
        8000,
    )
    with pytest.raises(outbound.UrlRefused):
        outbound.check_url('https://10.0.0.1/s', allow_loopback=True)


def test_outbound_every_resolved_address_must_be_public():
    def resolve(addresses):
        return lambda host, port, **_kw: [(2, 1, 6, '', (a, port)) for a in addresses]

    outbound.check_resolved('gw.example.com', 443, resolve=resolve(['93.184.215.14']))
    with pytest.raises(outbound.UrlRefused, match='address'):
        outbound.check_resolved('gw.example.com', 443, resolve=resolve(['93.184.215.14', '::1']))

    def fail(*_args, **_kwargs):
        raise OSError("Name or service not known")

    with pytest.raises(outbound.UrlRefused, match='unresolved'):
        outbound.check_resolved('nowhere.invalid', 443, resolve=fail)


def test_a_batch_message_buffer_is_equal_only_to_itself():
    """Odoo reuses an environment whose context is equal: two batches' buffers never are."""
    from odoo.addons.payment_plan.models.payment_plan_collection import _MessageBuffer

    first, second = _MessageBuffer(), _MessageBuffer()
    assert first == first and first != second and first != []
    assert {'payment_plan_log_buffer': first} != {'payment_plan_log_buffer': second}


def test_subtract_interval_is_the_start_of_the_period_that_ends_the_day_before():
    assert subtract_interval(date(2026, 4, 1), 'month', 1) == date(2026, 3, 1)
    assert subtract_interval(date(2026, 3, 31), 'month', 1) == date(2026, 2, 28)
    assert subtract_interval(date(2026, 3, 15), 'week', 2) == date(2026, 3, 1)
    assert subtract_interval(date(2026, 3, 15), 'day', 10) == date(2026, 3, 5)
    assert subtract_interval(date(2028, 2, 29), 'year', 1) == date(2027, 2, 28)
    # Several periods back, from the same anchor as `add_interval` counts forward.
    assert subtract_interval(date(2026, 1, 31), 'month', 1, periods=2) == date(2025, 11, 30)
    assert subtract_interval(date(2026, 3, 15), 'week', 1, periods=0) == date(2026, 3, 15)
    with pytest.raises(ValueError):
        subtract_interval(date(2026, 3, 15), 'fortnight', 1)
    with pytest.raises(ValueError):
        subtract_interval(date(2026, 3, 15), 'month', 0)
