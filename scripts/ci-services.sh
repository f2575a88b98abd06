#!/usr/bin/env bash
# Make sure the loopback services the tests need are installed and running (CI and fresh machines):
# PostgreSQL (user postgres, no password on 127.0.0.1), Redis, RabbitMQ (guest/guest), Debian's nginx
# (run by the edge tests themselves, never as a service) and Chromium. Installs what is missing from
# Debian's packages, starts what is down, and never fails by itself: with SKUPIX_REQUIRE_SERVICES=1
# the tests fail for whatever is still missing.
set -uo pipefail

wait_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  while ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 1
  done
  return 0
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

need_apt=()
have pg_ctlcluster || need_apt+=(postgresql)
have redis-server || need_apt+=(redis-server)
have rabbitmq-server || need_apt+=(rabbitmq-server)
have nginx || need_apt+=(nginx-light)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 \
    || echo "apt-get install ${need_apt[*]} failed"
fi

if ! wait_port 127.0.0.1 5432 1; then
  echo "starting PostgreSQL"
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  if [ -n "$version" ]; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    # The tests connect as postgres without a password over loopback (tests/services.py).
    if [ -f "$hba" ] && ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  wait_port 127.0.0.1 5432 30 || echo "PostgreSQL did not come up"
fi
if ! wait_port 127.0.0.1 6379 1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_port 127.0.0.1 6379 15 || echo "Redis did not come up"
fi
if ! wait_port 127.0.0.1 5672 1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 127.0.0.1 5672 90 || echo "RabbitMQ did not come up"
fi
exit 0
