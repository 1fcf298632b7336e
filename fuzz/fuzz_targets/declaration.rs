//! The pipeline declaration loader: create-pipeline input, get-pipeline output or a bare
//! declaration, in JSON or YAML (CloudFormation templates are routed to the converter too,
//! see the `cloudformation` target), then everything run on a pipeline that loaded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandpipe_fuzz::{exercise, format_and_text};
use sandpipe_model::parse_document;

fuzz_target!(|data: &[u8]| {
    let Some((_, yaml, text)) = format_and_text(data) else {
        return;
    };
    match parse_document("fuzz", text, yaml) {
        Ok(loaded) => exercise(&loaded),
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
