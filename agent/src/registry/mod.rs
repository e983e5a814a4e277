//! The single owner of the container set and the stats cache.
