//! `cargo test --test conformance`: the conformance suites under libtest-mimic.
//! The target comes from `NETCONFORM_TARGET` (`docs/configuration.md`); with no target every trial is ignored.

fn main() {
    netconform::runner::main(netconform_suites::all_trials())
}
