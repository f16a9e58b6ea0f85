#!/usr/bin/env bash
# Upgrade an installed Vigil to the checkout this script is in; roll back on any failure.
#
#   sudo deploy/upgrade.sh
#   deploy/upgrade.sh --root DIR --release NAME --no-restart     (tests: no systemctl)
#
# Steps: build the new release's venv (install.sh --build-release) and smoke-test it; stop the
# service; back up the SQLite database with sqlite3's online backup API (Connection.backup) to
# /var/lib/vigil/backups/; run the migrations with the new release (vigil db upgrade); switch
# /opt/vigil/current; refresh the unit and rules (install.sh); start the service and check it
# stays up past one watchdog period. If any step fails: the old release, the database restored
# from the backup, the service started again, exit status 1.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
ROOT=""
RELEASE=""
RESTART=1
DB_OVERRIDE=""
SETTLE_S=15
KEEP_BACKUPS=10

log() { printf 'vigil-upgrade: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	cat <<'EOF'
Usage: sudo deploy/upgrade.sh [options]
  --release NAME   use an already-built release under /opt/vigil/releases instead of building
                   this checkout (e.g. one built earlier with install.sh --build-release)
  --db PATH        the SQLite database (default: from /etc/vigil/vigil.toml: db_url or
                   data_dir/vigil.db); give it if VIGIL_DB_URL is set in a systemd drop-in;
                   --db none: not SQLite, no backup here (migrations still run)
  --settle SECONDS how long the new service must stay up after starting (default 15)
  --root DIR       operate on a throwaway root (tests); implies no systemctl
  --no-restart     do not stop or start the service
  -h, --help       this text
EOF
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--root)
		[[ $# -ge 2 ]] || die "--root needs a directory"
		ROOT=$(cd "$2" && pwd)
		RESTART=0
		shift 2
		;;
	--release)
		[[ $# -ge 2 ]] || die "--release needs a name"
		RELEASE=$(basename "$2")
		shift 2
		;;
	--db)
		[[ $# -ge 2 ]] || die "--db needs a path"
		DB_OVERRIDE=$2
		shift 2
		;;
	--settle)
		[[ $# -ge 2 ]] || die "--settle needs seconds"
		SETTLE_S=$2
		shift 2
		;;
	--no-restart)
		RESTART=0
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done

[[ $ROOT != / ]] || ROOT=""
APP=$ROOT/opt/vigil
CURRENT=$APP/current
CONFIG=$ROOT/etc/vigil/vigil.toml
DATA=$ROOT/var/lib/vigil
BACKUPS=$DATA/backups
REAL=1
[[ -n $ROOT ]] && REAL=0
[[ $REAL -eq 0 || $(id -u) -eq 0 ]] || die "run as root: sudo $0"

# -- helpers ---------------------------------------------------------------------------------

switch_to() { # switch_to releases/<id>: atomic symlink replacement
	ln -sfn "$1" "$CURRENT.new"
	mv -Tf "$CURRENT.new" "$CURRENT"
	log "current -> $1"
}

# The database file, from the settings the service reads (TOML only; see --db).
db_path() {
	if [[ $DB_OVERRIDE == none ]]; then
		return
	elif [[ -n $DB_OVERRIDE ]]; then
		printf '%s\n' "$DB_OVERRIDE"
		return
	fi
	"$PYTHON" - "$CONFIG" "$ROOT" <<'EOF'
import sys, tomllib
from pathlib import Path

config, root = Path(sys.argv[1]), sys.argv[2]
settings = tomllib.loads(config.read_text()) if config.is_file() else {}
url = settings.get("db_url")
if url:
    if not url.startswith("sqlite:///"):
        sys.exit(f"db_url {url!r} is not SQLite: back it up yourself, then pass --db none")
    path = Path(url.removeprefix("sqlite:///"))
else:
    path = Path(settings.get("data_dir", "data")) / "vigil.db"
if not path.is_absolute():
    path = Path("/var/lib/vigil") / path  # the unit's WorkingDirectory
print(f"{root}{path}")
EOF
}

# sqlite_copy SRC DEST: sqlite3's online backup (safe with WAL), then an integrity check.
sqlite_copy() {
	"$PYTHON" - "$1" "$2" <<'EOF'
import sqlite3, sys

src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
result = dst.execute("PRAGMA integrity_check").fetchone()[0]
dst.close()
src.close()
sys.exit(0 if result == "ok" else f"integrity check of {sys.argv[2]} failed: {result}")
EOF
}

svc() { if [[ $RESTART -eq 1 ]]; then systemctl "$@"; fi; }

as_vigil() {
	if [[ $REAL -eq 1 ]]; then
		runuser -u vigil -- "$@"
	else
		"$@"
	fi
}

# started_ok: active after SETTLE_S seconds with no restart in between (a watchdog kill or a
# crash would restart it: Restart=on-failure).
started_ok() {
	[[ $RESTART -eq 1 ]] || return 0
	systemctl start vigil.service || return 1
	local before
	before=$(systemctl show -p NRestarts --value vigil.service)
	sleep "$SETTLE_S"
	systemctl is-active --quiet vigil.service &&
		[[ $(systemctl show -p NRestarts --value vigil.service) == "$before" ]]
}

# -- the upgrade -----------------------------------------------------------------------------

[[ -L $CURRENT ]] || die "no installed release at ${CURRENT#"$ROOT"}: run deploy/install.sh first"
OLD=$(readlink "$CURRENT")
if [[ -n $RELEASE ]]; then
	NEW=releases/$RELEASE
else
	install_args=(--build-release)
	[[ $REAL -eq 1 ]] || install_args+=(--root "$ROOT")
	NEW=releases/$(basename "$("$SCRIPT_DIR/install.sh" "${install_args[@]}")")
fi
[[ -x $APP/$NEW/bin/vigil ]] || die "${APP#"$ROOT"}/$NEW/bin/vigil is missing"
if [[ $NEW == "$OLD" ]]; then
	log "already running $NEW: nothing to do"
	exit 0
fi
"$APP/$NEW/bin/vigil" drivers >/dev/null || die "$NEW does not run (vigil drivers failed)"

DB=$(db_path)
BACKUP=""
HAD_DB=0
[[ -n $DB && -e $DB ]] && HAD_DB=1

rollback() {
	log "FAILED: $*; rolling back to $OLD"
	svc stop vigil.service || true
	switch_to "$OLD"
	if [[ $HAD_DB -eq 1 ]]; then
		if sqlite_copy "$BACKUP" "$DB"; then
			log "database restored from ${BACKUP#"$ROOT"}"
		else
			log "could NOT restore the database: copy ${BACKUP#"$ROOT"} over ${DB#"$ROOT"} by hand"
		fi
	elif [[ -n $DB ]]; then
		rm -f "$DB" "$DB-wal" "$DB-shm" # created by the failed migration
	fi
	if [[ $RESTART -eq 1 ]]; then
		systemctl start vigil.service ||
			log "the old release did not start either: see journalctl -u vigil"
	fi
	exit 1
}

log "upgrading $OLD -> $NEW"
svc stop vigil.service

if [[ $HAD_DB -eq 1 ]]; then
	mkdir -p "$BACKUPS"
	BACKUP=$BACKUPS/vigil-$(date -u +%Y%m%dT%H%M%SZ)-${OLD#releases/}.db
	sqlite_copy "$DB" "$BACKUP" || rollback "database backup"
	if [[ $REAL -eq 1 ]]; then
		chown vigil:vigil "$BACKUPS" "$BACKUP"
	fi
	chmod 0750 "$BACKUPS"
	chmod 0640 "$BACKUP"
	log "database backed up to ${BACKUP#"$ROOT"}"
fi

migrate=("$APP/$NEW/bin/vigil" db upgrade --config "$CONFIG")
[[ -z $DB ]] || migrate+=(--db "sqlite:///$DB")
as_vigil "${migrate[@]}" >&2 || rollback "database migration (vigil db upgrade)"

switch_to "$NEW"
install_args=(--no-venv)
[[ $REAL -eq 1 ]] || install_args+=(--root "$ROOT")
"$SCRIPT_DIR/install.sh" "${install_args[@]}" || rollback "refreshing the unit and rules"
started_ok || rollback "the service did not stay up (journalctl -u vigil)"

# Keep the previous release (for a manual rollback) and the last backups; drop the rest.
for dir in "$APP"/releases/*/; do
	name=releases/$(basename "$dir")
	if [[ $name != "$NEW" && $name != "$OLD" ]]; then
		rm -rf "$dir"
		log "removed old $name"
	fi
done
if [[ -d $BACKUPS ]]; then
	find "$BACKUPS" -maxdepth 1 -name 'vigil-*.db' -printf '%T@ %p\n' | sort -rn |
		tail -n +$((KEEP_BACKUPS + 1)) | cut -d ' ' -f 2- | xargs -r rm -f
fi
log "upgraded to $NEW (previous release ${OLD#releases/} kept for rollback)"
