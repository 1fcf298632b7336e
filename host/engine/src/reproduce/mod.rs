//! Reproducing executions: deterministic actions (fixed clocks, seeded randomness, a fixed
//! build environment) and replays (a new execution with exactly an earlier one's inputs).

mod bundle;
mod compare;
mod diff;
mod provenance;
mod replay;
mod unpack;

pub use bundle::{
    BUNDLE_FORMAT, BundleManifest, ExportInputs, ImportedBundle, export_bundle, import_bundle,
};
pub use compare::{
    ArtifactComparison, Detail, FileChange, FileDifference, TEXT_DIFF_BYTES, compare_artifacts,
};
pub use diff::{ExecutionDiff, ValueChange, diff_executions};
pub use provenance::{BUILD_TYPE, BUILDER_ID, PREDICATE_TYPE, STATEMENT_TYPE, provenance};
pub use unpack::check_bundle_header;

use std::time::Duration;

use sandpipe_runtime::DeterministicBuild;
use sandpipe_state::{Determinism, ExecutionRecord};

use crate::pipeline::Run;

/// What every deterministic action of one execution is fixed to, read from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeterminismBase {
    pub(crate) start: Duration,
    pub(crate) seed_of: String,
}

impl DeterminismBase {
    /// The base `record` says, when its actions are deterministic.
    pub(crate) fn of(record: &ExecutionRecord) -> anyhow::Result<Option<Self>> {
        let Some(determinism) = &record.determinism else {
            return Ok(None);
        };
        Ok(Some(DeterminismBase {
            start: since_epoch(&determinism.clock)?,
            seed_of: determinism.seed.clone(),
        }))
    }
}

/// The determinism of a new execution `record` asked for one: its own start and id.
pub(crate) fn own_determinism(record: &ExecutionRecord) -> Determinism {
    Determinism {
        clock: record.start_time.clone(),
        seed: record.pipeline_execution_id.clone(),
    }
}

/// A record's timestamp as time since the Unix epoch.
fn since_epoch(time: &str) -> anyhow::Result<Duration> {
    let at: jiff::Timestamp = time
        .parse()
        .map_err(|e| anyhow::anyhow!("the recorded time '{time}': {e}"))?;
    Ok(Duration::from_nanos(
        u64::try_from(at.as_nanosecond()).unwrap_or_default(),
    ))
}

impl Run<'_> {
    /// The fixed clocks and seed of action `a` of stage `s`, when the execution is
    /// deterministic.
    pub(crate) fn determinism(&self, s: usize, a: usize) -> Option<sandpipe_runtime::Determinism> {
        let base = self.launch.determinism.as_ref()?;
        let stage = &self.pipeline().stages[s];
        Some(sandpipe_runtime::Determinism::for_action(
            base.start,
            &base.seed_of,
            &stage.name,
            &stage.actions[a].name,
        ))
    }

    /// The fixed environment of a deterministic build: `SOURCE_DATE_EPOCH` the commit time
    /// of the first source revision that has one, else the base's start.
    pub(crate) fn deterministic_build(&self) -> Option<DeterministicBuild> {
        let base = self.launch.determinism.as_ref()?;
        let committed = self.keeper.read(|record| {
            record
                .stages
                .first()
                .into_iter()
                .flat_map(|stage| &stage.actions)
                .filter_map(|action| action.current_revision.as_ref()?.created.clone())
                .find_map(|created| since_epoch(&created).ok())
        });
        let epoch = committed.unwrap_or(base.start);
        Some(DeterministicBuild {
            source_date_epoch: epoch.as_secs() as i64,
        })
    }
}
