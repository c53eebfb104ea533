//! netconform harness: cluster access and kind lifecycle, apply, waits, exec/logs, diagnostics, reporting,
//! and the runner that turns the suites' trials into a libtest-mimic run.

pub mod claims_index;
pub mod cleanup;
pub mod cluster;
pub mod config;
pub mod ctx;
pub mod diagnostics;
pub mod error;
pub mod exec;
pub mod failure;
pub mod images;
pub mod ipfamily;
pub mod labels;
pub mod liveness;
pub mod manifest;
pub mod outside;
pub mod parse;
pub mod pod_tally;
pub mod preflight;
pub mod report;
pub mod retry;
pub mod run;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod sweep;
pub mod text;
pub mod trial;
pub mod wait;
