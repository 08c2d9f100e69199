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
  # Each name as a subjectAltName entry (san) and as a name constraint of the CA (permitted):
  # an IPv4 address is a /32 and an IPv6 address a /128 there.
  san=""
  permitted=""
  for name in $tls_names; do
    case $name in
      *[!0-9.]* | "") kind=DNS ;;
      *) kind=IP ;;
    esac
    case $name in *:*) kind=IP ;; esac
    san="${san:+$san,}$kind:$name"
    case $kind:$name in
      IP:*:*) subtree="IP:$name/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" ;;
      IP:*) subtree="IP:$name/255.255.255.255" ;;
      *) subtree="DNS:$name" ;;
    esac
    permitted="${permitted:+$permitted,}permitted;$subtree"
  done
  if [ ! -s "$dir/ca.key" ]; then
    # Name constraints: the CA can sign for TLS_NAMES only, so its key (which lies unencrypted
    # beside the other secrets) cannot be used to impersonate any other site to whoever trusts
    # it. Two years, not ten: long enough for a leaf's year and its renewal, short enough that a
    # forgotten trust entry and a copied key stop mattering on their own.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
      -days 730 -subj "/CN=VDT 2023 local CA $(hostname)" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "nameConstraints=critical,$permitted" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    chmod 600 "$dir/ca.key"
    chmod 644 "$dir/ca.crt"
    echo "make-secrets: created $dir/ca.crt and $dir/ca.key (a certificate authority of your own," \
      "good for 2 years and only for: $tls_names)"
  fi
  # A kept CA must still cover TLS_NAMES, or clients would refuse the certificate it signs.
  constraints=$(openssl x509 -in "$dir/ca.crt" -noout -ext nameConstraints 2>/dev/null || true)
  if [ -n "$constraints" ]; then
    for name in $tls_names; do
      case $name in *:*) continue ;; esac # IPv6 is printed expanded: not compared here
      case $constraints in
        *"DNS:$name"[!.a-zA-Z0-9-]* | *"DNS:$name" | *"IP:$name/"*) ;;
        *)
          echo "make-secrets: $dir/ca.crt may sign only for the names it was made for, not $name;" \
            "delete $dir/ca.crt and $dir/ca.key to make a CA for TLS_NAMES (and trust it anew)" >&2
          exit 1
          ;;
      esac
    done
  else
    echo "make-secrets: note: $dir/ca.crt has no name constraints (made by an older version):" \
      "it can sign for any site. Delete $dir/ca.crt and $dir/ca.key to replace it." >&2
  fi
  # The leaf lives 365 days (at most 366 is what current browser policy and sslyze accept),
  # and never past its CA.
  ca_end=$(date -d "$(openssl x509 -in "$dir/ca.crt" -noout -enddate | cut -d= -f2)" +%s)
  ca_days=$(((ca_end - $(date +%s)) / 86400))
  if [ "$ca_days" -le 31 ]; then
    echo "make-secrets: $dir/ca.crt expires in $ca_days days: delete $dir/ca.crt and" \
      "$dir/ca.key to make a new CA (and trust the new one instead)" >&2
    exit 1
  fi
  leaf_days=$((ca_days < 365 ? ca_days : 365))
  extensions=$(mktemp)
  trap 'rm -f "$extensions" "$dir/tls.csr"' EXIT
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=$san" >"$extensions"
  # The subject names the first DNS name; with addresses only, a label that is no host name:
  # OpenSSL checks a host-like CN against the CA's DNS constraints when no SAN is a DNS name.
  common_name="VDT 2023 local server"
  for name in $tls_names; do
    case $name in
      *:*) ;; # an IPv6 address
      *[!0-9.]*)
        common_name=$name
        break
        ;;
    esac
  done
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=$common_name" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -days "$leaf_days" -sha256 -extfile "$extensions" \
    -out "$dir/tls.crt" 2>/dev/null
  cat "$dir/ca.crt" >>"$dir/tls.crt"
  chmod 644 "$dir/tls.crt" "$dir/tls.key"
  echo "make-secrets: created $dir/tls.crt and $dir/tls.key for: $tls_names ($leaf_days days)"
  echo "make-secrets: trusting $dir/ca.crt means: whoever holds $dir/ca.key can show you a" \
    "certificate for $tls_names that you will accept without a warning. Trust it only where" \
    "you need it, per tool: curl --cacert $dir/ca.crt ...; requests: REQUESTS_CA_BUNDLE=$dir/ca.crt;" \
    "one browser profile: import it as an authority (Settings > Certificates). Avoid the" \
    "system-wide store (every program of every user would trust it); undo any trust by" \
    "removing the imported authority."
fi
