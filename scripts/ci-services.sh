#!/usr/bin/env bash
# Make sure the loopback services the scale-out tests need are running (CI and fresh machines).
# Starts PostgreSQL, Redis and RabbitMQ if they are down; installs nginx and chromium if missing.
set -uo pipefail

wait_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  while ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 1
  done
  return 0
}

if ! wait_port 127.0.0.1 5432 1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port 127.0.0.1 5432 30 || echo "PostgreSQL did not come up"
fi
if ! wait_port 127.0.0.1 6379 1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_port 127.0.0.1 6379 15 || echo "Redis did not come up"
fi
if ! wait_port 127.0.0.1 5672 1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 127.0.0.1 5672 90 || echo "RabbitMQ did not come up"
fi

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 || echo "apt-get install ${need_apt[*]} failed"
fi
exit 0
