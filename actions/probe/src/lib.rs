//! A test-only provider that does whatever its `Mode` configuration says, including what a
//! hostile action would try. The host's sandbox tests run it; it is never a built-in provider.

use std::fs;
use std::io::Write;

use sandpipe_action_sdk::files::{copy_tree, symlink};
use sandpipe_action_sdk::object_store;
use sandpipe_action_sdk::{Action, Failure, FailureKind, Outcome, Request, export_action, log};

struct Probe;

impl Action for Probe {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let config = request.config();
        // Run as a Lambda function, its configuration is FunctionName and UserParameters.
        let mode = match config.get("UserParameters") {
            Some(mode) => mode,
            None => config.required("Mode")?,
        };
        match mode {
            "noop" => Ok(Outcome::new()),
            "read" => {
                let path = config.required("Path")?;
                let content = fs::read_to_string(path).map_err(|e| Failure::io(path, e))?;
                Ok(Outcome::new().variable("Content", truncate(&content, 200)))
            }
            "write" => {
                let path = config.required("Path")?;
                let content = config.get("Content").unwrap_or("probe");
                fs::write(path, content).map_err(|e| Failure::io(path, e))?;
                Ok(Outcome::new())
            }
            "symlink" => {
                symlink(config.required("Target")?, config.required("Path")?)?;
                Ok(Outcome::new())
            }
            "sleep" => {
                let millis: u64 = parse(config.required("Millis")?)?;
                std::thread::sleep(std::time::Duration::from_millis(millis));
                Ok(Outcome::new().summary(format!("slept {millis} ms")))
            }
            "loop" => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "allocate" => {
                let megabytes: usize = parse(config.required("Megabytes")?)?;
                let mut blocks = Vec::new();
                for _ in 0..megabytes {
                    blocks.push(vec![1u8; 1 << 20]);
                }
                Ok(Outcome::new().variable("Allocated", blocks.len().to_string()))
            }
            "get-object" => {
                // `Object` is `bucket/key`: the key name does not grant the bucket, so tests
                // can aim at a bucket the configuration does not name.
                let object = config.required("Object")?;
                let (bucket, key) = object
                    .split_once('/')
                    .ok_or_else(|| Failure::configuration("Object must be bucket/key"))?;
                let info = object_store::get_object(
                    bucket,
                    key,
                    None,
                    config.get("Path").unwrap_or("/tmp/object"),
                )?;
                Ok(Outcome::new().variable("ETag", info.etag))
            }
            "fail-once" => {
                // Fails the first time (leaving a marker object), succeeds once it is there.
                let object = config.required("Object")?;
                let (bucket, key) = object
                    .split_once('/')
                    .ok_or_else(|| Failure::configuration("Object must be bucket/key"))?;
                if object_store::head_object(bucket, key, None).is_ok() {
                    return Ok(Outcome::new().summary("the marker was there"));
                }
                fs::write("/tmp/marker", "tried").map_err(|e| Failure::io("/tmp/marker", e))?;
                object_store::put_object(bucket, key, "/tmp/marker", &Default::default())?;
                Err(Failure::job("failing once, as asked"))
            }
            "copy-inputs" => {
                for output in &request.outputs {
                    for input in &request.inputs {
                        copy_tree(&input.path, &output.path)?;
                    }
                }
                Ok(Outcome::new())
            }
            "entropy" => {
                // What a careless build stamps into its output: the time and random numbers,
                // read every way a guest can. Deterministic runs must make this the same.
                let wall = wasip2::clocks::wall_clock::now();
                let since_epoch = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let text = format!(
                    "wall {}.{:09}\nstd {}\nmonotonic {}\nrandom {}\ninsecure {}\nhashed {}\n",
                    wall.seconds,
                    wall.nanoseconds,
                    since_epoch.as_nanos(),
                    wasip2::clocks::monotonic_clock::now(),
                    wasip2::random::random::get_random_u64(),
                    wasip2::random::insecure::get_insecure_random_u64(),
                    std::hash::BuildHasher::hash_one(
                        &std::collections::hash_map::RandomState::new(),
                        "sandpipe"
                    ),
                );
                for output in &request.outputs {
                    let path = format!("{}/entropy.txt", output.path);
                    fs::write(&path, &text).map_err(|e| Failure::io(&path, e))?;
                }
                Ok(Outcome::new())
            }
            "print" => {
                let lines: usize = parse(config.get("Lines").unwrap_or("1"))?;
                let mut stdout = std::io::stdout().lock();
                for n in 0..lines {
                    writeln!(stdout, "line {n} from the probe")
                        .map_err(|e| Failure::io("stdout", e))?;
                }
                log::info("printed");
                Ok(Outcome::new())
            }
            "echo-config" => Ok(config
                .iter()
                .filter(|(k, _)| *k != "Mode")
                .fold(Outcome::new(), |outcome, (k, v)| outcome.variable(k, v))),
            "fill" => {
                // Write to `Path` until a write fails; succeed anyway, as a careless tool
                // would: the host must fail the action for its budget all the same.
                let path = config.required("Path")?;
                let chunk = vec![7u8; 1 << 20];
                let mut file = fs::File::create(path).map_err(|e| Failure::io(path, e))?;
                let mut written: u64 = 0;
                let stopped = loop {
                    match file.write_all(&chunk) {
                        Ok(()) => written += chunk.len() as u64,
                        Err(e) => break e,
                    }
                };
                Ok(Outcome::new().summary(format!("wrote {written} bytes, then: {stopped}")))
            }
            "many-files" => {
                let dir = config.required("Path")?;
                let mut made: u64 = 0;
                let stopped = loop {
                    match fs::write(format!("{dir}/f{made}"), b"") {
                        Ok(()) => made += 1,
                        Err(e) => break e,
                    }
                };
                Ok(Outcome::new().summary(format!("made {made} files, then: {stopped}")))
            }
            "outcome" => {
                // An outcome as large or as strange as the configuration asks.
                let times: usize = parse(config.get("SummaryRepeat").unwrap_or("1"))?;
                let variables: usize = parse(config.get("Variables").unwrap_or("0"))?;
                let value = config.get("Value").unwrap_or("1");
                let mut outcome = Outcome::new();
                if let Some(summary) = config.get("Summary") {
                    outcome = outcome.summary(summary.repeat(times));
                }
                for n in 0..variables {
                    outcome = outcome.variable(format!("v{n}"), value);
                }
                Ok(outcome)
            }
            "fail" => Err(Failure::new(
                FailureKind::JobFailed,
                config.get("Message").unwrap_or("the probe failed as asked"),
            )),
            other => Err(Failure::configuration(format!(
                "unknown probe mode '{other}'"
            ))),
        }
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> Result<T, Failure> {
    value
        .parse()
        .map_err(|_| Failure::configuration(format!("'{value}' is not a number")))
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

export_action!(Probe);
