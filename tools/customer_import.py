"""Pure helpers of the bulk customer import: read a CSV file and check each row.

Errors are returned as codes with their line and column; the ORM layer words them in the
user's language.
"""

import csv
import io
import re
import unicodedata

from stdnum.util import get_cc_module

# The columns of the template, in order; `name` is required, and each row needs at least one
# of the keys a customer is found again by (reference, VAT, email).
COLUMNS = (
    'reference',
    'name',
    'is_company',
    'email',
    'phone',
    'vat',
    'street',
    'street2',
    'zip',
    'city',
    'country',
)
REQUIRED_COLUMNS = ('name',)
KEY_COLUMNS = ('reference', 'vat', 'email')

TEMPLATE_EXAMPLE = (
    'C-0001',
    'Ana Garcia',
    'no',
    'ana.garcia@example.com',
    '+34 600 000 000',
    '',
    'Calle Mayor 1',
    '',
    '28013',
    'Madrid',
    'ES',
)

_EMAIL_RE = re.compile(r'^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$')
_TRUE = {'1', 'yes', 'y', 'true', 'x', 'si', 'sí', 'sim', 'oui'}
_FALSE = {'', '0', 'no', 'n', 'false', 'não', 'nao', 'non'}


class ImportFileError(ValueError):
    """The file cannot be read at all (encoding, no header, no row)."""

    def __init__(self, code, **params):
        super().__init__(code)
        self.code = code
        self.params = params


def template_csv():
    """Return the template file: the header and one example row, UTF-8 with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\r\n')
    writer.writerow(COLUMNS)
    writer.writerow(TEMPLATE_EXAMPLE)
    return buffer.getvalue().encode('utf-8-sig')


def decode(data):
    """Return the text of `data`: UTF-8 (with or without a BOM), else Latin-1 (Windows)."""
    if data.startswith(b'\xef\xbb\xbf'):
        return data[3:].decode('utf-8')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return data.decode('cp1252', errors='replace')


def read_rows(data):
    """Return the header (normalised column names) and the rows of a CSV file.

    The separator (`;` or `,`) is read from the header line.

    :param bytes data: The file.
    :return: (header, [(line number, {column: value})])
    :raise ImportFileError: `empty` or `no_header`.
    """
    text = decode(data)
    if not text.strip():
        raise ImportFileError('empty')
    first_line = text.splitlines()[0]
    delimiter = ';' if first_line.count(';') > first_line.count(',') else ','
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [column.strip().lower() for column in next(reader)]
    if 'name' not in header:
        raise ImportFileError('no_header')
    rows = []
    for line, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue  # Blank lines are no rows.
        rows.append(
            (
                line,
                {
                    column: (values[i].strip() if i < len(values) else '')
                    for i, column in enumerate(header)
                    if column in COLUMNS
                },
            )
        )
    return header, rows


def is_valid_email(email):
    return bool(_EMAIL_RE.match(email))


def is_valid_vat(vat, country_code):
    """Tell whether `vat` passes the checksum of its country, where the country has one.

    The country is the VAT's own prefix (e.g. BE0477472701) or else the row's country.
    """
    compact = re.sub(r'[\s.\-/]', '', vat).upper()
    prefix = compact[:2]
    if prefix.isalpha():
        code, number = prefix.lower(), compact
    elif country_code:
        code, number = country_code.lower(), compact
    else:
        return True  # No country: nothing to check it against.
    if code == 'el':
        code = 'gr'  # Greek VAT numbers start with EL; python-stdnum knows Greece as GR.
    try:
        module = get_cc_module(code, 'vat')
    except (ImportError, ValueError):
        module = None
    if module is None:
        return True  # No checksum known for this country.
    return bool(module.is_valid(number))


def find_control_character(value):
    """Return the first control character of `value` (NUL, a line break...), or ''.

    A cell is one line of text: a control character there is a damaged file, and the database
    refuses NUL outright.
    """
    return next((ch for ch in value if unicodedata.category(ch) == 'Cc'), '')


def parse_bool(value):
    """Return the boolean of a yes/no cell, or None when it is not one."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def validate(header, rows, countries):
    """Check every row; return the clean rows and the errors, all of them at once.

    :param list header: The file's columns (`read_rows`).
    :param list rows: The rows (`read_rows`).
    :param dict countries: Country ISO codes (upper case) and names (lower case) -> country code.
    :return: (clean rows [{'line', column: value, 'country_code', 'is_company'}],
              errors [(line, column, code, value)])
    """
    errors = [
        (1, column, 'missing_column', column) for column in REQUIRED_COLUMNS if column not in header
    ]
    if not any(key in header for key in KEY_COLUMNS):
        errors.append((1, 'email', 'missing_key_column', ', '.join(KEY_COLUMNS)))
    if errors:
        return [], errors
    seen = {key: {} for key in KEY_COLUMNS}
    clean = []
    for line, row in rows:
        row_errors = [
            (line, column, 'control_character', f'U+{ord(character):04X}')
            for column, value in row.items()
            if (character := find_control_character(value))
        ]
        if not row.get('name'):
            row_errors.append((line, 'name', 'required', ''))
        if not any(row.get(key) for key in KEY_COLUMNS):
            row_errors.append((line, 'email', 'missing_key', ''))
        email = row.get('email', '')
        if email and not is_valid_email(email):
            row_errors.append((line, 'email', 'bad_email', email))
        country_value = row.get('country', '')
        country_code = None
        if country_value:
            country_code = countries.get(country_value.upper()) or countries.get(
                country_value.lower()
            )
            if not country_code:
                row_errors.append((line, 'country', 'unknown_country', country_value))
        vat = row.get('vat', '')
        if vat and not is_valid_vat(vat, country_code):
            row_errors.append((line, 'vat', 'bad_vat', vat))
        is_company = parse_bool(row.get('is_company', ''))
        if is_company is None:
            row_errors.append((line, 'is_company', 'bad_bool', row.get('is_company', '')))
        for key in KEY_COLUMNS:
            value = _normalise_key(key, row.get(key, ''))
            if not value:
                continue
            if value in seen[key]:
                row_errors.append((line, key, 'duplicate', f'{row[key]}|{seen[key][value]}'))
            else:
                seen[key][value] = line
        if row_errors:
            errors.extend(row_errors)
            continue
        clean.append(
            {
                **row,
                'line': line,
                'email': email.lower(),
                'country_code': country_code,
                'is_company': is_company,
            }
        )
    return clean, errors


def _normalise_key(key, value):
    value = value.strip()
    if key == 'email':
        return value.lower()
    if key == 'vat':
        return re.sub(r'[\s.\-/]', '', value).upper()
    return value
