#!/bin/sh
# The RabbitMQ container's entrypoint: the image's own, and once the node is up, the Pioneer
# users' passwords from the environment (set-passwords.sh). definitions.json carries the users
# without password hashes, so no password is fixed in the repository or the image, and until
# this has run nobody can log in; the healthcheck waits for $READY.
set -eu
READY=/tmp/pioneer-broker-ready
rm -f "$READY"
as_rabbitmq() {  # rabbitmqctl reads the node's Erlang cookie, which the rabbitmq user owns
  if [ "$(id -u)" = 0 ]; then gosu rabbitmq "$@"; else "$@"; fi
}
(
  # The node writes its cookie on first boot; a rabbitmqctl before it would write another.
  until [ -s /var/lib/rabbitmq/.erlang.cookie ]; do sleep 1; done
  until as_rabbitmq rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1; do sleep 2; done
  as_rabbitmq sh /pioneer/set-passwords.sh && touch "$READY"
) &
exec docker-entrypoint.sh rabbitmq-server
