#!/bin/sh
# The containers' start of Alertmanager: start.sh BINARY ARGS... Alertmanager expands no
# environment variables in its config, so ALERT_WEBHOOK_URL is written to the file that
# alertmanager.yml's url_file names (on the container's tmpfs, readable by its user only),
# or removed when unset; then BINARY takes over the process.
set -eu
binary=$1
shift
umask 077
if [ -n "${ALERT_WEBHOOK_URL:-}" ]; then
  case $ALERT_WEBHOOK_URL in
    http://?* | https://?*) ;;
    *)
      echo "start.sh: ALERT_WEBHOOK_URL must be an http:// or https:// URL" >&2
      exit 2
      ;;
  esac
  printf '%s' "$ALERT_WEBHOOK_URL" >/alertmanager/webhook_url
else
  rm -f /alertmanager/webhook_url
fi
exec "$binary" "$@"
