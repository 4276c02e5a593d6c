# Shared by scripts/serve and scripts/test: checks the requirements and lays out the addons path.
# shellcheck shell=bash

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-$(id -un)}"

die() { echo "error: $*" >&2; exit 2; }
step() { echo "==> $*"; }
# A step that failed: which one, and what to do.
fail_step() { echo "error: $1 failed. $2" >&2; exit 2; }

# Odoo 19.0's official source archive: what the set-up installs when python3 has no Odoo.
ODOO_SRC_DEFAULT="https://nightly.odoo.com/19.0/nightly/src/odoo_19.0.latest.tar.gz"
# The virtual environment the set-up creates (PAYMENT_PLAN_VENV forces its use, even when
# python3 imports an Odoo). Every command then runs Odoo, pytest and the linters with "$PY".
venv="${PAYMENT_PLAN_VENV:-$here/build/venv}"
PY=python3

odoo_importable() {
    "$1" - 2>/dev/null <<'PY'
import odoo.release
assert odoo.release.version_info[:2] == (19, 0), odoo.release.version
PY
}

# Use python3 when it imports Odoo 19.0, else the project's virtual environment, built on first
# use from ODOO_SRC: a local source tree, a local archive (.tar.gz, .zip) or a URL.
ensure_odoo() {
    if [ -x "$venv/bin/python" ] && odoo_importable "$venv/bin/python"; then
        PY="$venv/bin/python"
    elif [ -z "${PAYMENT_PLAN_VENV:-}" ] && odoo_importable python3; then
        PY=python3
    else
        build_odoo_venv
        PY="$venv/bin/python"
    fi
    export PY
}

# Odoo's requirements.txt with the known adjustments: cbor2 5.4.2 has no wheel for Python 3.11
# (5.6.5 has); python-ldap (LDAP log-in only) needs the LDAP headers; psycopg2 builds from
# source only where pg_config is (else psycopg2-binary, the same driver prebuilt). gevent (the
# websocket process of a server with workers) checks its zope dependencies with pkg_resources,
# which, with the setuptools of Python 3.11, does not find the releases of zope.interface and
# zope.event named the new way: the last ones named the old way.
odoo_requirements() {
    local pg_config_found=1
    command -v pg_config >/dev/null 2>&1 || pg_config_found=0
    sed -e 's/^cbor2==5\.4\.2\([ ;]\)/cbor2==5.6.5\1/' -e '/^python-ldap/d' "$1" \
        | if [ "$pg_config_found" = 1 ]; then cat; else sed 's/^psycopg2==/psycopg2-binary==/'; fi
    echo "zope.interface<7"
    echo "zope.event<5.1"
}

build_odoo_venv() {
    local src="${ODOO_SRC:-$ODOO_SRC_DEFAULT}" tree archive
    step "Setting up Odoo 19.0 in a virtual environment ($venv), from $src"
    python3 -c 'import sys; assert (3, 10) <= sys.version_info[:2] < (3, 14)' 2>/dev/null \
        || fail_step "checking Python" "Odoo 19.0 needs Python 3.10 to 3.13; python3 is $(python3 -V 2>&1)."
    if [ -d "$src" ]; then
        tree="$(cd "$src" && pwd)"
    else
        tree="$venv-src"
        archive="$src"
        mkdir -p "$(dirname "$venv")"
        if [ ! -f "$src" ]; then
            step "Downloading Odoo 19.0's source (about 300 MB)"
            archive="$venv-src.download"
            python3 - "$src" "$archive" <<'PY' || fail_step "downloading $src" "Check the address and the network, or set ODOO_SRC to a local Odoo 19.0 source tree or archive."
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as answer, open(sys.argv[2], 'wb') as out:
    shutil.copyfileobj(answer, out)
PY
        fi
        step "Unpacking $archive"
        python3 - "$archive" "$tree" <<'PY' || fail_step "unpacking $archive" "ODOO_SRC must be a .tar.gz, .tar or .zip of Odoo's source."
import os, shutil, sys, tarfile, tempfile, zipfile
archive, tree = sys.argv[1:]
work = tempfile.mkdtemp(dir=os.path.dirname(tree))
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as package:
        package.extractall(work)
else:
    with tarfile.open(archive) as package:
        package.extractall(work, filter='data')
entries = os.listdir(work)
root = os.path.join(work, entries[0]) if len(entries) == 1 else work
shutil.rmtree(tree, ignore_errors=True)
os.rename(root, tree)
shutil.rmtree(work, ignore_errors=True)
PY
        [ "$archive" = "$src" ] || rm -f "$archive"
    fi
    [ -f "$tree/odoo/release.py" ] && [ -f "$tree/requirements.txt" ] \
        || fail_step "finding Odoo's source" "$src holds no Odoo source tree (odoo/release.py, requirements.txt)."
    grep -q "^version_info = (19, 0," "$tree/odoo/release.py" \
        || fail_step "checking Odoo's version" "$src is not Odoo 19.0."
    step "Creating the virtual environment"
    rm -rf "$venv"
    python3 -m venv "$venv" \
        || fail_step "creating the virtual environment" "Install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)."
    step "Installing Odoo's Python requirements (a few minutes)"
    odoo_requirements "$tree/requirements.txt" > "$venv/odoo-requirements.txt"
    "$venv/bin/python" -m pip install -qq -r "$venv/odoo-requirements.txt" \
        || fail_step "installing Odoo's requirements" "See pip's message above (a package that builds from source may need a compiler and headers)."
    "$venv/bin/python" -m pip install -qq --no-deps -e "$tree" \
        || fail_step "installing Odoo" "See pip's message above."
    odoo_importable "$venv/bin/python" \
        || fail_step "importing Odoo" "$venv/bin/python cannot import Odoo 19.0: remove $venv and run again."
    step "Odoo 19.0 is ready in $venv (later runs reuse it)"
}

pg_answers() {
    "$PY" - <<'PY' 2>/dev/null
import os, psycopg2
psycopg2.connect(dbname="postgres", host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                 user=os.environ["PGUSER"], connect_timeout=5).close()
PY
}

# PostgreSQL: when none answers and the user is root on Debian/Ubuntu, install the
# distribution's server, start it and create the role; otherwise say what to do.
ensure_postgres() {
    pg_answers && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "PostgreSQL does not answer at ${PGHOST}:${PGPORT} for user ${PGUSER}: start it, or set PGHOST/PGPORT/PGUSER (Debian/Ubuntu, as root: apt-get install postgresql)."
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        step "PostgreSQL does not answer at ${PGHOST}:${PGPORT}: installing Debian's postgresql"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
            >/dev/null || fail_step "installing PostgreSQL" "Run apt-get install postgresql and read its message."
    fi
    step "Starting the local PostgreSQL server (used through /var/run/postgresql)"
    pg_lsclusters -h | while read -r version cluster _; do
        pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
    done
    export PGHOST=/var/run/postgresql PGPORT=5432
    if ! su postgres -c "psql -Atc \"SELECT 1 FROM pg_roles WHERE rolname = '${PGUSER}'\"" | grep -q 1; then
        step "Creating the PostgreSQL role ${PGUSER}"
        su postgres -c "createuser --superuser '${PGUSER}'" \
            || fail_step "creating the role ${PGUSER}" "Create it: su postgres -c 'createuser --superuser ${PGUSER}'."
    fi
    pg_answers || fail_step "connecting to PostgreSQL" "It does not answer on ${PGHOST}: see pg_lsclusters."
}

# OCA's queue_job (the add-on's dependency), from PyPI. Its wheel requires the "odoo"
# distribution, which an Odoo installed from source is not: installed without its dependencies,
# plus the one it needs (openupgradelib).
QUEUE_JOB_REQUIREMENT="odoo-addon-queue-job==19.0.2.4.0.1"
ensure_queue_job() {
    "$PY" -c "import odoo.addons.queue_job, openupgradelib" 2>/dev/null && return 0
    step "Installing OCA's queue_job ($QUEUE_JOB_REQUIREMENT)"
    "$PY" -m pip install -qq --no-deps "$QUEUE_JOB_REQUIREMENT" \
        && "$PY" -m pip install -qq openupgradelib \
        || fail_step "installing queue_job" "See pip's message above (PyPI must be reachable, or a local index set in pip's configuration)."
    "$PY" -c "import odoo.addons.queue_job" \
        || fail_step "importing queue_job" "$PY cannot import odoo.addons.queue_job."
}

check_requirements() {
    ensure_odoo
    ensure_queue_job
    ensure_postgres
}

# SQL on the maintenance database, in autocommit (CREATE/DROP DATABASE); prints the first
# column of the rows.
pg_sql() {
    "$PY" - "$1" <<'PY'
import os, sys, psycopg2
conn = psycopg2.connect(dbname="postgres", host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                        user=os.environ["PGUSER"])
conn.autocommit = True
with conn.cursor() as cr:
    cr.execute(sys.argv[1])
    for row in (cr.fetchall() if cr.description else []):
        print(row[0])
PY
}

# A TCP port nobody listens on (for a server started by a check).
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

drop_db() { pg_sql "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true; }
db_exists() { [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]; }

# Odoo finds an addon by its folder name: a clone may be named otherwise, so link it as
# build/addons/payment_plan (git ignores build/).
prepare_addons_path() {
    addons_dir="$here/build/addons"
    mkdir -p "$addons_dir"
    ln -sfn "$here" "$addons_dir/payment_plan"
}

# Odoo's console script for "$PY" (its scripts folder's `odoo`), else the source tree's odoo-bin:
# a server with workers starts its websocket process as `python <argv[0]> gevent`, which
# `python -m odoo` (argv[0]: odoo/__main__.py) cannot be.
odoo_bin() {
    local scripts tree
    scripts=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    if [ -x "$scripts/odoo" ]; then
        echo "$scripts/odoo"
        return
    fi
    tree=$("$PY" -c 'import os, odoo.release as r; print(os.path.dirname(os.path.dirname(os.path.abspath(r.__file__))))')
    [ -f "$tree/odoo-bin" ] || die "no console script odoo in $scripts nor odoo-bin in $tree"
    echo "$tree/odoo-bin"
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

