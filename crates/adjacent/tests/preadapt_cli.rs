//! Pre-adaptation as users run it: a search on new classes starts from an earlier search's
//! networks (`--from`), `fixed --from` and `train --from` fine-tune its delivered model, `eval
//! --head old` scores the old task; a killed search from an earlier one resumes; bad input gets a
//! clear error, and nothing of the earlier search is ever written.

mod common;
#[path = "../../adjacent-store/tests/common/mod.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{TINY_ADJACENT, adjacent, check, fails, kill_after, records, spawn, strs, succeeded};
use serde_json::Value;
use server::{postgres, unique};

/// Tiny searches on 600 built-in images of some classes, probing the adapted starts however
/// short their probes (the default leaves probes this short to the earlier winner).
const TINY: &str = crate::tiny_settings!("", "[adjacent]\nmin_probe_steps = 0\n");

fn search(dir: &Path, out: &Path, classes: &str, extra: &[&str]) -> Vec<String> {
    search_with(dir, out, classes, TINY, "30G", extra)
}

fn search_with(
    dir: &Path,
    out: &Path,
    classes: &str,
    settings: &str,
    budget: &str,
    extra: &[&str],
) -> Vec<String> {
    let config = dir.join(format!("tiny-{}.toml", settings.len()));
    if !config.exists() {
        std::fs::write(&config, settings).unwrap();
    }
    let mut args: Vec<String> = [
        "search",
        "--classes",
        classes,
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        config.to_str().unwrap(),
        "--budget-flops",
        budget,
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The earlier search: the default `adjacent` on the first five classes.
fn earlier(dir: &Path) -> PathBuf {
    let old = dir.join("old");
    check(adjacent(&strs(&search(dir, &old, "0-4", &[]))));
    old
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => stack.push(path),
                false => {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
    }
    files
}

/// The trials that start from an adapted network's weights: the probes of the learning rates
/// (each over the whole schedule, a cosine of its own) and the starts.
fn rate_probes_and_starts(trials: &[Value]) -> (Vec<&Value>, Vec<&Value>) {
    trials
        .iter()
        .filter(|t| !t["origin"].is_null())
        .partition(|t| t["span"][0] == 0.0 && t["span"][1] == 1.0)
}

fn card(model: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(model.join("arch.json")).unwrap()).unwrap()
}

fn accuracy(output: &std::process::Output) -> f64 {
    let text = String::from_utf8_lossy(&output.stdout);
    let at = text.find("test accuracy ").expect("an accuracy line") + 14;
    text[at..].split('%').next().unwrap().parse().unwrap()
}

#[test]
fn searches_and_fine_tuning_from_an_earlier_search_record_where_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let old = earlier(dir.path());
    let before = snapshot(&old);
    let old_names = card(&old.join("best"))["class_names"].clone();

    // adjacent --from: the delivered model and up to two other networks start beside the start
    // network, each from its adapted weights, kept in the new study's store.
    let new = dir.path().join("new");
    let out = check(adjacent(&strs(&search(
        dir.path(),
        &new,
        "5-9",
        &["--from", old.to_str().unwrap()],
    ))));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("networks adapted to this data"), "{stderr}");
    let trials = records(&new);
    let (rates, adapted) = rate_probes_and_starts(&trials);
    // By default the peak learning rate is chosen first, on the delivered model from its
    // weights: the recipe's and twice it, each over a whole cosine of its own.
    assert_eq!(rates.len(), 2, "{trials:?}");
    for t in &rates {
        assert!(t["origin"]["from"].as_str().unwrap().ends_with("old/best"));
        assert_eq!(t["start_weights"], t["origin"]["weights"]);
    }
    let lr = |t: &Value| t["lr"].as_f64().unwrap();
    assert!(
        (lr(rates[1]) / lr(rates[0]) - 2.0).abs() < 1e-9,
        "{rates:?}"
    );
    assert!((2..=3).contains(&adapted.len()), "{trials:?}");
    assert!(
        adapted[0]["origin"]["from"]
            .as_str()
            .unwrap()
            .ends_with("old/best"),
        "{}",
        adapted[0]
    );
    // Each records the images its weights trained on in OLD: the delivered model its final
    // phase's and its parents', another network its trial's lineage.
    let old_trials = records(&old);
    let lineage = |mut id: Value| {
        let mut images = 0;
        while let Some(t) = old_trials.iter().find(|t| t["id"] == id) {
            images += t["images"].as_u64().unwrap();
            id = t["parent"].clone();
        }
        images
    };
    let old_final = &common::summary(&old)["final"];
    let delivered = old_final["images"].as_u64().unwrap() + lineage(old_final["parent"].clone());
    assert!(delivered > 0);
    assert_eq!(adapted[0]["origin"]["images"], delivered);
    for t in &adapted[1..] {
        let from = t["origin"]["from"].as_str().unwrap();
        let id: u64 = from.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(t["origin"]["images"], lineage(id.into()), "{from}");
    }
    for t in &adapted {
        assert_eq!(t["inherit"], true);
        assert!(t["parent"].is_null());
        assert_eq!(t["start_weights"], t["origin"]["weights"]);
        let hash = t["origin"]["weights"].as_str().unwrap();
        assert!(
            new.join("weights")
                .join(format!("{hash}.safetensors"))
                .is_file()
        );
        // Other classes: a new head, the old one kept.
        assert_eq!(t["genotype"]["classes"], 5);
        assert_eq!(t["genotype"]["heads"], serde_json::json!([5]));
    }

    // With the default floor, probes of a few steps decide nothing: the delivered model starts
    // alone.
    let trusted = dir.path().join("trusted");
    check(adjacent(&strs(&search_with(
        dir.path(),
        &trusted,
        "5-9",
        crate::tiny_settings!("", ""),
        "30G",
        &["--from", old.to_str().unwrap()],
    ))));
    let trials = records(&trusted);
    assert!(
        trials[0]["origin"]["from"]
            .as_str()
            .unwrap()
            .ends_with("old/best")
    );
    assert!(
        trials[1..]
            .iter()
            .all(|t| t["origin"].is_null() && !t["parent"].is_null())
    );

    // fixed --from: the delivered model fine-tuned with the whole budget; the old head is in the
    // saved model with its task, and scores the old classes.
    let tuned = dir.path().join("tuned");
    check(adjacent(&strs(&search(
        dir.path(),
        &tuned,
        "5-9",
        &["--strategy", "fixed", "--from", old.to_str().unwrap()],
    ))));
    let tuned_card = card(&tuned.join("best"));
    assert_eq!(tuned_card["heads"], serde_json::json!([5]));
    assert_eq!(tuned_card["old_tasks"][0]["class_names"], old_names);
    let summary = common::summary(&tuned);
    assert_eq!(
        summary["final"]["origin"]["from"],
        adapted[0]["origin"]["from"]
    );
    let best = tuned.join("best");
    let model = best.to_str().unwrap();
    let kept = accuracy(&check(adjacent(&[
        "eval",
        "--model",
        model,
        "--head",
        "old",
        "--classes",
        "0-4",
    ])));
    assert!((0.0..=100.0).contains(&kept));
    let new_task = accuracy(&check(adjacent(&[
        "eval",
        "--model",
        model,
        "--classes",
        "5-9",
    ])));
    assert!(new_task > 50.0, "{new_task}");
    let err = fails(&[
        "eval",
        "--model",
        model,
        "--head",
        "old-2",
        "--classes",
        "0-4",
    ]);
    assert!(
        err.contains("no head \"old-2\"") && err.contains("only earlier head is `old`"),
        "{err}"
    );
    let err = fails(&[
        "eval",
        "--model",
        model,
        "--head",
        "old",
        "--classes",
        "5-9",
    ]);
    assert!(err.contains("scores the classes t-shirt/top"), "{err}");
    let err = fails(&[
        "eval",
        "--model",
        old.join("best").to_str().unwrap(),
        "--head",
        "old",
    ]);
    assert!(err.contains("was not adapted to new classes"), "{err}");

    // train --from: the same adaptation, as a plain training run.
    let trained = dir.path().join("trained");
    check(adjacent(&[
        "train",
        "--from",
        old.join("best").to_str().unwrap(),
        "--classes",
        "sandal,shirt,sneaker,bag,ankle boot",
        "--subset",
        "400",
        "--epochs",
        "1",
        "--batch",
        "64",
        "--out",
        trained.to_str().unwrap(),
    ]));
    assert_eq!(card(&trained)["heads"], serde_json::json!([5]));
    check(adjacent(&[
        "eval",
        "--model",
        trained.to_str().unwrap(),
        "--head",
        "old",
        "--classes",
        "0-4",
    ]));

    assert!(
        snapshot(&old) == before,
        "the earlier search's folder changed"
    );
}

#[test]
fn a_killed_search_from_an_earlier_one_resumes_to_the_same_trials() {
    let dir = tempfile::tempdir().unwrap();
    let old = earlier(dir.path());
    let args = |out: &Path| {
        search_with(
            dir.path(),
            out,
            "5-9",
            TINY_ADJACENT,
            "60G",
            &["--from", old.to_str().unwrap()],
        )
    };
    let whole = dir.path().join("whole");
    check(adjacent(&strs(&args(&whole))));
    let cut = dir.path().join("cut");
    kill_after(&args(&cut), &cut, 2);
    assert!(!cut.join("summary.json").exists());
    let resumed = spawn(&strs(&args(&cut)));
    let output = succeeded(resumed);
    assert!(String::from_utf8_lossy(&output.stderr).contains("resuming"));
    let key = |out: &Path| {
        let mut trials: Vec<(Value, Value, Value)> = records(out)
            .iter()
            .map(|t| (t["id"].clone(), t["genotype"].clone(), t["origin"].clone()))
            .collect();
        trials.sort_by_key(|t| t.0.as_u64());
        trials
    };
    assert_eq!(key(&whole), key(&cut));
    assert!(key(&cut).iter().any(|t| !t.2.is_null()));
}

#[test]
fn bad_earlier_searches_and_classes_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let old = earlier(dir.path());
    let new = |name: &str| dir.path().join(name);
    let from = |what: &Path, out: &str| {
        fails(&strs(&search(
            dir.path(),
            &new(out),
            "5-9",
            &["--from", what.to_str().unwrap()],
        )))
    };

    let err = from(&dir.path().join("missing"), "a");
    assert!(err.contains("missing: no such folder"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = from(&empty, "b");
    assert!(
        err.contains("not the output folder of a finished search"),
        "{err}"
    );

    // A copy of the earlier search whose delivered model is gone, then one whose trial's network
    // is damaged, then missing.
    let copy = |name: &str| {
        let to = dir.path().join(name);
        for (path, bytes) in snapshot(&old) {
            let target = to.join(path.strip_prefix(&old).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
        to
    };
    let no_best = copy("no-best");
    std::fs::remove_dir_all(no_best.join("best")).unwrap();
    let err = from(&no_best, "c");
    assert!(err.contains("delivered no model"), "{err}");

    let damaged = copy("damaged");
    let trial = records(&damaged)
        .into_iter()
        .find(|t| t["state"] == "complete" && t["weights"].is_string())
        .expect("a trial with a kept network");
    let hash = trial["weights"].as_str().unwrap().to_string();
    let file = damaged.join("weights").join(format!("{hash}.safetensors"));
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let err = from(&damaged, "d");
    assert!(
        err.contains(&hash) && err.contains(&format!("trial {}", trial["id"])),
        "{err}"
    );
    std::fs::remove_file(&file).unwrap();
    let err = from(&damaged, "e");
    assert!(err.contains(&hash) && err.contains("No such file"), "{err}");

    let err = fails(&strs(&search(dir.path(), &new("f"), "0,12", &[])));
    assert!(err.contains("class 12 is out of range"), "{err}");
    let err = fails(&strs(&search(dir.path(), &new("g"), "coat,4", &[])));
    assert!(err.contains("class 4 (coat) is named twice"), "{err}");
    let err = fails(&strs(&search(
        dir.path(),
        &new("h"),
        "5-9",
        &["--from", old.to_str().unwrap(), "--strategy", "evolution"],
    )));
    assert!(err.contains("takes no trained starts"), "{err}");
    let err = fails(&strs(&search(
        dir.path(),
        &old,
        "5-9",
        &["--from", old.to_str().unwrap()],
    )));
    assert!(err.contains("--out must differ from --from"), "{err}");
}

/// A search from an earlier study of its storage (`--from-study`): the earlier study's trials and
/// networks come from the storage, its delivered model from its folder.
fn from_a_study_in(storage: &str, dir: &Path) {
    let first = unique("first");
    let old = dir.join("old");
    check(adjacent(&strs(&search(
        dir,
        &old,
        "0-4",
        &["--storage", storage, "--study", &first],
    ))));
    let new = dir.join("new");
    let second = unique("second");
    check(adjacent(&strs(&search(
        dir,
        &new,
        "5-9",
        &[
            "--storage",
            storage,
            "--study",
            &second,
            "--from-study",
            &first,
        ],
    ))));
    let trials = records(&new);
    let (_, adapted) = rate_probes_and_starts(&trials);
    assert!(adapted.len() >= 2, "{trials:?}");
    assert!(
        adapted[0]["origin"]["from"]
            .as_str()
            .unwrap()
            .ends_with("old/best")
    );
    assert!(
        adapted[1]["origin"]["from"]
            .as_str()
            .unwrap()
            .starts_with(&format!("study {first} trial ")),
        "{}",
        adapted[1]
    );
    let err = fails(&strs(&search(
        dir,
        &dir.join("missing"),
        "5-9",
        &[
            "--storage",
            storage,
            "--study",
            &unique("third"),
            "--from-study",
            "no-such-study",
        ],
    )));
    assert!(err.contains("no-such-study"), "{err}");
}

#[test]
fn a_search_starts_from_an_earlier_study_in_a_sqlite_storage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("studies.db");
    from_a_study_in(db.to_str().unwrap(), dir.path());
    let err = fails(&strs(&search(
        dir.path(),
        &dir.path().join("alone"),
        "5-9",
        &["--from-study", "first"],
    )));
    assert!(err.contains("give --storage too"), "{err}");
}

#[test]
fn a_search_starts_from_an_earlier_study_in_postgres() {
    let Some(url) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    from_a_study_in(&url, dir.path());
}
