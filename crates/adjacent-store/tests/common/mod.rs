// The tests' PostgreSQL server, shared by the store's tests and the command line's (which include
// this file by path).
#![allow(dead_code)]

/// The PostgreSQL server of the tests, if there is one.
pub fn postgres() -> Option<String> {
    match std::env::var("ADJACENT_TEST_POSTGRES") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => panic!(
            "ADJACENT_TEST_POSTGRES is not set: .ci/run starts a PostgreSQL server for these tests"
        ),
        Err(_) => {
            eprintln!(
                "SKIPPED (PostgreSQL): no server (set ADJACENT_TEST_POSTGRES, or run .ci/run, which starts one)"
            );
            None
        }
    }
}

/// A study name no other run of the tests uses.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}
