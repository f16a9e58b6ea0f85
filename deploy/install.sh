#!/usr/bin/env bash
# Install Vigil on Raspberry Pi OS / Debian 12 (arm64 or x86_64) from the checkout this script
# is in. Idempotent: a second run changes nothing. See docs/deploy.md.
#
#   sudo deploy/install.sh               install (or repair) and enable the service
#   sudo deploy/install.sh --now         ... and start it
#   sudo deploy/install.sh --uninstall   remove app, unit and rules; keep /var/lib/vigil, /etc/vigil
#   deploy/install.sh --root DIR --no-venv   install into a throwaway root (tests): no systemctl
#   deploy/install.sh --build-release    only build this checkout's venv; print its path
#
# Layout:
#   /opt/vigil/releases/<version>-<hash>/   one venv per installed checkout (pip install <checkout>)
#   /opt/vigil/current -> releases/<id>     what the service runs (switched by upgrade.sh)
#   /etc/vigil/vigil.toml                   settings (from deploy/vigil.toml.example if absent)
#   /var/lib/vigil                          database and backups (vigil:vigil 0750)
#   /etc/systemd/system/vigil.service       the unit (always refreshed from deploy/)
#   /etc/udev/rules.d/99-vigil.rules        stable device names (from deploy/ if absent)
#   /usr/local/bin/vigil -> /opt/vigil/current/bin/vigil   the CLI for administrators
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
PYTHON=${PYTHON:-python3}
ROOT=""
USE_VENV=1
UNINSTALL=0
START_NOW=0
BUILD_ONLY=0
ADMIN=""

log() { printf 'vigil-install: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	cat <<'EOF'

Options:
  --root DIR        install under DIR instead of / (no systemctl, no udevadm, no apt-get)
  --no-venv         do not build the Python environment (tests)
  --now             start (or restart) the service after installing
  --admin NAME      create the first administrator NAME if absent (asks for the PIN)
  --uninstall       remove the app, the unit and the udev rules (data and config are kept)
  --build-release   build the venv for this checkout only, print its path, change nothing else
  --source DIR      the checkout to install (default: the one this script is in)
  -h, --help        this text
Environment: PYTHON (default python3); PIP_* variables are passed to pip (for an offline
install: PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/wheelhouse).
EOF
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--root)
		[[ $# -ge 2 ]] || die "--root needs a directory"
		ROOT=$2
		shift 2
		;;
	--root=*)
		ROOT=${1#--root=}
		shift
		;;
	--source)
		[[ $# -ge 2 ]] || die "--source needs a directory"
		SOURCE_DIR=$(cd "$2" && pwd)
		shift 2
		;;
	--admin)
		[[ $# -ge 2 ]] || die "--admin needs a user name"
		ADMIN=$2
		shift 2
		;;
	--no-venv)
		USE_VENV=0
		shift
		;;
	--now)
		START_NOW=1
		shift
		;;
	--uninstall)
		UNINSTALL=1
		shift
		;;
	--build-release)
		BUILD_ONLY=1
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

if [[ -n $ROOT ]]; then
	mkdir -p "$ROOT"
	ROOT=$(cd "$ROOT" && pwd)
	[[ $ROOT != / ]] || ROOT=""
fi

APP=$ROOT/opt/vigil
RELEASES=$APP/releases
CURRENT=$APP/current
ETC=$ROOT/etc/vigil
CONFIG=$ETC/vigil.toml
DATA=$ROOT/var/lib/vigil
UNIT_DIR=$ROOT/etc/systemd/system
UNIT=$UNIT_DIR/vigil.service
WANTS=$UNIT_DIR/multi-user.target.wants/vigil.service
RULES=$ROOT/etc/udev/rules.d/99-vigil.rules
CLI_LINK=$ROOT/usr/local/bin/vigil
CLI_TARGET=../../../opt/vigil/current/bin/vigil
USER_NAME=vigil
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
REAL=1 # installing into the running system (not a throwaway root)
[[ -n $ROOT ]] && REAL=0

# -- helpers ---------------------------------------------------------------------------------

# put SRC DEST MODE: copy only when the content differs (keeps mtimes: idempotent), fix mode.
put() {
	local src=$1 dest=$2 mode=$3
	if ! cmp -s "$src" "$dest"; then
		install -m "$mode" "$src" "$dest"
		log "wrote ${dest#"$ROOT"}"
	fi
	[[ $(stat -c %a "$dest") == "${mode#0}" ]] || chmod "$mode" "$dest"
}

# put_if_absent SRC DEST MODE: a file the administrator owns after the first install.
put_if_absent() {
	local src=$1 dest=$2 mode=$3
	if [[ -e $dest ]]; then
		log "kept ${dest#"$ROOT"} (already present)"
	else
		install -m "$mode" "$src" "$dest"
		log "wrote ${dest#"$ROOT"}"
	fi
}

# ensure_dir DIR MODE [UID GID]
ensure_dir() {
	local dir=$1 mode=$2 owner=${3:-} group=${4:-}
	[[ -d $dir ]] || mkdir -p "$dir"
	[[ $(stat -c %a "$dir") == "${mode#0}" ]] || chmod "$mode" "$dir"
	if [[ -n $owner && $IS_ROOT -eq 1 ]]; then
		[[ $(stat -c %u:%g "$dir") == "$owner:$group" ]] || chown "$owner:$group" "$dir"
	fi
}

# ensure_link TARGET LINK: an (atomically replaced) symlink, rewritten only if it differs.
ensure_link() {
	local target=$1 link=$2
	if [[ ! -L $link || $(readlink "$link") != "$target" ]]; then
		ln -sfn "$target" "$link.new"
		mv -Tf "$link.new" "$link"
		log "linked ${link#"$ROOT"} -> $target"
	fi
}

has_group() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }
field() { awk -F: -v n="$1" -v f="$3" '$1 == n { print $f }' "$ROOT/etc/$2"; }

release_id() {
	local version hash
	version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$SOURCE_DIR/pyproject.toml" | head -n 1)
	[[ -n $version ]] || die "no version in $SOURCE_DIR/pyproject.toml"
	hash=$(
		cd "$SOURCE_DIR" &&
			find pyproject.toml README.md drivers service simulator web -type f \
				! -name '*.pyc' ! -path '*/__pycache__/*' -print0 2>/dev/null |
			LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c 1-12
	)
	printf '%s-%s\n' "$version" "$hash"
}

check_python() {
	"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
		die "Vigil needs Python >= 3.11 ($PYTHON is older); Debian 12 / Pi OS bookworm have 3.11"
	if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
		[[ $REAL -eq 1 ]] || die "$PYTHON cannot create venvs (install python3-venv)"
		log "installing python3-venv"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
	fi
}

# build_release: one venv per checkout content; a complete one is never rebuilt.
build_release() {
	local id dest
	id=$(release_id)
	dest=$RELEASES/$id
	if [[ -f $dest/.vigil-release && -x $dest/bin/vigil ]]; then
		log "release $id already built"
	else
		check_python
		ensure_dir "$APP" 0755
		ensure_dir "$RELEASES" 0755
		rm -rf "$dest" # an incomplete earlier attempt
		log "building release $id in ${dest#"$ROOT"} (pip install $SOURCE_DIR)"
		"$PYTHON" -m venv "$dest"
		"$dest/bin/pip" install --quiet --disable-pip-version-check "$SOURCE_DIR" >&2 ||
			{
				rm -rf "$dest"
				die "pip install failed (network? for an offline install see --help)"
			}
		"$dest/bin/vigil" drivers >/dev/null || {
			rm -rf "$dest"
			die "the new release does not run: $dest/bin/vigil drivers failed"
		}
		printf '%s\n' "$id" >"$dest/.vigil-release"
	fi
	printf '%s\n' "$dest"
}

systemctl_real() { if [[ $REAL -eq 1 ]]; then systemctl "$@"; fi; }

# -- uninstall -------------------------------------------------------------------------------

uninstall() {
	if [[ $REAL -eq 1 ]]; then
		[[ $IS_ROOT -eq 1 ]] || die "run as root (sudo $0 --uninstall)"
		systemctl disable --now vigil.service 2>/dev/null || true
	fi
	local path
	if [[ -L $CLI_LINK && $(readlink "$CLI_LINK") == "$CLI_TARGET" ]]; then
		rm -f "$CLI_LINK"
		log "removed ${CLI_LINK#"$ROOT"}"
	fi
	for path in "$WANTS" "$UNIT" "$RULES"; do
		if [[ -e $path || -L $path ]]; then
			rm -f "$path"
			log "removed ${path#"$ROOT"}"
		fi
	done
	if [[ -e $APP ]]; then
		rm -rf "$APP"
		log "removed ${APP#"$ROOT"}"
	fi
	if [[ $REAL -eq 1 ]]; then
		systemctl daemon-reload
		udevadm control --reload-rules 2>/dev/null || true
	fi
	log "kept ${DATA#"$ROOT"} (data), ${ETC#"$ROOT"} (settings) and the user $USER_NAME"
}

# -- install ---------------------------------------------------------------------------------

# A throwaway root gets a minimal user database (Debian's dialout and audio group numbers).
seed_root_users() {
	mkdir -p "$ROOT/etc"
	[[ -e $ROOT/etc/passwd ]] || printf 'root:x:0:0:root:/root:/bin/bash\n' >"$ROOT/etc/passwd"
	[[ -e $ROOT/etc/group ]] || printf 'root:x:0:\ndialout:x:20:\naudio:x:29:\n' >"$ROOT/etc/group"
	[[ -e $ROOT/etc/shadow ]] || printf 'root:*:19000:0:99999:7:::\n' >"$ROOT/etc/shadow"
	[[ -e $ROOT/etc/gshadow ]] || printf 'root:*::\ndialout:*::\naudio:*::\n' >"$ROOT/etc/gshadow"
	chmod 0640 "$ROOT/etc/shadow" "$ROOT/etc/gshadow"
}

ensure_user() {
	local groups=dialout group missing=()
	has_group audio && groups+=,audio
	has_group gpio && groups+=,gpio
	local prefix=()
	[[ $REAL -eq 1 ]] || prefix=(--prefix "$ROOT")
	if ! grep -q "^$USER_NAME:" "$ROOT/etc/passwd"; then
		useradd "${prefix[@]}" --system --user-group --home-dir /var/lib/vigil --no-create-home \
			--shell /usr/sbin/nologin --comment "Vigil bedside service" --groups "$groups" \
			"$USER_NAME"
		log "created system user $USER_NAME (groups $groups)"
		return
	fi
	IFS=, read -r -a wanted <<<"$groups"
	for group in "${wanted[@]}"; do
		grep -Eq "^$group:[^:]*:[^:]*:(.*,)?$USER_NAME(,|$)" "$ROOT/etc/group" || missing+=("$group")
	done
	if [[ ${#missing[@]} -gt 0 ]]; then
		local joined
		joined=$(
			IFS=,
			printf '%s' "${missing[*]}"
		)
		usermod "${prefix[@]}" --append --groups "$joined" "$USER_NAME"
		log "added $USER_NAME to $joined"
	fi
}

install_all() {
	if [[ $REAL -eq 1 ]]; then
		[[ $IS_ROOT -eq 1 ]] || die "run as root: sudo $0"
		[[ -e /etc/debian_version ]] || log "warning: not Debian / Raspberry Pi OS; continuing"
		case $(uname -m) in
		aarch64 | x86_64) ;;
		*) log "warning: $(uname -m) is untested (Vigil is tested on arm64 and x86_64)" ;;
		esac
	else
		seed_root_users
	fi
	for file in vigil.service 99-vigil.rules vigil.toml.example; do
		[[ -f $SCRIPT_DIR/$file ]] || die "missing $SCRIPT_DIR/$file"
	done

	ensure_user
	local uid gid
	uid=$(field "$USER_NAME" passwd 3)
	gid=$(field "$USER_NAME" passwd 4)
	[[ $IS_ROOT -eq 1 ]] || log "warning: not root, so ${DATA#"$ROOT"} is not given to $USER_NAME"

	# The application.
	if [[ $USE_VENV -eq 1 ]]; then
		local release id
		id=$(release_id)
		if [[ -L $CURRENT && $(readlink "$CURRENT") != "releases/$id" ]]; then
			log "kept release $(readlink "$CURRENT"): this checkout is $id;" \
				"upgrade with deploy/upgrade.sh (database backup and rollback)"
		else
			release=$(build_release)
			ensure_link "releases/$(basename "$release")" "$CURRENT"
		fi
		ensure_dir "$ROOT/usr/local/bin" 0755
		ensure_link "$CLI_TARGET" "$CLI_LINK"
		if [[ $REAL -eq 1 ]] && ! command -v aplay >/dev/null; then
			log "installing alsa-utils (aplay, for the local alarm sound)"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q alsa-utils >&2 ||
				log "warning: could not install alsa-utils: no local alarm sound"
		fi
	else
		log "application not touched (--no-venv)"
	fi

	# Settings and data.
	ensure_dir "$ETC" 0755
	put_if_absent "$SCRIPT_DIR/vigil.toml.example" "$CONFIG" 0644
	ensure_dir "$DATA" 0750 "$uid" "$gid"

	# systemd unit, enabled the way `systemctl enable` does it (WantedBy=multi-user.target).
	ensure_dir "$UNIT_DIR" 0755
	put "$SCRIPT_DIR/vigil.service" "$UNIT" 0644
	if [[ $REAL -eq 1 ]]; then
		systemctl daemon-reload
		systemctl enable vigil.service 2>&1 | sed 's/^/vigil-install: /' >&2
	else
		ensure_dir "$UNIT_DIR/multi-user.target.wants" 0755
		ensure_link ../vigil.service "$WANTS"
	fi

	# udev rules: a template the administrator completes (vigil devices --write-rule).
	ensure_dir "$ROOT/etc/udev/rules.d" 0755
	put_if_absent "$SCRIPT_DIR/99-vigil.rules" "$RULES" 0644
	if [[ $REAL -eq 1 ]]; then
		udevadm control --reload-rules 2>/dev/null || log "warning: udevadm could not reload rules"
		udevadm trigger --subsystem-match=tty 2>/dev/null || true
	fi

	if [[ -n $ADMIN ]]; then
		create_admin
	fi
	if [[ $START_NOW -eq 1 ]]; then
		systemctl_real restart vigil.service
	fi
	log "done. Next: vigil devices (serial adapters), edit ${CONFIG#"$ROOT"}," \
		"systemctl start vigil, journalctl -u vigil -f (docs/deploy.md)"
}

# create_admin: the first administrator, as the vigil user (the database stays the service's).
# Idempotent: an existing user of that name is left alone.
create_admin() {
	if [[ $REAL -eq 0 || $USE_VENV -eq 0 ]]; then
		log "first administrator not created (--root or --no-venv): run vigil users add"
		return
	fi
	local cli=/opt/vigil/current/bin/vigil
	if runuser -u vigil -- "$cli" users list --config "$CONFIG" | awk '{print $1}' |
		grep -qx -- "$ADMIN"; then
		log "administrator $ADMIN exists already"
		return
	fi
	runuser -u vigil -- "$cli" users add "$ADMIN" --role admin --config "$CONFIG"
}

if [[ $BUILD_ONLY -eq 1 ]]; then
	[[ $REAL -eq 0 || $IS_ROOT -eq 1 ]] || die "run as root: sudo $0 --build-release"
	build_release
elif [[ $UNINSTALL -eq 1 ]]; then
	uninstall
else
	install_all
fi
