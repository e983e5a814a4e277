#!/bin/sh
# Copies the /proc, /sys and /etc files the machine and fs readers use into a fixture tree.
# Usage: scripts/capture-machine-fixture.sh <dest-dir> [root]
# Set DROP_MOUNTS to a grep -E pattern to leave private mounts out of the captured mountinfo.
# Only small text files are copied; unreadable files (e.g. a NIC's `speed` that fails with EINVAL)
# are left out, just as the readers then see them.
set -eu
dest=${1:?usage: $0 <dest-dir> [root]}
root=${2:-}

copy() { # copy one file, keeping its path below the root
    src="$root$1"
    [ -f "$src" ] || return 0
    mkdir -p "$dest$(dirname "$1")"
    cat "$src" > "$dest$1" 2>/dev/null || rm -f "$dest$1"
}

for f in /proc/cpuinfo /proc/meminfo /proc/diskstats /proc/1/mountinfo /proc/self/mountinfo \
    /proc/sys/kernel/osrelease /proc/sys/kernel/random/boot_id \
    /etc/machine-id /var/lib/dbus/machine-id /etc/os-release \
    /sys/devices/system/cpu/online /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq; do
    copy "$f"
done

for cpu in "$root"/sys/devices/system/cpu/cpu[0-9]*; do
    for f in "$cpu"/topology/core_id "$cpu"/topology/physical_package_id "$cpu"/cache/index*/*; do
        case $f in */uevent) continue ;; esac
        [ -f "$f" ] && copy "${f#"$root"}"
    done
done

for node in "$root"/sys/devices/system/node/node[0-9]*; do
    n=${node#"$root"}
    copy "$n/cpulist"; copy "$n/meminfo"; copy "$n/distance"
    for h in "$node"/hugepages/hugepages-*; do [ -d "$h" ] && copy "${h#"$root"}/nr_hugepages"; done
done
for h in "$root"/sys/kernel/mm/hugepages/hugepages-*; do [ -d "$h" ] && copy "${h#"$root"}/nr_hugepages"; done

for b in "$root"/sys/block/*; do
    n=/sys/block/$(basename "$b")
    copy "$n/dev"; copy "$n/size"; copy "$n/hidden"; copy "$n/queue/scheduler"
done

for i in "$root"/sys/class/net/*; do
    n=/sys/class/net/$(basename "$i")
    copy "$n/address"; copy "$n/mtu"; copy "$n/speed"
done

for f in product_uuid sys_vendor product_name bios_vendor product_version; do
    copy "/sys/class/dmi/id/$f"
done
for d in "$root"/sys/devices/system/edac/mc/mc[0-9]*/dimm[0-9]*; do
    [ -d "$d" ] || continue
    copy "${d#"$root"}/dimm_mem_type"; copy "${d#"$root"}/size"
done

if [ -n "${DROP_MOUNTS:-}" ]; then
    for m in "$dest"/proc/1/mountinfo "$dest"/proc/self/mountinfo; do
        [ -f "$m" ] && { grep -Ev "$DROP_MOUNTS" "$m" > "$m.tmp" || true; mv "$m.tmp" "$m"; }
    done
fi
