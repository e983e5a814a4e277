//! `/proc/diskstats`: per-device I/O counters, keyed by device numbers.

use std::collections::BTreeMap;

/// The counters cAdvisor's FsStats carries (times in ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCounters {
    pub reads_completed: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    pub read_time: u64,
    pub writes_completed: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    pub write_time: u64,
    pub io_in_progress: u64,
    pub io_time: u64,
    pub weighted_io_time: u64,
}

/// Counters keyed by (major, minor). Lines that do not parse are skipped and counted.
pub fn parse_diskstats(text: &str) -> (BTreeMap<(u32, u32), DiskCounters>, usize) {
    let mut out = BTreeMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match procfs::DiskStat::from_line(line) {
            Ok(d) if d.major >= 0 && d.minor >= 0 => {
                out.insert(
                    (d.major as u32, d.minor as u32),
                    DiskCounters {
                        reads_completed: d.reads,
                        reads_merged: d.merged,
                        sectors_read: d.sectors_read,
                        read_time: d.time_reading,
                        writes_completed: d.writes,
                        writes_merged: d.writes_merged,
                        sectors_written: d.sectors_written,
                        write_time: d.time_writing,
                        io_in_progress: d.in_progress,
                        io_time: d.time_in_progress,
                        weighted_io_time: d.weighted_time_in_progress,
                    },
                );
            }
            _ => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    // /proc/diskstats, kernel 6.18 VM (fixture this-machine-hybrid-6.18), lines verbatim.
    const DISKSTATS: &str = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 71026 6844 4498842 66390 20166 63384 20666760 111165 0 14096 179480 8171 60 764528 1825 1901 99
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn counters_by_device() {
        let (m, bad) = parse_diskstats(DISKSTATS);
        assert_eq!((m.len(), bad), (3, 0));
        let vda = m[&(254, 0)];
        assert_eq!(vda.reads_completed, 71026);
        assert_eq!(vda.sectors_read, 4_498_842);
        assert_eq!(vda.sectors_written, 20_666_760);
        assert_eq!(vda.io_time, 14096);
        assert_eq!(vda.weighted_io_time, 179_480);
    }

    #[test]
    fn bad_lines_counted() {
        let (m, bad) = parse_diskstats("8 0 sda 1 2\nnot a line\n");
        assert_eq!((m.len(), bad), (0, 2));
    }
}
