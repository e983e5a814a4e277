//! Machine information readers (`/proc/cpuinfo`, `/proc/meminfo`, sysfs topology, ids): synchronous
//! functions of a root path.
