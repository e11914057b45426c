//! `adjacent dashboard` without a browser: what it refuses, and that it shows no password.
//! (The page in a browser: tests/browser.rs.)

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Killed, fails};

#[test]
fn a_storage_that_cannot_be_opened_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let err = fails(&["dashboard", "--storage", missing.to_str().unwrap()]);
    assert!(
        err.contains("no such SQLite file") && err.contains("missing.db"),
        "{err}"
    );
    assert!(!missing.exists(), "the dashboard created a database");
    let err = fails(&[
        "dashboard",
        "--storage",
        "postgres://nobody:secret@127.0.0.1:1/none",
    ]);
    assert!(err.contains("cannot open the storage"), "{err}");
    assert!(!err.contains("secret"), "a password in a message: {err}");
    let err = fails(&["dashboard", "--storage", "a.db", "--threads", "0"]);
    assert!(err.contains("--threads"), "{err}");
}

#[test]
fn an_address_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    adjacent_store::open(db.to_str().unwrap()).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = fails(&[
        "dashboard",
        "--storage",
        db.to_str().unwrap(),
        "--bind",
        &addr,
    ]);
    assert!(
        err.contains("cannot serve on") && err.contains(&addr),
        "{err}"
    );
}

/// A GET's status and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent.get(format!("http://{addr}{path}")).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

#[test]
fn a_postgres_dashboard_never_shows_the_password() {
    let Ok(url) = std::env::var("ADJACENT_TEST_POSTGRES") else {
        eprintln!("SKIPPED (PostgreSQL): no server (set ADJACENT_TEST_POSTGRES, or run .ci/run)");
        return;
    };
    let password = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .and_then(|user| user.split(':').nth(1))
        .expect("the test server's URL has a password")
        .to_string();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_adjacent"))
            .args(["dashboard", "--storage", &url, "--bind", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    // The password as a URL carries it (the test server's password is a common word).
    let secret = format!(":{password}@");
    assert!(!line.contains(&secret), "{line}");
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for path in ["/", "/api/studies"] {
        let (status, page) = get(&addr, path);
        assert_eq!(status, 200, "{path}: {page}");
        assert!(!page.contains(&secret), "{path} shows the password");
    }
    let (_, index) = get(&addr, "/");
    assert!(index.contains("postgres:***@"), "the redacted URL: {index}");
}
