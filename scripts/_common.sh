# Shared by scripts/serve and scripts/test: checks the requirements and lays out the addons path.
# shellcheck shell=bash

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-$(id -un)}"

die() { echo "error: $*" >&2; exit 2; }

check_requirements() {
    python3 - <<'PY' || die "Odoo 19.0 must be importable by python3 (python3 -c 'import odoo'). Install it: https://www.odoo.com/documentation/19.0/administration/on_premise/source.html"
import odoo.release
assert odoo.release.version_info[:2] == (19, 0), odoo.release.version
PY
    python3 - <<'PY' || die "PostgreSQL does not answer at ${PGHOST}:${PGPORT} for user ${PGUSER}: start it, or set PGHOST/PGPORT/PGUSER."
import os, psycopg2
psycopg2.connect(dbname="postgres", host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                 user=os.environ["PGUSER"], connect_timeout=5).close()
PY
}

# Odoo finds an addon by its folder name: a clone may be named otherwise, so link it as
# build/addons/payment_plan (git ignores build/).
prepare_addons_path() {
    addons_dir="$here/build/addons"
    mkdir -p "$addons_dir"
    ln -sfn "$here" "$addons_dir/payment_plan"
}

odoo_db_args() {
    echo "--db_host=$PGHOST --db_port=$PGPORT --db_user=$PGUSER --addons-path=$addons_dir"
}

# PDFs (the schedule, the sale order attached to the "payment executed" mail) need wkhtmltopdf:
# without it a payer paying an order by link makes its post-processing fail. Installed from the
# distribution when run as root on Debian/Ubuntu; otherwise a clear warning.
ensure_wkhtmltopdf() {
    command -v wkhtmltopdf >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing wkhtmltopdf (PDF reports and sale mails)..."
        (apt-get update -qq && apt-get install -y -qq wkhtmltopdf) >/dev/null 2>&1 \
            && return 0
    fi
    echo "warning: wkhtmltopdf is missing: PDF reports, and the mails that attach them, fail." >&2
    echo "         Install it (Debian/Ubuntu: apt-get install wkhtmltopdf)." >&2
}

