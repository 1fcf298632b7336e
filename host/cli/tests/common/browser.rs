//! A real browser for the console's tests: Debian's Chromium, headless, driven through its
//! chromedriver over WebDriver (fantoccini). `.ci/run` installs both; elsewhere
//! `$SANDPIPE_CHROMIUM` and `$SANDPIPE_CHROMEDRIVER` name them.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

/// How long a test waits for the page to show what it expects.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Browser {
    driver: Child,
    pub client: Client,
    _profile: tempfile::TempDir,
}

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("SANDPIPE_CHROMIUM") {
        return PathBuf::from(path);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect(
        "the console tests need Chromium: apt-get install chromium chromium-driver \
             (or set SANDPIPE_CHROMIUM and SANDPIPE_CHROMEDRIVER)",
    )
}

impl Browser {
    pub async fn start() -> Browser {
        let driver_program =
            std::env::var("SANDPIPE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&driver_program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browsers it starts go when it goes.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{driver_program}: {e} (apt-get install chromium chromium-driver)")
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,900",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromedriver session");
        Browser {
            driver,
            client,
            _profile: profile,
        }
    }

    /// Wait until `look` finds what it looks for (`Some`), for at most [`PATIENCE`]; panic
    /// with `what` and the page's text when it never does.
    pub async fn until<T, F, Fut>(&self, what: &str, mut look: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = look().await {
                return found;
            }
            if Instant::now() > deadline {
                let text = self.text("body").await.unwrap_or_default();
                panic!("the page never showed {what}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element `css` matches, if there is one. Read in one script
    /// rather than find-then-read: the page replaces its main part whenever the state
    /// changes, and an element found a moment earlier may already be gone (stale).
    pub async fn text(&self, css: &str) -> Option<String> {
        let found = self
            .client
            .execute(
                "const e = document.querySelector(arguments[0]); \
                 return e === null ? null : e.innerText.trim();",
                vec![serde_json::Value::from(css)],
            )
            .await
            .ok()?;
        found.as_str().map(str::to_string)
    }

    /// Click what `locator` finds, once it is there. The page refreshes itself as the state
    /// changes, so an element found may be replaced before the click: find it again then.
    pub async fn click(&self, what: &str, locator: fantoccini::Locator<'_>) {
        self.until(what, || async move {
            let element = self.client.find(locator).await.ok()?;
            element.click().await.ok()
        })
        .await
    }

    /// Type `text` into what `locator` finds (after clearing it), as [`Browser::click`].
    pub async fn type_into(&self, what: &str, locator: fantoccini::Locator<'_>, text: &str) {
        self.until(what, || async move {
            let element = self.client.find(locator).await.ok()?;
            element.clear().await.ok()?;
            element.send_keys(text).await.ok()
        })
        .await
    }

    pub async fn close(&self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this driver leads; no memory is involved.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
