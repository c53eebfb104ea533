//! The offline test double as a target (`NETCONFORM_TARGET=sim`). It is never a cluster: its description
//! and every report say "simulated". The double is in the build only with the `double` feature, which the
//! project's own tests turn on and the users' `cargo test --test conformance` leaves off; without it, asking
//! for the double fails closed with how to get it ([`HarnessError::NoDouble`]).

use std::sync::Arc;

#[cfg(feature = "double")]
pub use netconform_double::RunningDouble;
#[cfg(feature = "double")]
use netconform_double::{Double, DoubleConfig, Faults};

use super::Target;
#[cfg(feature = "double")]
use super::kubeconfig::{connect_yaml, probe};
use super::process::CommandRunner;
#[cfg(feature = "double")]
use super::{PROBE_BUDGET, TargetKind};
use crate::config::Settings;
use crate::error::HarnessError;

/// The double's configuration from the `NETCONFORM_SIM_*` settings.
#[cfg(feature = "double")]
pub fn double_config(settings: &Settings) -> DoubleConfig {
    let defaults = DoubleConfig::default();
    let default_faults = Faults::default();
    let f = &settings.sim_faults;
    DoubleConfig {
        deviations: settings.sim_deviations.clone(),
        profiles: settings.sim_profiles.clone(),
        faults: Faults {
            error_rate: f.error_rate,
            watch_drop_after: f.watch_drop,
            latency: f.latency.unwrap_or(default_faults.latency),
            seed: f.seed.unwrap_or(default_faults.seed),
        },
        pod_start_latency: settings.sim_pod_start.unwrap_or(defaults.pod_start_latency),
        ..defaults
    }
}

#[cfg(feature = "double")]
pub async fn start(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
) -> Result<Target, HarnessError> {
    let double = Double::start(double_config(settings))
        .await
        .map_err(|e| HarnessError::Double(e.to_string()))?;
    let addr = double.addr();
    let connected = connect_yaml(&double.kubeconfig_yaml(), "of the test double").await?;
    // A scale below 1 shortens the waits of trials, not the start of the in-process double on a busy machine.
    let version = probe(&connected, settings.scaled(PROBE_BUDGET).max(PROBE_BUDGET)).await?;
    let description =
        format!("netconform-double (a test double on {addr} — simulated, not a real cluster)");
    Ok(Target {
        double: Some(double),
        ..Target::not_ours(
            TargetKind::Simulated,
            connected.client,
            description,
            version,
            runner,
        )
    })
}

/// No double runs in a build without it.
#[cfg(not(feature = "double"))]
pub enum RunningDouble {}

#[cfg(not(feature = "double"))]
impl RunningDouble {
    pub async fn shutdown(self) {
        match self {}
    }
}

#[cfg(not(feature = "double"))]
pub async fn start(
    _settings: &Settings,
    _runner: Arc<dyn CommandRunner>,
) -> Result<Target, HarnessError> {
    Err(HarnessError::NoDouble("NETCONFORM_TARGET=sim".into()))
}

#[cfg(all(test, feature = "double"))]
mod tests {
    use super::*;
    use crate::config::SimFaults;
    use std::time::Duration;

    #[test]
    fn settings_map_onto_the_double() {
        let settings = Settings {
            sim_deviations: vec!["hosts-no-header".into()],
            sim_faults: SimFaults {
                error_rate: 0.1,
                watch_drop: Some(Duration::from_secs(2)),
                latency: Some(Duration::from_millis(5)),
                seed: Some(1),
            },
            sim_pod_start: Some((Duration::from_secs(1), Duration::from_secs(2))),
            ..Settings::default()
        };
        let config = double_config(&settings);
        assert_eq!(config.deviations, vec!["hosts-no-header"]);
        assert_eq!(
            config.faults,
            Faults {
                error_rate: 0.1,
                watch_drop_after: Some(Duration::from_secs(2)),
                latency: Duration::from_millis(5),
                seed: 1
            }
        );
        assert_eq!(
            config.pod_start_latency,
            (Duration::from_secs(1), Duration::from_secs(2))
        );
        let plain = double_config(&Settings::default());
        assert_eq!(plain.faults, Faults::default());
        assert_eq!(
            plain.pod_start_latency,
            DoubleConfig::default().pod_start_latency
        );
    }
}
