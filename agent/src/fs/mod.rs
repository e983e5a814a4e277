//! File system readers: mount table, capacity/usage (statvfs), `/proc/diskstats`.
