//! `sandpipe s3` and `sandpipe s3api`: the AWS CLI's S3 commands, on the embedded store, so
//! the CodePipeline tutorials can be followed locally without AWS.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use sandpipe_model::text::Escaped;
use sandpipe_store::s3::{ListQuery, Versioning};
use sandpipe_store::{LocalS3, ObjectInfo, PutOptions};

use crate::terminal::outln;

#[derive(Subcommand)]
pub enum S3Command {
    /// Make a bucket: `s3 mb s3://bucket`.
    Mb {
        /// The bucket: s3://bucket.
        target: String,
    },
    /// Remove a bucket: `s3 rb s3://bucket [--force]`.
    Rb {
        /// The bucket: s3://bucket.
        target: String,
        /// Delete every object (and version) first.
        #[arg(long)]
        force: bool,
    },
    /// Copy a file to, from or within S3: `s3 cp <source> <destination>`; `-` is
    /// stdin/stdout.
    Cp {
        /// A file or directory, `-` (stdin), or s3://bucket/key.
        source: String,
        /// A file or directory, `-` (stdout), or s3://bucket/key (a key ending in / takes the
        /// source's file name).
        destination: String,
        /// Copy a whole directory or prefix.
        #[arg(long)]
        recursive: bool,
        /// The Content-Type of what is uploaded; by default guessed from the key's extension.
        #[arg(long)]
        content_type: Option<String>,
        /// The Cache-Control of what is uploaded.
        #[arg(long)]
        cache_control: Option<String>,
    },
    /// List buckets, or objects under a prefix: `s3 ls [s3://bucket[/prefix]]`.
    Ls {
        /// s3://bucket or s3://bucket/prefix; without it, the buckets.
        target: Option<String>,
        /// Every object under the prefix, not only those up to the next `/`.
        #[arg(long)]
        recursive: bool,
    },
    /// Make a directory or prefix hold what another holds: `s3 sync <source> <destination>`,
    /// copying what is missing, resized or newer (as `aws s3 sync` decides).
    Sync(crate::s3_sync::SyncArgs),
    /// Delete objects: `s3 rm s3://bucket/key [--recursive]`.
    Rm {
        /// s3://bucket/key, or with --recursive s3://bucket/prefix.
        target: String,
        /// Delete every object under the prefix.
        #[arg(long)]
        recursive: bool,
    },
}

#[derive(Subcommand)]
pub enum S3ApiCommand {
    /// `--bucket B --versioning-configuration Status=Enabled|Suspended`
    PutBucketVersioning {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// `Status=Enabled`, or the JSON form `{"Status": "Enabled"}`.
        #[arg(long)]
        versioning_configuration: String,
    },
    /// `--bucket B`: the bucket's versioning status, as JSON.
    GetBucketVersioning {
        /// The bucket.
        #[arg(long)]
        bucket: String,
    },
    /// `--bucket B [--prefix P]`: every version and delete marker, as JSON.
    ListObjectVersions {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys beginning with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// `--bucket B --key K [--version-id V]`: an object's metadata, as JSON.
    HeadObject {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// The object's key.
        #[arg(long)]
        key: String,
        /// One version of the object; by default its latest.
        #[arg(long)]
        version_id: Option<String>,
    },
    /// Write an object (or one version of it) to OUTFILE and print its metadata.
    GetObject {
        /// The bucket.
        #[arg(long)]
        bucket: String,
        /// The object's key.
        #[arg(long)]
        key: String,
        /// One version of the object; by default its latest.
        #[arg(long)]
        version_id: Option<String>,
        /// The file to write the object to.
        outfile: PathBuf,
    },
}

fn open(state_dir: &Path) -> anyhow::Result<LocalS3> {
    Ok(LocalS3::open(&state_dir.join("s3"))?)
}

/// `s3://bucket/key` → (bucket, key); the key may be empty.
pub(crate) fn parse_s3_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .with_context(|| format!("'{url}' is not an S3 URL (s3://bucket/key)"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("'{url}' names no bucket");
    }
    Ok((bucket.to_string(), key.to_string()))
}

pub fn s3(state_dir: &Path, command: S3Command) -> anyhow::Result<ExitCode> {
    let store = open(state_dir)?;
    match command {
        S3Command::Mb { target } => {
            let (bucket, _) = parse_s3_url(&target)?;
            store.create_bucket(&bucket)?;
            outln!("make_bucket: {bucket}");
        }
        S3Command::Rb { target, force } => {
            let (bucket, _) = parse_s3_url(&target)?;
            if force {
                for version in store.list_versions(&bucket, "")? {
                    let id = version.version_id.as_deref().unwrap_or("null");
                    store.delete_object(&bucket, &version.key, Some(id))?;
                }
            }
            store.delete_bucket(&bucket)?;
            outln!("remove_bucket: {bucket}");
        }
        S3Command::Cp {
            source,
            destination,
            recursive,
            content_type,
            cache_control,
        } => {
            let options = PutOptions {
                content_type,
                cache_control,
                ..PutOptions::default()
            };
            copy(&store, &source, &destination, recursive, options)?;
        }
        S3Command::Ls { target, recursive } => list(&store, target.as_deref(), recursive)?,
        S3Command::Sync(args) => crate::s3_sync::sync(&store, args)?,
        S3Command::Rm { target, recursive } => {
            let (bucket, key) = parse_s3_url(&target)?;
            let keys = if recursive {
                all_keys(&store, &bucket, &key)?
            } else {
                vec![key]
            };
            for key in keys {
                store.delete_object(&bucket, &key, None)?;
                outln!("delete: s3://{bucket}/{}", Escaped(&key));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn all_keys(store: &LocalS3, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(all_objects(store, bucket, prefix)?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

/// Every object under `prefix`, page by page.
pub(crate) fn all_objects(
    store: &LocalS3,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<Vec<ObjectInfo>> {
    let mut objects = Vec::new();
    let mut query = ListQuery {
        prefix: Some(prefix.to_string()),
        max_keys: 1000,
        ..ListQuery::default()
    };
    loop {
        let page = store.list_objects(bucket, &query)?;
        objects.extend(page.objects);
        match page.next_start_after {
            Some(after) => query.start_after = Some(after),
            None => return Ok(objects),
        }
    }
}

/// Where the object at `relative` below a prefix lands below local `root`: never outside
/// it, whatever the key holds (`..`, an absolute path), as keys are anyone's to write.
pub(crate) fn local_target(root: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(relative);
    let inside = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside || relative.is_empty() {
        bail!(
            "the key part '{}' would land outside {}: not downloaded",
            Escaped(relative),
            root.display()
        );
    }
    Ok(root.join(path))
}

fn copy(
    store: &LocalS3,
    source: &str,
    destination: &str,
    recursive: bool,
    options: PutOptions,
) -> anyhow::Result<()> {
    match (
        source.starts_with("s3://"),
        destination.starts_with("s3://"),
    ) {
        (false, true) => {
            let (bucket, key) = parse_s3_url(destination)?;
            if recursive {
                let root = Path::new(source);
                for file in local_files(root)? {
                    let relative = file
                        .strip_prefix(root)?
                        .to_string_lossy()
                        .replace('\\', "/");
                    let key = join_key(&key, &relative);
                    upload(store, &file, &bucket, &key, options.clone())?;
                }
                return Ok(());
            }
            let key = if key.is_empty() || key.ends_with('/') {
                let name = Path::new(source)
                    .file_name()
                    .with_context(|| format!("'{source}' has no file name"))?;
                format!("{key}{}", name.to_string_lossy())
            } else {
                key
            };
            upload(store, Path::new(source), &bucket, &key, options)
        }
        (true, false) => {
            let (bucket, key) = parse_s3_url(source)?;
            if recursive {
                for object_key in all_keys(store, &bucket, &key)? {
                    let relative = object_key[key.len()..].trim_start_matches('/');
                    let target = local_target(Path::new(destination), relative)?;
                    download(store, &bucket, &object_key, &target)?;
                }
                return Ok(());
            }
            let target = if Path::new(destination).is_dir() {
                let name = key.rsplit('/').next().unwrap_or(&key);
                local_target(Path::new(destination), name)?
            } else {
                PathBuf::from(destination)
            };
            download(store, &bucket, &key, &target)
        }
        (true, true) => {
            let (from_bucket, from_key) = parse_s3_url(source)?;
            let (to_bucket, to_key) = parse_s3_url(destination)?;
            let keys = if recursive {
                all_keys(store, &from_bucket, &from_key)?
            } else {
                vec![from_key.clone()]
            };
            for key in keys {
                let target_key = if recursive {
                    join_key(&to_key, key[from_key.len()..].trim_start_matches('/'))
                } else if to_key.is_empty() || to_key.ends_with('/') {
                    format!("{to_key}{}", key.rsplit('/').next().unwrap_or(&key))
                } else {
                    to_key.clone()
                };
                copy_object(
                    store,
                    (&from_bucket, &key),
                    (&to_bucket, &target_key),
                    &options,
                )?;
            }
            Ok(())
        }
        (false, false) => {
            bail!("at least one of '{source}' and '{destination}' must be an s3:// URL")
        }
    }
}

/// Copy one object within the store, keeping its type and metadata unless `options` set a
/// type.
pub(crate) fn copy_object(
    store: &LocalS3,
    (from_bucket, key): (&str, &str),
    (to_bucket, target_key): (&str, &str),
    options: &PutOptions,
) -> anyhow::Result<()> {
    let (info, file) = store.open_object(from_bucket, key, None)?;
    let options = PutOptions {
        content_type: options.content_type.clone().or(info.content_type),
        metadata: info.metadata,
        ..options.clone()
    };
    store.put_object(
        to_bucket,
        target_key,
        &mut file.into_std(),
        options,
        u64::MAX,
    )?;
    outln!(
        "copy: s3://{from_bucket}/{} to s3://{to_bucket}/{}",
        Escaped(key),
        Escaped(target_key)
    );
    Ok(())
}

fn join_key(prefix: &str, relative: &str) -> String {
    if prefix.is_empty() {
        relative.to_string()
    } else {
        format!("{}/{relative}", prefix.trim_end_matches('/'))
    }
}

pub(crate) fn local_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn upload(
    store: &LocalS3,
    source: &Path,
    bucket: &str,
    key: &str,
    options: PutOptions,
) -> anyhow::Result<()> {
    let mut reader: Box<dyn Read> = if source == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(source).with_context(|| format!("{}", source.display()))?)
    };
    let options = PutOptions {
        content_type: options.content_type.or_else(|| guess_content_type(key)),
        ..options
    };
    store.put_object(bucket, key, &mut reader, options, u64::MAX)?;
    outln!(
        "upload: {} to s3://{bucket}/{}",
        Escaped(&source.display().to_string()),
        Escaped(key)
    );
    Ok(())
}

/// Write an object to `target` (`-` is stdout), dated with its LastModified as the AWS CLI
/// does, so a later `sync` sees the two as the same.
pub(crate) fn download(
    store: &LocalS3,
    bucket: &str,
    key: &str,
    target: &Path,
) -> anyhow::Result<()> {
    let (info, file) = store.open_object(bucket, key, None)?;
    let mut file = file.into_std();
    if target == Path::new("-") {
        let mut stdout = crate::terminal::stdout();
        std::io::copy(&mut file, &mut stdout)?;
        stdout.flush()?;
        return Ok(());
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let shown = target.display().to_string();
    let mut out = std::fs::File::create(target).with_context(|| shown.clone())?;
    std::io::copy(&mut file, &mut out)?;
    out.flush()?;
    if let Some(time) = crate::s3_sync::modified_time(&info.last_modified) {
        out.set_modified(time).with_context(|| shown.clone())?;
    }
    outln!(
        "download: s3://{bucket}/{} to {}",
        Escaped(key),
        Escaped(&shown)
    );
    Ok(())
}

fn guess_content_type(key: &str) -> Option<String> {
    let extension = key.rsplit_once('.')?.1.to_ascii_lowercase();
    let known = match extension.as_str() {
        "zip" => "application/zip",
        "json" => "application/json",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "text/javascript",
        "yaml" | "yml" => "application/yaml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        _ => return None,
    };
    Some(known.to_string())
}

fn list(store: &LocalS3, target: Option<&str>, recursive: bool) -> anyhow::Result<()> {
    let Some(target) = target else {
        for bucket in store.list_buckets()? {
            outln!("{} {}", short_time(&bucket.created), bucket.name);
        }
        return Ok(());
    };
    let (bucket, prefix) = parse_s3_url(target)?;
    let mut query = ListQuery {
        prefix: Some(prefix),
        delimiter: (!recursive).then(|| "/".to_string()),
        max_keys: 1000,
        start_after: None,
    };
    loop {
        let page = store.list_objects(&bucket, &query)?;
        for common in &page.common_prefixes {
            let shown = common
                .strip_prefix(query.prefix.as_deref().unwrap_or(""))
                .unwrap_or(common);
            // Keys are whatever actions and users put there.
            outln!("{:>30} {}", "PRE", Escaped(shown));
        }
        for object in &page.objects {
            let shown = if recursive {
                object.key.as_str()
            } else {
                object
                    .key
                    .strip_prefix(query.prefix.as_deref().unwrap_or(""))
                    .unwrap_or(&object.key)
            };
            outln!(
                "{} {:>10} {}",
                short_time(&object.last_modified),
                object.size,
                Escaped(shown)
            );
        }
        match page.next_start_after {
            Some(after) => query.start_after = Some(after),
            None => return Ok(()),
        }
    }
}

/// `2026-11-22 07:01:02`, as `aws s3 ls` prints times.
fn short_time(rfc3339: &str) -> String {
    rfc3339
        .get(..19)
        .map(|t| t.replace('T', " "))
        .unwrap_or_else(|| rfc3339.to_string())
}

pub fn s3api(state_dir: &Path, command: S3ApiCommand) -> anyhow::Result<ExitCode> {
    let store = open(state_dir)?;
    let output = match command {
        S3ApiCommand::PutBucketVersioning {
            bucket,
            versioning_configuration,
        } => {
            let status = parse_versioning_status(&versioning_configuration)?;
            store.set_versioning(&bucket, status == "Enabled")?;
            return Ok(ExitCode::SUCCESS);
        }
        S3ApiCommand::GetBucketVersioning { bucket } => {
            match store.bucket_info(&bucket)?.versioning {
                Versioning::Unversioned => serde_json::json!({}),
                Versioning::Enabled => serde_json::json!({ "Status": "Enabled" }),
                Versioning::Suspended => serde_json::json!({ "Status": "Suspended" }),
            }
        }
        S3ApiCommand::ListObjectVersions { bucket, prefix } => {
            let (mut versions, mut markers) = (Vec::new(), Vec::new());
            for v in store.list_versions(&bucket, &prefix)? {
                let entry = serde_json::json!({
                    "Key": v.key,
                    "VersionId": v.version_id.as_deref().unwrap_or("null"),
                    "IsLatest": v.is_latest,
                    "LastModified": v.last_modified,
                });
                if v.etag.is_empty() {
                    markers.push(entry);
                } else {
                    let mut entry = entry;
                    entry["ETag"] = v.etag.into();
                    entry["Size"] = v.size.into();
                    versions.push(entry);
                }
            }
            serde_json::json!({ "Versions": versions, "DeleteMarkers": markers })
        }
        S3ApiCommand::HeadObject {
            bucket,
            key,
            version_id,
        } => object_json(&store.head_object(&bucket, &key, version_id.as_deref())?),
        S3ApiCommand::GetObject {
            bucket,
            key,
            version_id,
            outfile,
        } => {
            let (info, file) = store.open_object(&bucket, &key, version_id.as_deref())?;
            let mut out =
                std::fs::File::create(&outfile).with_context(|| outfile.display().to_string())?;
            std::io::copy(&mut file.into_std(), &mut out)?;
            object_json(&info)
        }
    };
    outln!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

fn object_json(info: &sandpipe_store::ObjectInfo) -> serde_json::Value {
    serde_json::json!({
        "ETag": info.etag,
        "ContentLength": info.size,
        "LastModified": info.last_modified,
        "VersionId": info.version_id.as_deref().unwrap_or("null"),
        "ContentType": info.content_type,
        "CacheControl": info.cache_control,
        "Metadata": info.metadata,
    })
}

fn parse_versioning_status(text: &str) -> anyhow::Result<String> {
    let status = if text.trim_start().starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).context("--versioning-configuration is not valid JSON")?;
        value["Status"].as_str().map(str::to_string)
    } else {
        text.split(',')
            .find_map(|pair| pair.trim().strip_prefix("Status="))
            .map(str::to_string)
    };
    match status.as_deref() {
        Some("Enabled" | "Suspended") => Ok(status.unwrap()),
        _ => bail!(
            "--versioning-configuration must set Status=Enabled or Status=Suspended, not '{text}'"
        ),
    }
}
