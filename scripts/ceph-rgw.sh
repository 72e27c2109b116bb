#!/usr/bin/env bash
# Boot or stop the throw-away Ceph RGW (loopback only) used by the test suite's RGW tier.
#   scripts/ceph-rgw.sh up     install Debian packages if missing (needs root + apt), boot, print S3_* values
#   scripts/ceph-rgw.sh down   stop the daemons (WIPE=1 also deletes the cluster dir)
# Tunables: see the top of scripts/ceph-rgw/up.sh (ports, CEPH_DIR, OBJECTSTORE, ...).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
  up) exec "$here/ceph-rgw/up.sh" ;;
  down) exec "$here/ceph-rgw/down.sh" ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
