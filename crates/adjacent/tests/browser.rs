//! The HTML report and the dashboard in a real browser: headless Chromium driven through
//! ChromeDriver (WebDriver). Each page must render every chart (a canvas of non-zero size, and the
//! page's own count of what it drew) with no error in the console; a screenshot of each is kept in
//! the test's target folder (`target/tmp/browser/`).
//!
//! `.ci/run` installs Chromium and ChromeDriver (Debian's packages) and sets
//! ADJACENT_TEST_BROWSER=1, under which a missing browser fails these tests; without it they are
//! skipped when no `chromedriver` is on the PATH.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adjacent_core::claim::{Asked, Claim};
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::study::{Lease, Storage};
use adjacent_core::trial::TrialState;
use adjacent_store::{DbStorage, StudySpec};
use base64::Engine;
use common::{Killed, TABLE, TINY_ADJACENT, adjacent, records};
use serde_json::{Value, json};

/// Tiny baselines (evolution): every trial validated.
const TINY_EVOLUTION: &str = crate::tiny_settings!(
    "scratch_epochs = 0.5\n",
    r#"
[evolution]
population = 3
tournament = 2
"#
);

/// Whether the browser tests run here.
fn browser_available() -> bool {
    let found = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match (found, std::env::var_os("ADJACENT_TEST_BROWSER").is_some()) {
        (true, _) => true,
        (false, true) => panic!(
            "ADJACENT_TEST_BROWSER is set but chromedriver is not on the PATH (.ci/chromium.sh installs it)"
        ),
        (false, false) => {
            eprintln!(
                "SKIPPED (browser): no chromedriver (run .ci/chromium.sh, or .ci/run, which installs it)"
            );
            false
        }
    }
}

/// Where screenshots are kept.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A headless Chromium under ChromeDriver, closed on drop.
struct Browser {
    driver: Child,
    agent: ureq::Agent,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let root = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(format!("{root}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        // As the machine's notes advise: no background networking on a closed network.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,2200",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let answer = post(&agent, &format!("{root}/session"), &caps);
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Browser {
            driver,
            agent,
            base: format!("{root}/session/{session}"),
            _profile: profile,
        }
    }

    fn goto(&self, url: &str) {
        let answer = post(
            &self.agent,
            &format!("{}/url", self.base),
            &json!({"url": url}),
        );
        assert!(answer["value"].is_null(), "{url}: {answer}");
    }

    /// The value a script returns.
    fn run(&self, script: &str) -> Value {
        let answer = post(
            &self.agent,
            &format!("{}/execute/sync", self.base),
            &json!({"script": script, "args": []}),
        );
        assert!(answer["value"].get("error").is_none(), "{script}: {answer}");
        answer["value"].clone()
    }

    /// Waits until `script` returns true.
    fn wait_for(&self, script: &str, timeout: Duration) {
        let started = Instant::now();
        while self.run(script) != Value::Bool(true) {
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {script}; errors: {:?}",
                self.console_errors()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Console messages at the level of errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let answer = post(
            &self.agent,
            &format!("{}/se/log", self.base),
            &json!({"type": "browser"}),
        );
        answer["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no log: {answer}"))
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].to_string())
            .collect()
    }

    fn screenshot(&self, path: &Path) {
        let mut response = self
            .agent
            .get(format!("{}/screenshot", self.base))
            .call()
            .unwrap();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["value"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// Every chart on the page: drawn into a canvas of non-zero size, with the points the page
    /// says it drew. Returns (charts, the fewest points of one chart).
    fn charts(&self) -> (u64, u64) {
        let found = self.run(
            "return Array.from(document.querySelectorAll('.chart')).map(function (n) {
               var c = n.querySelector('canvas');
               return {points: Number(n.dataset.points || -1), w: c ? c.width : 0, h: c ? c.height : 0};
             });",
        );
        let charts = found.as_array().unwrap();
        for c in charts {
            assert!(
                c["w"].as_u64().unwrap() > 0 && c["h"].as_u64().unwrap() > 0,
                "a chart without a canvas: {found}"
            );
        }
        let fewest = charts
            .iter()
            .map(|c| c["points"].as_i64().unwrap())
            .min()
            .unwrap_or(0);
        (charts.len() as u64, fewest.max(0) as u64)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Value {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let text = response.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

fn body_number(browser: &Browser, key: &str) -> u64 {
    browser
        .run(&format!("return Number(document.body.dataset.{key} || 0);"))
        .as_u64()
        .unwrap()
}

/// A tiny search of 600 built-in images with the settings `config`.
fn tiny_search(dir: &Path, name: &str, config: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let out = dir.join(name);
    let mut args = vec![
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = adjacent(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

#[test]
fn the_html_report_renders_every_chart_and_sorts_its_tables() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let budget = ["--budget-flops", "3e10"];
    let grown = tiny_search(dir.path(), "adjacent", TINY_ADJACENT, &budget);
    let evolution = tiny_search(
        dir.path(),
        "evolution",
        TINY_EVOLUTION,
        &["--budget-flops", "3e10", "--strategy", "evolution"],
    );
    let control = tiny_search(
        dir.path(),
        "fixed",
        TINY_ADJACENT,
        &[
            "--budget-flops",
            "3e10",
            "--strategy",
            "fixed",
            "--arch",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            "--channels",
            "4",
        ],
    );
    let html = dir.path().join("report.html");
    let run = adjacent(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        grown.to_str().unwrap(),
        evolution.to_str().unwrap(),
        control.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing is fetched from a network.
    assert!(
        !text.contains("src=\"http") && !text.contains("cdn"),
        "a remote resource"
    );

    let browser = Browser::start();
    browser.goto(&format!("file://{}", html.display()));
    browser.wait_for(
        "return document.body.dataset.renders === '1';",
        Duration::from_secs(30),
    );
    // The comparison, then per search a curve, a genealogy and a Pareto chart (the control has no
    // trials: its curve only).
    let (charts, fewest) = browser.charts();
    assert_eq!(charts, 1 + 3 + 3 + 1, "charts on the page");
    assert!(fewest > 0, "an empty chart");
    assert_eq!(body_number(&browser, "charts"), charts);
    let trials = records(&grown).len() + records(&evolution).len();
    assert_eq!(body_number(&browser, "trials"), trials as u64);
    // The table lists every trial; a click on the validation column sorts by it, twice reverses.
    let rows = browser.run("return document.querySelectorAll('#search-1-table tbody tr').length;");
    assert_eq!(rows, json!(records(&evolution).len()));
    let column = |key: &str| {
        format!(
            "var i = Array.from(document.querySelectorAll('#search-1-table th')).findIndex(function (t) {{ return t.dataset.key === '{key}'; }});
             return Array.from(document.querySelectorAll('#search-1-table tbody tr')).map(function (r) {{ return r.children[i].textContent; }});"
        )
    };
    let click = "document.querySelector('#search-1-table th[data-key=\"valid_acc\"]').click(); return true;";
    browser.run(click);
    let ascending: Vec<f64> = values(&browser.run(&column("valid_acc")));
    assert!(ascending.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}");
    browser.run(click);
    let descending: Vec<f64> = values(&browser.run(&column("valid_acc")));
    assert!(
        descending.windows(2).all(|w| w[0] >= w[1]),
        "{descending:?}"
    );
    // The delivered line is marked (the adjacent search's final phase continued one trial).
    let delivered =
        browser.run("return document.querySelectorAll('#search-0-table tr.delivered').length;");
    assert!(delivered.as_u64().unwrap() >= 1, "no delivered line");
    // The control is named in every other search's summary.
    let control = browser.run(
        "var dts = Array.from(document.querySelectorAll('#search-0 .summary-box dt'));
         var i = dts.findIndex(function (d) { return d.textContent === 'control'; });
         return i < 0 ? null : dts[i].nextElementSibling.textContent;",
    );
    assert!(
        control.as_str().is_some_and(|c| c.starts_with("fixed (")),
        "{control}"
    );
    assert_eq!(browser.console_errors(), Vec::<String>::new());
    assert_eq!(body_number(&browser, "errors"), 0);
    browser.screenshot(&artifacts().join("report.png"));
}

fn values(column: &Value) -> Vec<f64> {
    column
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().unwrap().parse().ok())
        .collect()
}

#[test]
fn a_report_of_a_500_trial_study_stays_small_and_renders() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table");
    let run = adjacent(&[
        "search",
        "--table",
        TABLE,
        "--strategy",
        "evolution",
        "--trials",
        "500",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = dir.path().join("report.html");
    let run = adjacent(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The stated bound (README): under 2 MiB, of which the chart library is 1.1 MB.
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 2 << 20, "{size} bytes");
    let browser = Browser::start();
    let started = Instant::now();
    browser.goto(&format!("file://{}", html.display()));
    browser.wait_for(
        "return document.body.dataset.renders === '1';",
        Duration::from_secs(60),
    );
    eprintln!(
        "500 trials: {size} bytes, loaded and drawn in {:.2} s (the page's own drawing {} ms)",
        started.elapsed().as_secs_f64(),
        body_number(&browser, "renderMs")
    );
    assert_eq!(body_number(&browser, "trials"), 500);
    let (charts, fewest) = browser.charts();
    assert_eq!((charts, fewest > 0), (3, true));
    assert_eq!(browser.console_errors(), Vec::<String>::new());
    browser.screenshot(&artifacts().join("report-500.png"));
}

/// The dashboard's address, from the line it prints when it serves.
fn dashboard(storage: &str) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adjacent"))
        .args(["dashboard", "--storage", storage, "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines
        .next()
        .expect("the dashboard says where it serves")
        .unwrap();
    let address = line
        .split(" at ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    // Keep draining what it prints so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), address)
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Adds a trial to a study as a worker would: claims it, then records it complete.
fn add_trial(storage: &mut DbStorage<NetworkArch, Morphism>, trial: &TrialOf<GrownSpace>) {
    let lease = Lease {
        timeout: 60.0,
        max_attempts: 3,
    };
    let mut asked = trial.clone();
    asked.state = TrialState::Pending;
    let claim = storage
        .claim("browser-test", lease, 0, &mut |_| {
            Ok(Asked::New(Box::new(asked.clone())))
        })
        .unwrap();
    let Claim::Run(mut running) = claim else {
        panic!("no trial to run: {claim:?}");
    };
    running.state = TrialState::Complete;
    running.outcome = trial.outcome;
    assert!(storage.finish(&running).unwrap());
}

#[test]
fn the_dashboard_follows_a_study_while_a_worker_adds_trials() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Real trials (morphisms with inherited weights), recorded again by a "worker" into a study.
    let grown = tiny_search(
        dir.path(),
        "adjacent",
        TINY_ADJACENT,
        &["--budget-flops", "3e10"],
    );
    let trials: Vec<TrialOf<GrownSpace>> = std::fs::read_to_string(grown.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(trials.len() >= 4, "{} trials", trials.len());
    let db_path = dir.path().join("studies.db");
    let url = db_path.to_str().unwrap().to_string();
    let mut database = adjacent_store::open(&url).unwrap();
    let spec = StudySpec {
        name: "live <study>".into(),
        space: "grown".into(),
        strategy: "adjacent".into(),
        seed: 0,
        data: "builtin".into(),
        settings: "{}".into(),
    };
    let info = adjacent_store::open_study(&mut database, &spec, true).unwrap();
    let mut storage = DbStorage::new(database, &info);
    let (first, last) = trials.split_at(trials.len() - 2);
    for t in first {
        add_trial(&mut storage, t);
    }

    let (_server, address) = dashboard(&url);
    let (status, index) = get(&format!("{address}/"));
    assert_eq!(status, 200);
    // The study's name is shown as text, never as markup.
    assert!(index.contains("live &lt;study&gt;"), "{index}");
    let (status, list) = get(&format!("{address}/api/studies"));
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(list[0]["complete"], json!(first.len()));

    let browser = Browser::start();
    browser.goto(&format!("{address}/study/{id}"));
    browser.wait_for(
        &format!("return document.body.dataset.trials === '{}';", first.len()),
        Duration::from_secs(30),
    );
    let (charts, fewest) = browser.charts();
    assert_eq!((charts, fewest > 0), (3, true));
    // A worker adds a trial; the page shows it at its next poll.
    add_trial(&mut storage, &last[0]);
    browser.wait_for(
        &format!(
            "return document.body.dataset.trials === '{}';",
            first.len() + 1
        ),
        Duration::from_secs(30),
    );
    // The server keeps answering while the study is written: a worker records a trial while
    // the JSON is read again and again.
    let writer = {
        let trial = last[1].clone();
        std::thread::spawn(move || {
            add_trial(&mut storage, &trial);
            storage
        })
    };
    for _ in 0..20 {
        let (status, body) = get(&format!("{address}/api/study/{id}"));
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert!(page["searches"][0]["trials"].as_array().unwrap().len() > first.len());
    }
    writer.join().unwrap();
    browser.wait_for(
        &format!(
            "return document.body.dataset.trials === '{}';",
            trials.len()
        ),
        Duration::from_secs(30),
    );
    assert_eq!(browser.console_errors(), Vec::<String>::new());
    assert_eq!(body_number(&browser, "errors"), 0);
    browser.screenshot(&artifacts().join("dashboard.png"));
    // Read-only: nothing but GET.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(format!("{address}/api/studies"))
        .send("x")
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let (status, _) = get(&format!("{address}/study/999"));
    assert_eq!(status, 404);
}
