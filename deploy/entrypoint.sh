#!/bin/sh
# Runs the command as the unprivileged `oos` user. Started as root (Fly mounts volumes
# root-owned), it first gives /data to `oos`; started as any other user, it just runs it.
set -eu
if [ "$(id -u)" = 0 ]; then
    chown oos:oos /data
    exec setpriv --reuid=oos --regid=oos --init-groups "$@"
fi
exec "$@"
