//! Prometheus `/metrics`, encoded at scrape time from the snapshot.
