#!/bin/sh
# opsgov patch report: posts this Debian/Ubuntu host's patch state to opsgov, which parses it server-side.
#
#   OPSGOV_URL=https://opsgov.example.org OPSGOV_HOST_TOKEN=... sh opsgov-patch-report.sh
#
# Sends (multipart form, with curl):
#   apt_simulate     `apt-get -s dist-upgrade` (LC_ALL=C; refreshes nothing: run `apt-get update` on your own schedule)
#   reboot_required  yes/no from /run/reboot-required ("unknown" where /run/reboot-required cannot exist, e.g. a
#                    container without systemd), and reboot_packages from /run/reboot-required.pkgs
#   needrestart      `needrestart -b` when needrestart is installed
#   history          the lines of /var/log/apt/history.log added since the last successful report
#                    (offset kept in $OPSGOV_STATE_DIR; a rotated, shorter log is sent whole)
#   timezone         the host's time zone: history.log times are local without a zone, opsgov reads them in it
#   hostname         for the reader (the token names the host)
#
# Exit status: 0 posted; 1 usage or a local tool failed; 2 opsgov refused the report (the answer is printed).
# POSIX sh; needs apt-get and curl. Run it from cron or a systemd timer, e.g. daily.
set -eu

: "${OPSGOV_URL:?set OPSGOV_URL, e.g. https://opsgov.example.org}"
: "${OPSGOV_HOST_TOKEN:?set OPSGOV_HOST_TOKEN (POST /api/v1/maintenance/hosts/ answers it once)}"
STATE_DIR=${OPSGOV_STATE_DIR:-/var/lib/opsgov-patch-report}
HISTORY_LOG=${OPSGOV_APT_HISTORY:-/var/log/apt/history.log}
REBOOT_FILE=${OPSGOV_REBOOT_FILE:-/run/reboot-required}

command -v apt-get >/dev/null 2>&1 || { echo "opsgov-patch-report: apt-get not found" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "opsgov-patch-report: curl not found" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opsgov-patch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$STATE_DIR"

LC_ALL=C apt-get -s -q dist-upgrade >"$WORK/apt" 2>"$WORK/apt.err" || {
    echo "opsgov-patch-report: apt-get -s dist-upgrade failed:" >&2
    cat "$WORK/apt.err" >&2
    exit 1
}

if [ -e "$REBOOT_FILE" ]; then
    reboot=yes
elif [ -d "$(dirname "$REBOOT_FILE")" ] && [ -d /run/systemd/system ]; then
    reboot=no
else
    reboot=unknown
fi
: >"$WORK/reboot.pkgs"
[ -r "$REBOOT_FILE.pkgs" ] && cat "$REBOOT_FILE.pkgs" >"$WORK/reboot.pkgs"

: >"$WORK/needrestart"
if command -v needrestart >/dev/null 2>&1; then
    needrestart -b >"$WORK/needrestart" 2>/dev/null || : >"$WORK/needrestart"
fi

offset=0
[ -r "$STATE_DIR/history.offset" ] && offset=$(cat "$STATE_DIR/history.offset")
case $offset in '' | *[!0-9]*) offset=0 ;; esac
size=0
: >"$WORK/history"
if [ -r "$HISTORY_LOG" ]; then
    size=$(wc -c <"$HISTORY_LOG" | tr -d ' ')
    [ "$size" -lt "$offset" ] && offset=0
    tail -c +"$((offset + 1))" "$HISTORY_LOG" | head -c "$((size - offset))" >"$WORK/history"
fi

tz=""
if [ -r /etc/timezone ]; then
    tz=$(head -n 1 /etc/timezone)
elif [ -L /etc/localtime ]; then
    tz=$(readlink /etc/localtime | sed 's|.*/zoneinfo/||')
fi
[ -n "$tz" ] || tz=UTC

status=$(curl -sS -o "$WORK/answer" -w '%{http_code}' --max-time 60 \
    -H "Authorization: Bearer $OPSGOV_HOST_TOKEN" \
    -F "apt_simulate=<$WORK/apt" \
    -F "history=<$WORK/history" \
    -F "needrestart=<$WORK/needrestart" \
    -F "reboot_required=$reboot" \
    -F "reboot_packages=<$WORK/reboot.pkgs" \
    -F "timezone=$tz" \
    -F "hostname=$(hostname)" \
    "${OPSGOV_URL%/}/api/v1/maintenance/patch-reports/") || {
    echo "opsgov-patch-report: could not reach $OPSGOV_URL" >&2
    exit 1
}
cat "$WORK/answer"
echo
case $status in
2??) echo "$size" >"$STATE_DIR/history.offset" ;;
*)
    echo "opsgov-patch-report: opsgov answered $status" >&2
    exit 2
    ;;
esac
