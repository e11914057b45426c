//! `adjacent dashboard`: a read-only local web server over a study storage (SQLite or
//! PostgreSQL). Its index lists the studies; each study's page is the HTML report's page, fed by a
//! JSON endpoint that the page polls, so it follows a study while workers add trials.

use std::sync::Arc;

use adjacent_search::page::Page;
use adjacent_store::{Database, StudyInfo};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::html_page::{Data, escape, render};

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// The study storage: a SQLite file (`sqlite://PATH` or a path) or a PostgreSQL URL.
    #[arg(long)]
    pub storage: String,
    /// Address and port to serve on. Loopback by default; another address serves every machine
    /// that reaches it (the studies can be read by anyone there).
    #[arg(long, default_value = "127.0.0.1:8050")]
    pub bind: String,
    /// Requests answered at the same time (each with its own connection to the storage).
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
}

pub fn run(args: DashboardArgs) -> Result<()> {
    if args.threads == 0 {
        bail!("invalid setting --threads: must be at least 1");
    }
    let database = open_existing(&args.storage)?;
    let shown_url = database.url().to_string();
    let server = Server::http(&args.bind)
        .map_err(|e| anyhow::anyhow!("cannot serve on {}: {e}", args.bind))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("the server has no IP address")?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: serving on {addr}, not loopback: every machine that reaches it can read the studies"
        );
    }
    eprintln!("dashboard of {shown_url} at http://{addr}/ (Ctrl-C stops it)");
    let server = Arc::new(server);
    let mut first = Some(database);
    let handles: Vec<_> = (0..args.threads)
        .map(|_| {
            let server = Arc::clone(&server);
            let storage = args.storage.clone();
            let shown_url = shown_url.clone();
            let database = first.take();
            std::thread::spawn(move || serve(&server, &storage, &shown_url, database))
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// Opens a storage that exists: a SQLite path that does not is refused (opening it would create
/// an empty database), as is a server that cannot be reached.
fn open_existing(url: &str) -> Result<Database> {
    if let Some(path) = adjacent_store::sqlite_path(url)
        && !path.is_file()
    {
        bail!(
            "cannot open the storage {}: no such SQLite file (give the file a search wrote with --storage, or a postgres:// URL)",
            path.display()
        );
    }
    adjacent_store::open(url).map_err(|e| anyhow::anyhow!("cannot open the storage: {e}"))
}

/// One thread's loop: answer requests, with a connection of its own that is opened again after
/// an error (the storage may have been busy, or the server restarted).
fn serve(server: &Server, storage: &str, shown_url: &str, mut database: Option<Database>) {
    while let Ok(request) = server.recv() {
        if database.is_none() {
            database = adjacent_store::open(storage).ok();
        }
        let (status, kind, body) = match &mut database {
            Some(db) => answer(db, shown_url, &request),
            None => (
                503,
                "text/plain; charset=utf-8",
                "the storage cannot be opened now".to_string(),
            ),
        };
        if status == 503 {
            database = None;
        }
        let header =
            Header::from_bytes(&b"Content-Type"[..], kind.as_bytes()).expect("a valid header");
        let no_cache =
            Header::from_bytes(&b"Cache-Control"[..], &b"no-store"[..]).expect("a valid header");
        let response = Response::from_string(body)
            .with_status_code(status)
            .with_header(header)
            .with_header(no_cache);
        let _ = request.respond(response);
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// A study in the index's list (its settings stay out: the page is its view of them).
#[derive(Serialize)]
struct Listed<'a> {
    id: i64,
    name: &'a str,
    space: &'a str,
    strategy: &'a str,
    seed: u64,
    data: &'a str,
    finished: Option<&'a str>,
    pending: u64,
    running: u64,
    complete: u64,
    failed: u64,
    created_at: f64,
}

fn answer(db: &mut Database, shown_url: &str, request: &Request) -> (u16, &'static str, String) {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return (405, TEXT, "read-only: only GET".into());
    }
    let path = request.url().split('?').next().unwrap_or("");
    let unavailable = |e: String| (503, TEXT, e);
    match path {
        "/" => match db.studies() {
            Ok(studies) => (200, HTML, index(shown_url, &studies)),
            Err(e) => unavailable(e.to_string()),
        },
        "/api/studies" => match db.studies() {
            Ok(studies) => {
                let listed: Vec<Listed> = studies
                    .iter()
                    .map(|s| Listed {
                        id: s.id,
                        name: &s.spec.name,
                        space: &s.spec.space,
                        strategy: &s.spec.strategy,
                        seed: s.spec.seed,
                        data: &s.spec.data,
                        finished: s.finished.as_deref(),
                        pending: s.pending,
                        running: s.running,
                        complete: s.complete,
                        failed: s.failed,
                        created_at: s.created_at,
                    })
                    .collect();
                (
                    200,
                    JSON,
                    serde_json::to_string(&listed).expect("studies serialize"),
                )
            }
            Err(e) => unavailable(e.to_string()),
        },
        _ => {
            let (api, id) = match (
                path.strip_prefix("/api/study/"),
                path.strip_prefix("/study/"),
            ) {
                (Some(id), _) => (true, id),
                (None, Some(id)) => (false, id),
                _ => return (404, TEXT, format!("no page {path}")),
            };
            let Ok(id) = id.parse::<i64>() else {
                return (404, TEXT, format!("no study {id:?}"));
            };
            let studies = match db.studies() {
                Ok(s) => s,
                Err(e) => return unavailable(e.to_string()),
            };
            let Some(study) = studies.iter().find(|s| s.id == id) else {
                return (404, TEXT, format!("no study with id {id}"));
            };
            if !api {
                let title = format!("adjacent: study {}", study.spec.name);
                let source = format!("/api/study/{id}");
                return (
                    200,
                    HTML,
                    render(Data::Live {
                        title: &title,
                        source: &source,
                    }),
                );
            }
            match Page::of_study(db, study) {
                Ok(page) => (
                    200,
                    JSON,
                    serde_json::to_string(&page).expect("a page serializes"),
                ),
                Err(e) => unavailable(e.to_string()),
            }
        }
    }
}

/// The index: every study with its trials by state, refreshed every few seconds.
fn index(shown_url: &str, studies: &[StudyInfo]) -> String {
    let mut rows = String::new();
    for s in studies {
        rows += &format!(
            "<tr><td class=\"text\"><a href=\"/study/{}\">{}</a></td><td class=\"text\">{}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>\n",
            s.id,
            escape(&s.spec.name),
            escape(&s.spec.strategy),
            s.spec.seed,
            escape(&s.spec.data),
            s.complete,
            s.running,
            s.pending,
            s.failed,
            escape(s.finished.as_deref().unwrap_or("running")),
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><link rel=\"icon\" href=\"data:,\"><title>adjacent dashboard</title><style>{}</style></head>\n<body><h1>adjacent dashboard</h1><p class=\"muted\">{} ({} studies; read-only; this list refreshes every 5 s)</p>\n<table id=\"studies\"><thead><tr><th class=\"text\">study</th><th class=\"text\">strategy</th><th>seed</th><th class=\"text\">data</th><th>complete</th><th>running</th><th>pending</th><th>failed</th><th class=\"text\">status</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>\n",
        include_str!("../assets/report.css"),
        escape(shown_url),
        studies.len()
    )
}
