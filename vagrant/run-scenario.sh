#!/bin/bash
# Run one of the shared scenario scripts (tests/scenarios/NAME.sh) on this box, as the VM test bed
# does in its Debian guest. Facts and the audit log end up in /vagrant/out/NAME/ on the host.
set -u
name=${1:?usage: run-scenario.sh SCENARIO_NAME}
here=$(cd "$(dirname "$0")/.." && pwd)
export PMS_OUT=$here/out/$name PMS_SCENARIOS=$here/tests/scenarios PMS_PLATFORM=vagrant
rm -rf "$PMS_OUT"; mkdir -p "$PMS_OUT"
bash "$PMS_SCENARIOS/$name.sh" 2>&1 | tee "$PMS_OUT/scenario.log"
echo "${PIPESTATUS[0]}" >"$PMS_OUT/rc"
cp /var/log/audit/audit.log "$PMS_OUT/" 2>/dev/null
echo "results: $PMS_OUT (rc=$(cat "$PMS_OUT/rc"))"
