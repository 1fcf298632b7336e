//! `Deploy/AWS/S3/1`: upload the input artifact to a bucket, either as it is (Extract=false,
//! one object at ObjectKey) or unpacked, one object per file under the ObjectKey prefix.

use std::fs;
use std::io::Read;
use std::path::Path;

use sandpipe_action_sdk::object_store::{self, PutOptions};
use sandpipe_action_sdk::{Action, Failure, Outcome, Request, export_action, log};

struct S3Deploy;

impl Action for S3Deploy {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let config = request.config();
        let bucket = config.required("BucketName")?;
        let extract = config.required_flag("Extract")?;
        let input = request.single_input()?;
        let options = PutOptions {
            cache_control: config.get("CacheControl").map(str::to_string),
            canned_acl: config.get("CannedACL").map(str::to_string),
            kms_key_id: config.get("KMSEncryptionKeyARN").map(str::to_string),
            ..PutOptions::default()
        };

        if !extract {
            let key = expand_placeholders(config.get("ObjectKey").unwrap_or_default());
            if key.is_empty() {
                return Err(Failure::configuration(
                    "ObjectKey is required when Extract is false",
                ));
            }
            let object = object_store::put_object(bucket, &key, &input.archive, &options)?;
            log::info(format!(
                "uploaded s3://{bucket}/{key} ({} bytes)",
                object.size
            ));
            return Ok(Outcome::new().summary(format!("Deployed artifact to s3://{bucket}/{key}")));
        }

        if !is_zip(&input.archive)? {
            return Err(Failure::job(format!(
                "Extract is true but the input artifact '{}' is not a zip file, so it cannot be \
                 extracted",
                input.name
            )));
        }
        let prefix = match config.get("ObjectKey").map(expand_placeholders) {
            Some(prefix) if !prefix.is_empty() => format!("{}/", prefix.trim_end_matches('/')),
            _ => String::new(),
        };
        let mut files = Vec::new();
        collect_files(Path::new(&input.path), "", &mut files)?;
        files.sort();
        for relative in &files {
            let key = format!("{prefix}{relative}");
            let options = PutOptions {
                content_type: Some(
                    mime_guess::from_path(relative)
                        .first_or_octet_stream()
                        .to_string(),
                ),
                ..options.clone()
            };
            let source = format!("{}/{relative}", input.path);
            let object = object_store::put_object(bucket, &key, &source, &options)?;
            log::info(format!(
                "uploaded s3://{bucket}/{key} ({} bytes)",
                object.size
            ));
        }
        Ok(Outcome::new().summary(format!(
            "Deployed {} file(s) to s3://{bucket}/{prefix}",
            files.len()
        )))
    }
}

fn is_zip(path: &str) -> Result<bool, Failure> {
    let mut magic = [0u8; 4];
    let mut file = fs::File::open(path).map_err(|e| Failure::io(path, e))?;
    let read = file.read(&mut magic).map_err(|e| Failure::io(path, e))?;
    Ok(read == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

/// Every regular file below `dir`, as `/`-separated paths relative to the artifact root.
fn collect_files(dir: &Path, relative: &str, files: &mut Vec<String>) -> Result<(), Failure> {
    let entries = fs::read_dir(dir).map_err(|e| Failure::io(dir.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::io(dir.display(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let file_type = entry.file_type().map_err(|e| Failure::io(&path, e))?;
        if file_type.is_dir() {
            collect_files(&entry.path(), &path, files)?;
        } else if file_type.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// `{datetime}` (UTC, `YYYY-MM-DD_HH-MM-SS`) and `{uuid}` in object keys, as AWS documents.
fn expand_placeholders(key: &str) -> String {
    let mut key = key.to_string();
    if key.contains("{datetime}") {
        key = key.replace("{datetime}", &utc_datetime());
    }
    while key.contains("{uuid}") {
        key = key.replacen("{uuid}", &uuid::Uuid::new_v4().to_string(), 1);
    }
    key
}

fn utc_datetime() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, time_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}_{:02}-{:02}-{:02}",
        time_of_day / 3600,
        time_of_day / 60 % 60,
        time_of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

export_action!(S3Deploy);
