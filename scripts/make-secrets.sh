#!/bin/sh
# Create the secrets files that compose.yaml mounts, with random passwords (admin_password is
# the first admin's: sign in as "admin" with it), and nginx's HTTPS certificate: tls.crt and
# tls.key. Bring your own by putting them there first; otherwise a local certificate authority
# (ca.crt, ca.key) is made and signs one for localhost and 127.0.0.1 (openssl). Idempotent: a
# file that exists is kept, never overwritten (the database keeps the passwords it was created
# with), and a certificate is renewed only when it expires within 30 days.
#
#   scripts/make-secrets.sh [--tls-only] [DIR]
#       DIR: else $SECRETS_DIR (absolute, as compose reads it too), else secrets/ at the top of
#       the repository (git-ignored). --tls-only: the certificate only (`make run` needs no
#       database passwords).
#
# The directory is private (0700) and the files inside readable (0644): compose bind-mounts each
# file into the containers, whose users (999 for MongoDB, 10001 for the backend, 101 for nginx)
# are not the owner, while other users of this machine cannot enter the directory. Only the CA's
# key, which no container needs, stays 0600.
set -eu

tls_only=0
if [ "${1:-}" = "--tls-only" ]; then
  tls_only=1
  shift
fi
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

if [ $tls_only -eq 0 ]; then
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
fi

# ---- HTTPS: tls.crt (the server's certificate, then the CA's) and tls.key --------------------
# ECDSA P-256 keys: small, fast handshakes, accepted by every browser that TLS 1.2 admits.
# The names the certificate is good for: TLS_NAMES (DNS names and IP addresses, space-separated).
tls_names=${TLS_NAMES:-localhost 127.0.0.1}
if [ -s "$dir/tls.crt" ] && [ ! -s "$dir/ca.key" ]; then
  echo "make-secrets: kept    $dir/tls.crt and $dir/tls.key (yours: not renewed here)"
  exit 0
fi
if [ -s "$dir/tls.crt" ] && openssl x509 -checkend 2592000 -noout -in "$dir/tls.crt" >/dev/null; then
  echo "make-secrets: kept    $dir/tls.crt"
else
  command -v openssl >/dev/null 2>&1 || {
    echo "make-secrets: openssl is needed for the HTTPS certificate (apt-get install openssl)," \
      "or put your own tls.crt and tls.key in $dir" >&2
    exit 1
  }
  if [ ! -s "$dir/ca.key" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
      -days 3650 -subj "/CN=VDT 2023 local CA $(hostname)" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    chmod 600 "$dir/ca.key"
    chmod 644 "$dir/ca.crt"
    echo "make-secrets: created $dir/ca.crt and $dir/ca.key (a certificate authority of your own)"
  fi
  san=""
  for name in $tls_names; do
    case $name in
      *[!0-9.]* | "") kind=DNS ;;
      *) kind=IP ;;
    esac
    case $name in *:*) kind=IP ;; esac
    san="${san:+$san,}$kind:$name"
  done
  extensions=$(mktemp)
  trap 'rm -f "$extensions" "$dir/tls.csr"' EXIT
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=$san" >"$extensions"
  first=$(printf '%s' "$tls_names" | cut -d' ' -f1)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=$first" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  # 397 days: the longest validity browsers accept for a server certificate.
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -days 397 -sha256 -extfile "$extensions" \
    -out "$dir/tls.crt" 2>/dev/null
  cat "$dir/ca.crt" >>"$dir/tls.crt"
  chmod 644 "$dir/tls.crt" "$dir/tls.key"
  echo "make-secrets: created $dir/tls.crt and $dir/tls.key for: $tls_names"
  echo "make-secrets: to trust them, trust $dir/ca.crt: curl --cacert $dir/ca.crt ...;" \
    "system-wide on Debian: cp $dir/ca.crt /usr/local/share/ca-certificates/vdt2023-local-ca.crt" \
    "&& update-ca-certificates; in a browser: import it as an authority (Settings > Certificates)"
fi
