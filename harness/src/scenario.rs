//! One setup, many reported checks: a scenario several trials read, computed once per run.
//!
//! The first trial to read a scenario computes it, in a namespace of its own that is labelled, owned and
//! deleted like a trial's ([`Ctx::open`], [`Ctx::close`]) once the scenario is computed; the others wait
//! for it (handing their service addresses back meanwhile: waiting creates nothing). The computation logs
//! into parts ([`Scene::end_part`]); each reader takes in the parts it reports on (their log and doc
//! findings, as its own) and the diagnostics of the scenario's namespace, then judges its own claim on
//! the scenario's value. It is computed on the first reader's lease (its service addresses), so the readers
//! of one scenario declare the same needs.
//!
//! A rerun recomputes: a trial that reads a scenario it has read before (a rerun after
//! `NETCONFORM_RETRIES`) computes it afresh, and the trials that read it later get the new computation.
//! Re-reading the recorded result would repeat one observation and call it another attempt: "failed all N
//! attempts" would claim N looks at the cluster where there was one, and a transient failure could never
//! show as flaky. Each computation is a real look; the runner keeps every failed attempt, so the gate sees a
//! pass on a rerun as flaky, never as a clean pass.

use std::collections::BTreeSet;
use std::ops::RangeBounds;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::ctx::Ctx;
use crate::failure::TrialError;
use crate::report::DocFinding;
use crate::run::Slot;

/// A scenario: its name (`suite::scenario`, unique in the run) and how to compute its value.
pub struct Scenario<T> {
    pub name: &'static str,
    pub compute: for<'a> fn(&'a mut Scene) -> BoxFuture<'a, T>,
}

/// A scenario being computed: its own context (namespace, log, findings) and the parts logged so far.
pub struct Scene {
    ctx: Ctx,
    parts: Vec<Part>,
}

/// What one part of a scenario logged and found.
#[derive(Default)]
struct Part {
    log: String,
    findings: Vec<DocFinding>,
}

impl Scene {
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Ends the current part: what the scenario logged and found since the previous one belongs to it.
    /// Parts are numbered from 0 in this order, for [`Scenario::read`].
    pub fn end_part(&mut self) {
        self.parts.push(Part {
            log: self.ctx.take_log(),
            findings: self.ctx.take_findings(),
        });
    }
}

/// One computation of a scenario, as its readers see it.
pub struct Computed<T> {
    pub value: T,
    /// The trial that computed it, and in which namespace.
    by: &'static str,
    namespace: String,
    parts: Vec<Part>,
    diagnostics: String,
}

impl<T: Send + Sync + 'static> Scenario<T> {
    /// This run's computation of the scenario, computed first if no trial did or this one read it before;
    /// the log and findings of `parts` (and the scenario's diagnostics) become `ctx`'s. Fails only when the
    /// scenario's namespace cannot be set up.
    pub async fn read(
        &self,
        ctx: &Ctx,
        parts: impl RangeBounds<usize>,
    ) -> Result<Arc<Computed<T>>, TrialError> {
        let slot = ctx.run().scenarios.slot(self.name);
        let mut latest = match slot.try_lock() {
            Ok(latest) => latest,
            Err(_) => {
                ctx.release_service_addresses();
                slot.lock().await
            }
        };
        let trial = ctx.trial().name;
        let mut current = match latest.take() {
            Some(slot) if !slot.read_by.contains(trial) => slot,
            _ => {
                ctx.take_service_addresses().await;
                Slot {
                    computed: Arc::new(self.compute_for(ctx).await?),
                    read_by: BTreeSet::new(),
                }
            }
        };
        current.read_by.insert(trial);
        let computed = current.computed.clone();
        *latest = Some(current);
        drop(latest);
        let computed = computed.downcast::<Computed<T>>().map_err(|_| {
            TrialError::Harness(format!(
                "two scenarios are named {}: their values differ in type",
                self.name
            ))
        })?;
        computed.show(self.name, ctx, parts);
        Ok(computed)
    }

    /// Computes the scenario in a namespace of its own on behalf of `reader` (its trial and service
    /// addresses), then deletes what it created and waits as a trial's cleanup does.
    async fn compute_for(&self, reader: &Ctx) -> Result<Computed<T>, TrialError> {
        let ctx = Ctx::open(reader.run_state(), *reader.trial(), reader.lease()).await?;
        let mut scene = Scene {
            ctx,
            parts: Vec::new(),
        };
        let value = (self.compute)(&mut scene).await;
        let diagnostics =
            crate::diagnostics::collect(&scene.ctx.client(), scene.ctx.namespace()).await;
        let cleanup = scene.ctx.close().await;
        // What was logged after the last part (its cleanup) belongs to that part.
        let mut rest = Part {
            log: scene.ctx.take_log() + &cleanup,
            findings: scene.ctx.take_findings(),
        };
        match scene.parts.last_mut() {
            Some(last) => {
                last.log.push_str(&rest.log);
                last.findings.append(&mut rest.findings);
            }
            None => scene.parts.push(rest),
        }
        Ok(Computed {
            value,
            by: reader.trial().name,
            namespace: scene.ctx.namespace().to_string(),
            parts: scene.parts,
            diagnostics,
        })
    }
}

impl<T> Computed<Result<T, TrialError>> {
    /// The scenario's value, or (a copy of) the failure that stopped it, for each reader to report.
    pub fn outcome(&self) -> Result<&T, TrialError> {
        self.value.as_ref().map_err(Clone::clone)
    }
}

impl<T> Computed<T> {
    /// Hands `parts` of the log and findings, and the diagnostics, to the reader `ctx`.
    fn show(&self, name: &str, ctx: &Ctx, parts: impl RangeBounds<usize>) {
        let mut log = format!(
            "scenario {name}: computed once for this run, in trial {} (namespace {}); its log:\n",
            self.by, self.namespace
        );
        let mut findings = Vec::new();
        for (_, part) in self
            .parts
            .iter()
            .enumerate()
            .filter(|(i, _)| parts.contains(i))
        {
            log.push_str(&part.log);
            findings.extend(part.findings.iter().cloned());
        }
        ctx.adopt(&log, &findings, &self.diagnostics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::Cleanup;
    use crate::cluster::TargetKind;
    use crate::preflight::Capabilities;
    use crate::run::{RunState, Scenarios};
    use crate::schedule::Schedule;
    use crate::trial::TrialDef;

    /// A reader's context on a client that is never called.
    async fn reader(name: &'static str) -> Ctx {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let capabilities = Capabilities::none();
        let def = TrialDef {
            name,
            claim: "the reader's claim",
            doc_url: "https://kubernetes.io/reader",
            needs: &[],
            run: |_| Box::pin(async { Ok(()) }),
        };
        let lease = Arc::new(Schedule::new(&capabilities).enter(&def).await);
        let run = Arc::new(RunState {
            run_id: "r1".into(),
            client: client.clone(),
            target: TargetKind::Simulated,
            made_by_netconform: true,
            capabilities,
            settings: Default::default(),
            cleanup: Cleanup::new(client),
            lease: None,
            scenarios: Scenarios::default(),
            outside: crate::outside::Outside::absent("r1"),
        });
        Ctx::new(run, def.id(), "nc-reader".into(), lease)
    }

    fn part(log: &str, doc_says: &str) -> Part {
        Part {
            log: format!("{log}\n"),
            findings: vec![DocFinding {
                claim: "the computing trial's claim".into(),
                doc_url: "https://kubernetes.io/computer".into(),
                doc_says: doc_says.into(),
                cluster_shows: "x".into(),
            }],
        }
    }

    #[tokio::test]
    async fn a_reader_takes_in_the_parts_it_reports_on_as_its_own() {
        let computed = Computed {
            value: (),
            by: "a::b::first",
            namespace: "nc-a-xyz12".into(),
            parts: vec![
                part("step 0", "zero"),
                part("step 1", "one"),
                part("step 2", "two"),
            ],
            diagnostics: "=== events in namespace nc-a-xyz12 (0) ===\n".into(),
        };
        let ctx = reader("a::b::second").await;
        computed.show("a::walk", &ctx, ..=1);
        let log = ctx.take_log();
        assert_eq!(
            log,
            "scenario a::walk: computed once for this run, in trial a::b::first (namespace nc-a-xyz12); its log:\nstep 0\nstep 1\n"
        );
        let findings = ctx.take_findings();
        let says: Vec<&str> = findings.iter().map(|f| f.doc_says.as_str()).collect();
        assert_eq!(says, ["zero", "one"]);
        assert!(
            findings
                .iter()
                .all(|f| f.claim == "the reader's claim"
                    && f.doc_url == "https://kubernetes.io/reader"),
            "{findings:?}"
        );
        assert!(
            ctx.inner_shared_diagnostics().contains("nc-a-xyz12"),
            "the scenario's diagnostics go with the reader's failure"
        );
    }
}
