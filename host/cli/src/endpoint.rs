//! The AWS endpoint a CLI run starts for its Lambda handlers: the handlers call
//! `put_job_success_result` and `s3.get_object` through `AWS_ENDPOINT_URL`, so a run with a
//! Lambda action needs `sandpipe serve`'s API on its own state — started on a free loopback
//! port when the first handler is invoked, and only then.

use std::sync::Arc;

use anyhow::Context;
use sandpipe_engine::{PipelineFiles, PipelineRunner};
use sandpipe_server::{App, ServeOptions};

/// Let `runner` start an endpoint on its state the first time a handler needs one.
pub(crate) fn on_demand(runner: &Arc<PipelineRunner>) {
    let weak = Arc::downgrade(runner);
    runner.set_endpoint_starter(Box::new(move || {
        let runner = weak.upgrade().context("the run has ended")?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("listening on a loopback port for the Lambda handlers' endpoint")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let url = format!("http://{address}");
        let options = ServeOptions {
            domain: Some(format!("localhost:{}", address.port())),
            url: Some(url.clone()),
            console: sandpipe_server::ConsoleMode::Off,
            ..ServeOptions::default()
        };
        let app = Arc::new(App::new(runner, PipelineFiles::default(), options));
        let listener = tokio::net::TcpListener::from_std(listener)?;
        // It serves until the process ends.
        tokio::spawn(sandpipe_server::serve(
            app,
            listener,
            std::future::pending(),
        ));
        Ok(url)
    }));
}
