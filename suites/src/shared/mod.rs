//! What several suites use: Services and nodes as the docs read them, the data-plane probes (client and
//! netexec pods, bounded requests) and what a Service's endpoints list. No suite imports another suite; what
//! two need lives here.

pub(crate) mod listing;
pub(crate) mod nodes;
pub(crate) mod outside;
pub(crate) mod probe;
pub(crate) mod services;
