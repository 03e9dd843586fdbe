#!/bin/sh
# Sets the password of every Pioneer broker user from the environment: pioneer-<role> gets
# RABBITMQ_<ROLE>_PASSWORD. definitions.json creates the users without one (nobody can log in
# as them) and is imported again at every boot, so entrypoint.sh runs this after every start.
# The roles are the code's (`pioneer.definitions.grants`; tests/repo checks the list).
# PIONEER_USER_PREFIX renames the users (the repository tests use it on a shared broker).
set -eu
prefix=${PIONEER_USER_PREFIX:-pioneer-}
for role in stations volunteers wishes points notify client federation ops; do
  var="RABBITMQ_$(echo "$role" | tr '[:lower:]' '[:upper:]')_PASSWORD"
  eval "password=\${$var:-}"
  if [ -z "$password" ]; then
    echo "set-passwords: $var is not set" >&2
    exit 1
  fi
  rabbitmqctl -q change_password "$prefix$role" "$password" >/dev/null
done
echo "set-passwords: passwords set for ${prefix}{stations,volunteers,wishes,points,notify,client,federation,ops}"
