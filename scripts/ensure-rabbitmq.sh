#!/usr/bin/env bash
# Make sure a RabbitMQ broker with the management and federation plugins answers on this
# machine: install Debian's rabbitmq-server if missing, start it if stopped, enable plugins.
# Stops with a one-line reason where it cannot (not root, no apt, port taken by something else).
set -euo pipefail

fail() { echo "broker: $*" >&2; exit 1; }
AMQP_PORT=${AMQP_PORT:-5672}
API_PORT=${RABBIT_API_PORT:-15672}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
api_ok() { curl -fsS -m 3 -u guest:guest "http://127.0.0.1:$API_PORT/api/overview" >/dev/null 2>&1; }
# await_startup fails at once while a detached node has not yet registered: ask until it answers.
await_broker() {
  for _ in $(seq 1 120); do
    rabbitmqctl -q await_startup --timeout 120 >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else fail "must run as root to: $*"; fi; }

if ! command -v curl >/dev/null; then
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || fail "curl is missing and cannot be installed (not root or no apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >/dev/null || fail "apt-get install curl failed"
fi

if ! command -v rabbitmq-server >/dev/null && ! [ -x /usr/sbin/rabbitmq-server ]; then
  if port_open "$AMQP_PORT"; then
    fail "port $AMQP_PORT is taken by something that is not a local rabbitmq-server"
  fi
  command -v apt-get >/dev/null || fail "rabbitmq-server is missing and there is no apt-get to install it"
  [ "$(id -u)" = 0 ] || fail "rabbitmq-server is missing; installing it needs root"
  echo "broker: installing rabbitmq-server (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || fail "apt-get update failed"
  apt-get install -y -q rabbitmq-server >/dev/null || fail "apt-get install rabbitmq-server failed"
fi
export PATH="$PATH:/usr/sbin:/usr/lib/rabbitmq/bin"

if ! rabbitmqctl -q status >/dev/null 2>&1; then
  if port_open "$AMQP_PORT"; then
    fail "port $AMQP_PORT is in use but rabbitmqctl cannot reach a local broker"
  fi
  echo "broker: starting rabbitmq-server" >&2
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  await_broker || fail "rabbitmq-server did not start (see /var/log/rabbitmq)"
fi

enabled=$(rabbitmq-plugins -q list -e -m 2>/dev/null || true)
need=()
for plugin in rabbitmq_management rabbitmq_federation rabbitmq_federation_management; do
  grep -qx "$plugin" <<<"$enabled" || need+=("$plugin")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "broker: enabling ${need[*]}" >&2
  as_root rabbitmq-plugins -q enable "${need[@]}" >/dev/null || fail "could not enable ${need[*]}"
fi

for _ in $(seq 1 60); do api_ok && break; sleep 1; done
api_ok || fail "management API on port $API_PORT does not answer"

# Every quorum queue keeps files open, and the test layers run several suites at once, each
# with vhosts of its own: a broker under the usual limit of 1,024 descriptors runs out, refuses
# connections, and the suites hang. Debian starts it through su, whose PAM session sets the
# limit, so the limit goes in limits.d and the broker is restarted under it, once.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=65536
MIN_FDS=${RABBIT_MIN_FDS:-$((hard < 65536 ? hard : 65536))}
fd_total() {  # 0 until the node reports it
  local total
  for _ in $(seq 1 30); do
    total=$(curl -fsS -m 5 -u guest:guest "http://127.0.0.1:$API_PORT/api/nodes" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)[0].get("fd_total") or 0)' 2>/dev/null) || total=0
    [ "$total" -gt 0 ] && break
    sleep 1
  done
  echo "$total"
}
fds=$(fd_total)
if [ "$fds" -lt "$MIN_FDS" ]; then
  [ "$(id -u)" = 0 ] || fail "the broker may open $fds files, fewer than $MIN_FDS; raise its nofile limit as root"
  echo "broker: restarting rabbitmq-server with $MIN_FDS file descriptors (it had $fds)" >&2
  printf 'rabbitmq soft nofile %s\nrabbitmq hard nofile %s\n' "$MIN_FDS" "$MIN_FDS" \
    > /etc/security/limits.d/90-rabbitmq-nofile.conf
  rabbitmqctl -q stop >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do pgrep -u rabbitmq -f beam.smp >/dev/null || break; sleep 1; done
  rabbitmq-server -detached >/dev/null 2>&1 || true
  await_broker || fail "rabbitmq-server did not start again (see /var/log/rabbitmq)"
  for _ in $(seq 1 60); do api_ok && break; sleep 1; done
  api_ok || fail "management API on port $API_PORT does not answer after the restart"
  fds=$(fd_total)
  [ "$fds" -ge "$MIN_FDS" ] || fail "the broker may still open only $fds files after the restart"
fi
echo "broker: ready (amqp 127.0.0.1:$AMQP_PORT, management 127.0.0.1:$API_PORT)"
