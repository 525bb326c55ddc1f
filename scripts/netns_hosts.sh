#!/usr/bin/env bash
# Two hosts on one machine, for MPI runs without a cluster: network namespaces
# bwb-a (198.18.0.1) and bwb-b (198.18.0.2) joined by a veth pair, addresses from
# the benchmarking range 198.18.0.0/15 (RFC 2544), optionally shaped by tc to a
# known rate in each direction. Ranks in bwb-b are started through
# scripts/netns_rsh, the rsh agent mpiexec calls instead of ssh, with a host name
# of their own, so MPI sees two nodes and talks TCP over the veth pair, not
# shared memory. Needs root (CAP_NET_ADMIN).
#
#   scripts/netns_hosts.sh up [--rate 1gbit]   create (again), shaped if --rate is given
#   scripts/netns_hosts.sh mpiexec ARGS...     Open MPI's mpiexec ($MPIEXEC, else the one on PATH)
#                                              in bwb-a, one slot on each host
#   scripts/netns_hosts.sh down                remove both namespaces (and the veth pair)
#   scripts/netns_hosts.sh status              addresses and queueing disciplines
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
A=bwb-a B=bwb-b ADDR_A=198.18.0.1 ADDR_B=198.18.0.2

down() {
  for ns in $A $B; do
    if ip netns list | grep -qw "$ns"; then ip netns del "$ns"; fi
  done
}

up() {
  local rate=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --rate) rate="${2:?--rate needs a value, e.g. 1gbit}"; shift 2 ;;
      *) echo "netns_hosts.sh: unknown option $1" >&2; exit 2 ;;
    esac
  done
  down
  ip netns add $A
  ip netns add $B
  ip link add bwb-veth-a type veth peer name bwb-veth-b
  ip link set bwb-veth-a netns $A
  ip link set bwb-veth-b netns $B
  ip -n $A addr add $ADDR_A/24 dev bwb-veth-a
  ip -n $B addr add $ADDR_B/24 dev bwb-veth-b
  for ns in $A $B; do ip -n "$ns" link set lo up; done
  ip -n $A link set bwb-veth-a up
  ip -n $B link set bwb-veth-b up
  if [ -n "$rate" ]; then
    # a token bucket on each side's egress shapes each direction; the burst is
    # about 1 ms at 1 Gbit/s, so a message of a few MB sees the rate, not the burst
    ip netns exec $A tc qdisc replace dev bwb-veth-a root tbf rate "$rate" burst 128kb latency 20ms
    ip netns exec $B tc qdisc replace dev bwb-veth-b root tbf rate "$rate" burst 128kb latency 20ms
  fi
  echo "hosts up: $A $ADDR_A, $B $ADDR_B${rate:+, shaped to $rate each way}"
}

status() {
  for ns in $A $B; do
    echo "== $ns"
    ip -n "$ns" -brief addr
    ip netns exec "$ns" tc qdisc show
  done
}

run_mpiexec() {
  # Open MPI as root needs its two allow-run-as-root variables; harmless otherwise
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # Each host gets half the CPUs (netns_rsh pins bwb-b's); left to itself, mpiexec
  # binds the first rank of each "node" to CPU 0, so both would share one core.
  local n half
  n=$(nproc)
  half=$(( n > 1 ? n / 2 : 1 ))
  export BWB_CPUS_A="0-$(( half - 1 ))" BWB_CPUS_B="$(( n > 1 ? half : 0 ))-$(( n - 1 ))"
  exec ip netns exec $A unshare --uts taskset -c "$BWB_CPUS_A" sh -c 'hostname "$0" && exec "$@"' $A \
    "${MPIEXEC:-mpiexec}" --bind-to none --host $ADDR_A,$ADDR_B --prtemca plm_ssh_agent "$HERE/netns_rsh" "$@"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  mpiexec) shift; run_mpiexec "$@" ;;
  *) echo "usage: $0 up [--rate 1gbit] | mpiexec ARGS... | down | status" >&2; exit 2 ;;
esac
