"""Plain pytest checks of the shipped translations (no database)."""

import re
from pathlib import Path

import polib
import pytest

I18N = Path(__file__).resolve().parent.parent / 'i18n'
PLACEHOLDER = re.compile(r'%\((\w+)\)s')


@pytest.mark.parametrize('lang', ['es', 'pt_BR', 'fr'])
def test_every_term_is_translated_with_its_placeholders(lang):
    template = polib.pofile(str(I18N / 'payment_plan.pot'))
    catalog = {entry.msgid: entry.msgstr for entry in polib.pofile(str(I18N / f'{lang}.po'))}
    untranslated = [e.msgid for e in template if not catalog.get(e.msgid)]
    assert not untranslated, f"{lang}: untranslated terms: {untranslated}"
    for entry in template:
        assert set(PLACEHOLDER.findall(entry.msgid)) == set(
            PLACEHOLDER.findall(catalog[entry.msgid])
        ), f"{lang}: placeholders differ in {entry.msgid!r}"


@pytest.mark.parametrize('name', ['payment_plan.pot', 'es.po', 'pt_BR.po', 'fr.po'])
def test_terms_point_at_the_add_on_sources_only(name):
    """An export run from a checkout walks build/addons/payment_plan, a link back to the
    checkout: its nested copies must not be shipped as source references (they made each file
    weigh 7 MB)."""
    catalog = polib.pofile(str(I18N / name))
    nested = [e.msgid for e in catalog if any('/build/' in path for path, _line in e.occurrences)]
    assert not nested, f"{name}: references under build/: {nested[:3]}"
