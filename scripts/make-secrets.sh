#!/bin/sh
# Create the secrets files that compose.yaml mounts, with random passwords (admin_password is
# the first admin's: sign in as "admin" with it). Idempotent: a file
# that exists is kept, never overwritten (the database keeps the passwords it was created with).
#
#   scripts/make-secrets.sh [DIR]   DIR: else $SECRETS_DIR (absolute, as compose reads it too),
#                                   else secrets/ at the top of the repository (git-ignored)
#
# The directory is private (0700) and the files inside readable (0644): compose bind-mounts each
# file into the containers, whose users (999 for MongoDB, 10001 for the backend) are not the
# owner, while other users of this machine cannot enter the directory.
set -eu

dir=${1:-${SECRETS_DIR:-$(dirname "$0")/../secrets}}
app_user=vdt_app   # the same name as MONGO_APP_USERNAME in compose.yaml
app_db=vdt2023

umask 077
mkdir -p "$dir"
chmod 700 "$dir"

# 32 letters and digits: strong, and safe in a URI without escaping.
random_password() {
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32
}

# write NAME VALUE: create DIR/NAME with VALUE unless it already exists (non-empty).
write() {
  if [ -s "$dir/$1" ]; then
    echo "make-secrets: kept    $dir/$1"
    return
  fi
  printf '%s' "$2" >"$dir/$1"
  chmod 644 "$dir/$1"
  echo "make-secrets: created $dir/$1"
}

write admin_password "$(random_password)"
write mongo_root_username vdt_root
write mongo_root_password "$(random_password)"
write mongo_app_password "$(random_password)"
app_password=$(cat "$dir/mongo_app_password")
write mongo_app_uri \
  "mongodb://$app_user:$app_password@database:27017/$app_db?authSource=$app_db"

# A kept URI must still carry the kept password, or the backend could not log in.
case $(cat "$dir/mongo_app_uri") in
  *":$app_password@"*) ;;
  *)
    echo "make-secrets: $dir/mongo_app_uri does not hold the password in $dir/mongo_app_password;" \
      "delete both to start over" >&2
    exit 1
    ;;
esac
