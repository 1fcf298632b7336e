//! `sandpipe s3 sync`: `aws s3 sync` on the embedded store. A file is copied when the
//! destination lacks it, its size differs, or the source's copy is newer (the AWS CLI's
//! default rule; `--size-only` drops the time); `--delete` removes what the source no longer
//! has; `--exclude` / `--include` filters apply in the order given, the last match winning,
//! to both sides, so an excluded file is neither copied nor deleted.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, bail};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use globset::{Glob, GlobMatcher};
use jiff::Timestamp;
use sandpipe_model::text::Escaped;
use sandpipe_store::{LocalS3, PutOptions};

use crate::s3::{
    all_objects, copy_object, download, local_files, local_target, parse_s3_url, upload,
};
use crate::terminal::outln;

#[derive(Args)]
pub struct SyncArgs {
    /// A directory or s3://bucket/prefix.
    source: String,
    /// A directory or s3://bucket/prefix.
    destination: String,
    /// Delete what the destination has and the source does not (filters apply).
    #[arg(long)]
    delete: bool,
    /// Say what would be copied and deleted, and do nothing.
    #[arg(long)]
    dryrun: bool,
    /// Copy when sizes differ, whatever the times.
    #[arg(long)]
    size_only: bool,
    #[command(flatten)]
    filters: FilterArgs,
    /// The Content-Type of what is uploaded; by default guessed from the key's extension.
    #[arg(long)]
    content_type: Option<String>,
    /// The Cache-Control of what is uploaded.
    #[arg(long)]
    cache_control: Option<String>,
}

impl SyncArgs {
    /// Whether the sync writes into the store (which then may be made).
    pub fn writes_to_s3(&self) -> bool {
        self.destination.starts_with("s3://")
    }
}

/// `--exclude` and `--include` as written: (include?, pattern) in command-line order (clap
/// keeps each flag's values apart, so their positions restore the order).
#[derive(Default)]
pub struct FilterArgs(Vec<(bool, String)>);

/// The filters, compiled.
#[derive(Default)]
struct Filters(Vec<Filter>);

struct Filter {
    include: bool,
    matcher: GlobMatcher,
}

impl Filters {
    /// Whether `relative` is synced: included unless the last filter matching it excludes it.
    fn admits(&self, relative: &str) -> bool {
        self.0
            .iter()
            .rev()
            .find(|f| f.matcher.is_match(relative))
            .is_none_or(|f| f.include)
    }

    fn parse(include: bool, pattern: &str) -> anyhow::Result<Filter> {
        // `*` crosses `/`, as in the AWS CLI's fnmatch-style filters.
        let glob = Glob::new(pattern).map_err(|e| {
            let flag = if include { "include" } else { "exclude" };
            anyhow::anyhow!("--{flag} '{pattern}': not a pattern: {}", e.kind())
        })?;
        Ok(Filter {
            include,
            matcher: glob.compile_matcher(),
        })
    }

    fn compile(written: &[(bool, String)]) -> anyhow::Result<Filters> {
        let filters = written.iter().map(|(i, p)| Filters::parse(*i, p));
        Ok(Filters(filters.collect::<anyhow::Result<_>>()?))
    }
}

impl FromArgMatches for FilterArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut written = Vec::new();
        for (id, include) in [("exclude", false), ("include", true)] {
            let (Some(values), Some(indices)) =
                (matches.get_many::<String>(id), matches.indices_of(id))
            else {
                continue;
            };
            for (value, index) in values.zip(indices) {
                written.push((index, include, value.clone()));
            }
        }
        written.sort_by_key(|(index, ..)| *index);
        Ok(FilterArgs(
            written.into_iter().map(|(_, i, p)| (i, p)).collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = FilterArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for FilterArgs {
    fn augment_args(command: Command) -> Command {
        let filter = |id: &'static str, help: &'static str| {
            Arg::new(id)
                .long(id)
                .value_name("PATTERN")
                .action(ArgAction::Append)
                .help(help)
        };
        command
            .arg(filter(
                "exclude",
                "Leave out paths matching PATTERN (relative to the source; `*` matches across \
                 `/`). Repeatable; with --include, the last filter that matches decides",
            ))
            .arg(filter(
                "include",
                "Take paths matching PATTERN back in after an --exclude. Repeatable",
            ))
    }

    fn augment_args_for_update(command: Command) -> Command {
        FilterArgs::augment_args(command)
    }
}

/// One file on either side: its path below the root, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    relative: String,
    size: u64,
    modified: Timestamp,
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Copy(String),
    Delete(String),
}

/// What to do: pure, so the rule is tested without a store.
fn plan(
    source: &[Entry],
    destination: &[Entry],
    filters: &Filters,
    delete: bool,
    size_only: bool,
) -> Vec<Step> {
    let there: std::collections::BTreeMap<&str, &Entry> = destination
        .iter()
        .map(|e| (e.relative.as_str(), e))
        .collect();
    let mut steps: Vec<Step> = source
        .iter()
        .filter(|e| filters.admits(&e.relative))
        .filter(|e| match there.get(e.relative.as_str()) {
            None => true,
            Some(d) => d.size != e.size || (!size_only && e.modified > d.modified),
        })
        .map(|e| Step::Copy(e.relative.clone()))
        .collect();
    if delete {
        let here: std::collections::BTreeSet<&str> =
            source.iter().map(|e| e.relative.as_str()).collect();
        steps.extend(
            destination
                .iter()
                .filter(|d| !here.contains(d.relative.as_str()) && filters.admits(&d.relative))
                .map(|d| Step::Delete(d.relative.clone())),
        );
    }
    steps
}

/// A side of the sync.
enum Side {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Side {
    fn parse(text: &str) -> anyhow::Result<Side> {
        if !text.starts_with("s3://") {
            return Ok(Side::Local(PathBuf::from(text)));
        }
        let (bucket, key) = parse_s3_url(text)?;
        // A prefix is a directory: s3://b/p holds p/…, not p2/….
        let prefix = match key.as_str() {
            "" => String::new(),
            key => format!("{}/", key.trim_end_matches('/')),
        };
        Ok(Side::S3 { bucket, prefix })
    }

    fn entries(&self, store: &LocalS3, is_source: bool) -> anyhow::Result<Vec<Entry>> {
        match self {
            Side::Local(root) if !root.exists() => {
                if is_source {
                    bail!("the source directory {} does not exist", root.display());
                }
                Ok(Vec::new())
            }
            Side::Local(root) => local_files(root)?
                .into_iter()
                .map(|file| {
                    let metadata = std::fs::metadata(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    Ok(Entry {
                        relative: file
                            .strip_prefix(root)?
                            .to_string_lossy()
                            .replace('\\', "/"),
                        size: metadata.len(),
                        modified: Timestamp::try_from(metadata.modified()?)?,
                    })
                })
                .collect(),
            Side::S3 { bucket, prefix } => all_objects(store, bucket, prefix)?
                .into_iter()
                .map(|object| {
                    Ok(Entry {
                        relative: object.key[prefix.len()..].to_string(),
                        size: object.size,
                        modified: object.last_modified.parse().with_context(|| {
                            format!("s3://{bucket}/{}: its LastModified", object.key)
                        })?,
                    })
                })
                .collect(),
        }
    }

    fn describe(&self, relative: &str) -> String {
        match self {
            Side::Local(root) => root.join(relative).display().to_string(),
            Side::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}{relative}"),
        }
    }
}

pub fn sync(store: &LocalS3, args: SyncArgs) -> anyhow::Result<()> {
    let source = Side::parse(&args.source)?;
    let destination = Side::parse(&args.destination)?;
    if let (Side::Local(_), Side::Local(_)) = (&source, &destination) {
        bail!(
            "at least one of '{}' and '{}' must be an s3:// URL",
            args.source,
            args.destination
        );
    }
    let filters = Filters::compile(&args.filters.0)?;
    let steps = plan(
        &source.entries(store, true)?,
        &destination.entries(store, false)?,
        &filters,
        args.delete,
        args.size_only,
    );
    let options = PutOptions {
        content_type: args.content_type,
        cache_control: args.cache_control,
        ..PutOptions::default()
    };
    for step in steps {
        if args.dryrun {
            let (verb, what) = match (&step, &source, &destination) {
                (Step::Delete(r), ..) => ("delete", destination.describe(r)),
                (Step::Copy(r), Side::Local(_), _) => {
                    ("upload", copy_text(&source, &destination, r))
                }
                (Step::Copy(r), _, Side::Local(_)) => {
                    ("download", copy_text(&source, &destination, r))
                }
                (Step::Copy(r), ..) => ("copy", copy_text(&source, &destination, r)),
            };
            outln!("(dryrun) {verb}: {}", Escaped(&what));
            continue;
        }
        match (step, &source, &destination) {
            (Step::Copy(relative), Side::Local(root), Side::S3 { bucket, prefix }) => upload(
                store,
                &root.join(&relative),
                bucket,
                &format!("{prefix}{relative}"),
                options.clone(),
            )?,
            (Step::Copy(relative), Side::S3 { bucket, prefix }, Side::Local(root)) => {
                let target = local_target(root, &relative)?;
                download(store, bucket, &format!("{prefix}{relative}"), &target)?
            }
            (
                Step::Copy(relative),
                Side::S3 { bucket, prefix },
                Side::S3 {
                    bucket: to_bucket,
                    prefix: to_prefix,
                },
            ) => copy_object(
                store,
                (bucket, &format!("{prefix}{relative}")),
                (to_bucket, &format!("{to_prefix}{relative}")),
                &options,
            )?,
            (Step::Delete(relative), _, Side::Local(root)) => {
                let target = local_target(root, &relative)?;
                std::fs::remove_file(&target)
                    .with_context(|| format!("deleting {}", target.display()))?;
                outln!("delete: {}", Escaped(&target.display().to_string()));
            }
            (Step::Delete(relative), _, Side::S3 { bucket, prefix }) => {
                let key = format!("{prefix}{relative}");
                store.delete_object(bucket, &key, None)?;
                outln!("delete: s3://{bucket}/{}", Escaped(&key));
            }
            (Step::Copy(_), Side::Local(_), Side::Local(_)) => unreachable!("refused above"),
        }
    }
    Ok(())
}

fn copy_text(source: &Side, destination: &Side, relative: &str) -> String {
    format!(
        "{} to {}",
        source.describe(relative),
        destination.describe(relative)
    )
}

/// The time a downloaded file is given: the object's LastModified, as the AWS CLI does, so
/// the next sync sees the two as the same.
pub fn modified_time(last_modified: &str) -> Option<SystemTime> {
    last_modified
        .parse::<Timestamp>()
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(relative: &str, size: u64, second: i64) -> Entry {
        Entry {
            relative: relative.into(),
            size,
            modified: Timestamp::from_second(second).unwrap(),
        }
    }

    fn filters(written: &[(bool, &str)]) -> Filters {
        Filters(
            written
                .iter()
                .map(|(include, p)| Filters::parse(*include, p).unwrap())
                .collect(),
        )
    }

    #[test]
    fn copies_what_is_missing_resized_or_newer_and_deletes_only_when_asked() {
        let source = [
            entry("same", 1, 10),
            entry("new", 1, 10),
            entry("resized", 2, 10),
            entry("newer", 1, 20),
            entry("older", 1, 5),
        ];
        let destination = [
            entry("same", 1, 10),
            entry("resized", 1, 30),
            entry("newer", 1, 10),
            entry("older", 1, 10),
            entry("gone", 1, 10),
        ];
        let none = Filters::default();
        assert_eq!(
            plan(&source, &destination, &none, false, false),
            [
                Step::Copy("new".into()),
                Step::Copy("resized".into()),
                Step::Copy("newer".into())
            ]
        );
        assert_eq!(
            plan(&source, &destination, &none, true, true),
            [
                Step::Copy("new".into()),
                Step::Copy("resized".into()),
                Step::Delete("gone".into())
            ]
        );
    }

    #[test]
    fn the_last_matching_filter_decides_on_both_sides() {
        let f = filters(&[(false, "*.log"), (true, "keep/*.log")]);
        assert!(f.admits("a.txt"));
        assert!(!f.admits("deep/dir/a.log"));
        assert!(f.admits("keep/a.log"));
        let source = [entry("a.log", 1, 1), entry("keep/b.log", 1, 1)];
        let destination = [entry("old.log", 1, 1), entry("old.txt", 1, 1)];
        assert_eq!(
            plan(&source, &destination, &f, true, false),
            [
                Step::Copy("keep/b.log".into()),
                Step::Delete("old.txt".into())
            ]
        );
    }
}
