//! What a conformance trial is: a named check traced to one doc claim, with the capabilities it needs.

mod id;

use std::future::Future;
use std::pin::Pin;

use crate::ctx::Ctx;
use crate::failure::TrialError;
use crate::preflight::Need;

pub use id::TrialId;

/// The future a trial body returns.
pub type TrialFuture = Pin<Box<dyn Future<Output = Result<(), TrialError>> + Send>>;

/// One check, named `suite::scenario::check` so libtest filters (`--exact`, `--skip`) address it.
#[derive(Clone, Copy)]
pub struct TrialDef {
    pub name: &'static str,
    /// The doc claim this trial verifies, in the doc's own terms.
    pub claim: &'static str,
    /// The kubernetes.io page that makes the claim.
    pub doc_url: &'static str,
    pub needs: &'static [Need],
    pub run: fn(Ctx) -> TrialFuture,
}

impl TrialDef {
    /// The first path segment of the name.
    pub fn suite(&self) -> &'static str {
        self.id().suite()
    }

    /// The trial's name, claim and doc page: what its context knows of it.
    pub fn id(&self) -> TrialId {
        TrialId {
            name: self.name,
            claim: self.claim,
            doc_url: self.doc_url,
        }
    }
}

impl std::fmt::Debug for TrialDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrialDef")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish()
    }
}
