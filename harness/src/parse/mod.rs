//! Pure parsers for what the suites read out of pods: `/etc/hosts`, `/etc/resolv.conf` and busybox
//! `nslookup` output. No cluster access; every parser is tested on real captures and on the docs' outputs.

pub mod hosts;
pub mod nslookup;
pub mod resolv;
