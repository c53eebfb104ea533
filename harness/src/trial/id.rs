//! Which trial a context serves: its name and the doc claim it traces, all a [`crate::ctx::Ctx`] needs of
//! its [`super::TrialDef`] (the definition's body takes the context, so the context does not hold it).

/// A trial's name, claim and doc page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrialId {
    pub name: &'static str,
    /// The doc claim the trial verifies, in the doc's own terms.
    pub claim: &'static str,
    /// The kubernetes.io page that makes the claim.
    pub doc_url: &'static str,
}

impl TrialId {
    /// The first path segment of the name.
    pub fn suite(&self) -> &'static str {
        self.name.split("::").next().unwrap_or(self.name)
    }
}
