//! Keeping a trained network and fetching it back: a local folder (files written and renamed, as
//! `FolderStore` does), `object_store`'s local file system, and the study database's `networks`
//! table on SQLite and (with ADJACENT_TEST_POSTGRES set) PostgreSQL. One process, sizes of the
//! networks adjacent trains; prints milliseconds per put and per get, and each against the folder.
//!
//! `cargo run --release --manifest-path benches/networks/Cargo.toml [-- REPEATS]`

use std::time::Instant;

use adjacent_core::trial::WeightsHash;
use adjacent_store::{Backend, StudySpec, Weights};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

/// Safetensors sizes: the README search's networks (C=8, N=1: about 60 KB), the benchmark's
/// largest (C=16, N=5: about 1.6 MB), and a network ten times that.
const SIZES: [usize; 3] = [64 << 10, 1600 << 10, 16 << 20];

fn hash(i: usize, size: usize) -> WeightsHash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&(i as u64).to_le_bytes());
    h[8..16].copy_from_slice(&(size as u64).to_le_bytes());
    WeightsHash(h)
}

fn blob(i: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|j| (j as u64 * 2_654_435_761 + i as u64) as u8)
        .collect()
}

/// Milliseconds per put and per get of `repeats` networks of `size` bytes.
fn time(
    repeats: usize,
    size: usize,
    put: &mut dyn FnMut(&WeightsHash, &[u8]),
    get: &mut dyn FnMut(&WeightsHash) -> Vec<u8>,
) -> (f64, f64) {
    let blobs: Vec<Vec<u8>> = (0..repeats).map(|i| blob(i, size)).collect();
    let started = Instant::now();
    for (i, b) in blobs.iter().enumerate() {
        put(&hash(i, size), b);
    }
    let put_ms = started.elapsed().as_secs_f64() * 1e3 / repeats as f64;
    let started = Instant::now();
    for (i, b) in blobs.iter().enumerate() {
        assert_eq!(&get(&hash(i, size)), b);
    }
    let get_ms = started.elapsed().as_secs_f64() * 1e3 / repeats as f64;
    (put_ms, get_ms)
}

fn study(backend: &mut dyn Backend, name: &str) -> i64 {
    let spec = StudySpec {
        name: name.into(),
        space: "grown".into(),
        strategy: "adjacent".into(),
        seed: 0,
        data: "bench".into(),
        settings: "{}".into(),
    };
    adjacent_store::open_study(backend, &spec, true).unwrap().id
}

fn main() {
    let repeats: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut sqlite = adjacent_store::open(dir.path().join("study.db").to_str().unwrap()).unwrap();
    let sqlite_study = study(sqlite.as_mut(), "bench");
    let mut pg = std::env::var("ADJACENT_TEST_POSTGRES").ok().map(|url| {
        let mut backend = adjacent_store::open(&url).unwrap();
        let id = study(
            backend.as_mut(),
            &format!("networks-{}", std::process::id()),
        );
        (backend, id)
    });
    println!("a network kept and fetched back, {repeats} of each size, one process");
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "where", "size", "put ms", "get ms", "put/folder", "get/folder"
    );
    for size in SIZES {
        let folder = dir.path().join(format!("folder-{size}"));
        std::fs::create_dir_all(&folder).unwrap();
        let base = time(
            repeats,
            size,
            &mut |h, b| {
                let tmp = folder.join(format!(".tmp-{h}"));
                std::fs::write(&tmp, b).unwrap();
                std::fs::rename(&tmp, folder.join(h.to_string())).unwrap();
            },
            &mut |h| std::fs::read(folder.join(h.to_string())).unwrap(),
        );
        let row = |name: &str, (put, get): (f64, f64)| {
            println!(
                "{name:<22} {:>9}K {put:>12.3} {get:>12.3} {:>9.2}x {:>9.2}x",
                size >> 10,
                put / base.0,
                get / base.1
            );
        };
        row("folder", base);
        let objects = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        row(
            "object_store (local)",
            time(
                repeats,
                size,
                &mut |h, b| {
                    let path = ObjectPath::from(format!("objects-{size}/{h}"));
                    runtime
                        .block_on(objects.put(&path, PutPayload::from(b.to_vec())))
                        .unwrap();
                },
                &mut |h| {
                    let path = ObjectPath::from(format!("objects-{size}/{h}"));
                    runtime
                        .block_on(async { objects.get(&path).await?.bytes().await })
                        .unwrap()
                        .to_vec()
                },
            ),
        );
        let database = |backend: &mut Box<dyn Backend>, id: i64| {
            let backend = std::cell::RefCell::new(backend);
            time(
                repeats,
                size,
                &mut |h, b| {
                    let weights = Weights {
                        data: b.to_vec(),
                        arch: "{}".into(),
                    };
                    backend.borrow_mut().put_weights(id, h, &weights).unwrap();
                },
                &mut |h| {
                    backend
                        .borrow_mut()
                        .get_weights(id, h)
                        .unwrap()
                        .unwrap()
                        .data
                },
            )
        };
        row("SQLite (study.db)", database(&mut sqlite, sqlite_study));
        if let Some((backend, id)) = pg.as_mut() {
            row("PostgreSQL", database(backend, *id));
        }
    }
}
