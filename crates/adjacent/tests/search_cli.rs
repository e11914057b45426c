//! `adjacent search` as a user runs it, on the built-in data with tiny settings.

mod common;

use std::path::Path;

use adjacent_core::network::NetworkArch;
use common::{TINY_ADJACENT as TINY, TINY_GROWTH, adjacent, fails, records, summary};
use serde_json::Value;

/// The budget of the tiny searches: about ten passes of the width-4 network over 450 images.
const TINY_FLOPS: &str = "3e10";

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("search.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn tiny_search(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    search_with(dir, TINY, out, extra)
}

/// A search with the settings `config` on the tiny budget, which must succeed.
fn tiny_budget_search(dir: &Path, config: &str, out: &Path) -> std::process::Output {
    let run = search_with(
        dir,
        config,
        out.to_str().unwrap(),
        &["--budget-flops", TINY_FLOPS],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

/// A search of 600 built-in images (150 for validation) with the settings `config`.
fn search_with(dir: &Path, config: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let config = write_config(dir, config);
    let mut args = vec![
        "search", "--subset", "600", "--valid", "150", "--config", &config, "--out", out,
    ];
    args.extend_from_slice(extra);
    adjacent(&args)
}

#[test]
fn adjacent_probes_morphisms_of_one_network_along_one_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    tiny_budget_search(dir.path(), TINY, &out);
    let trials = records(&out);
    // The start, then per decision a main segment and three probes.
    assert_eq!(trials.len(), 1 + 2 * 4, "{trials:?}");
    // Unvalidated probes are complete trials, not failed ones.
    assert_eq!(summary(&out)["failed"], 0);
    for t in &trials {
        for key in [
            "id",
            "parent",
            "genotype",
            "mutation",
            "span",
            "images",
            "flops",
            "seconds",
            "tail_loss",
            "params",
        ] {
            assert!(t.get(key).is_some(), "trials.jsonl lacks {key}: {t}");
        }
        let arch: NetworkArch = serde_json::from_value(t["genotype"].clone()).unwrap();
        for cell in arch.stages.iter().flatten() {
            assert!(cell.connects_input_to_output(), "trial {}: {cell}", t["id"]);
        }
        // The signal is the training loss: nothing is validated during the search.
        assert!(t["valid_acc"].is_null(), "{t}");
        assert_eq!(t["state"], "complete");
    }
    let start: NetworkArch = serde_json::from_value(trials[0]["genotype"].clone()).unwrap();
    assert_eq!((start.channels, start.stages[1].len()), (4, 1));
    assert!(trials[0]["parent"].is_null() && trials[0]["first_loss"].as_f64().unwrap() > 2.0);
    let span = |t: &Value| {
        let s = t["span"].as_array().unwrap();
        (s[0].as_f64().unwrap(), s[1].as_f64().unwrap())
    };
    let loss = |t: &Value, key: &str| t[key].as_f64().unwrap();
    let mut position = span(&trials[0]).1;
    for decision in 0..2 {
        let main = &trials[1 + 4 * decision];
        let probes = &trials[2 + 4 * decision..5 + 4 * decision];
        // The main line continues where it stood in the schedule, from its own weights.
        assert_eq!(main["mutation"], "continue");
        assert_eq!(span(main).0, position);
        assert_eq!(
            main["genotype"],
            trials[main["parent"].as_u64().unwrap() as usize]["genotype"]
        );
        let parent = &trials[main["parent"].as_u64().unwrap() as usize];
        assert!(
            (loss(main, "first_loss") - loss(parent, "last_loss")).abs() < 0.5,
            "{main} after {parent}"
        );
        // Its probes: the same part of the schedule, the same batches, and those that keep the
        // function start exactly where the continuation starts.
        let continuation = &probes[0];
        assert_eq!(continuation["mutation"], "continue");
        for p in probes {
            assert_eq!(p["parent"], main["id"]);
            assert_eq!(span(p), span(continuation));
            if p["function_preserving"] == Value::Bool(true) {
                let gap = (loss(p, "first_loss") - loss(continuation, "first_loss")).abs();
                assert!(
                    gap < 1e-3,
                    "{p} starts {gap} from its parent's continuation"
                );
            }
            // Equal compute: within one image of the continuation's training FLOPs.
            let f = forward(&p["genotype"]);
            let fc = forward(&continuation["genotype"]);
            let (a, b) = (
                3 * f * p["images"].as_u64().unwrap(),
                3 * fc * continuation["images"].as_u64().unwrap(),
            );
            assert!(a.abs_diff(b) < 3 * f.max(fc) * 64, "{p}: {a} against {b}");
        }
        assert!(probes.iter().any(|p| p["mutation"] != "continue"));
        position = span(continuation).1;
        // The probe with the lowest training loss over its last quarter becomes the main line.
        let winner = probes
            .iter()
            .min_by(|a, b| loss(a, "tail_loss").total_cmp(&loss(b, "tail_loss")))
            .unwrap();
        match trials.get(5 + 4 * decision) {
            Some(next) => assert_eq!(next["parent"], winner["id"]),
            None => {
                // The final phase continues the last winner through the rest of the schedule.
                let s = summary(&out);
                let fin = &s["final"];
                assert_eq!(fin["parent"], winner["id"], "{s}");
                assert_eq!(
                    fin["inherit"], true,
                    "the final phase continues its weights"
                );
                assert_eq!(fin["start_weights"], winner["weights"]);
                assert_eq!(fin["genotype"], winner["genotype"]);
                assert_eq!(fin["span"][0].as_f64().unwrap(), position);
                assert_eq!(fin["span"][1].as_f64().unwrap(), 1.0);
                assert!(
                    (loss(fin, "first_loss") - loss(winner, "last_loss")).abs() < 0.5,
                    "{fin}"
                );
                assert!(s["flops"].as_u64().unwrap() <= 30_000_000_000);
                assert!(s["test_acc"].as_f64().unwrap() > 30.0, "{s}");
                assert_eq!(s["valid_acc"], fin["valid_acc"]);
            }
        }
    }

    // `adjacent eval` reproduces the delivered model's test accuracy, and `train --from`
    // continues it.
    let s = summary(&out);
    let best = out.join("best");
    let eval = adjacent(&["eval", "--model", best.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        stdout.contains(&format!("{:.2}%", s["test_acc"].as_f64().unwrap())),
        "{stdout}"
    );
    let more = dir.path().join("more");
    let cont = adjacent(&[
        "train",
        "--from",
        best.to_str().unwrap(),
        "--epochs",
        "1",
        "--subset",
        "300",
        "--out",
        more.to_str().unwrap(),
    ]);
    assert!(
        cont.status.success(),
        "{}",
        String::from_utf8_lossy(&cont.stderr)
    );

    // The same seed gives the same search.
    let again = dir.path().join("again");
    let run = tiny_search(
        dir.path(),
        again.to_str().unwrap(),
        &["--budget-flops", TINY_FLOPS],
    );
    assert!(run.status.success());
    let strip = |t: &Value| {
        (
            t["genotype"].clone(),
            t["tail_loss"].clone(),
            t["parent"].clone(),
        )
    };
    let again = records(&again);
    assert_eq!(again.len(), trials.len());
    for (a, b) in again.iter().zip(&trials) {
        assert_eq!(strip(a), strip(b));
    }
}

#[test]
fn adjacent_grows_its_winner_early_from_its_weights_to_the_width_the_budget_can_train() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    tiny_budget_search(dir.path(), TINY_GROWTH, &out);
    let trials = records(&out);
    let loss = |t: &Value, key: &str| t[key].as_f64().unwrap();
    // Two starts, the winner's segment up to the growth point, the widened network.
    assert_eq!(trials.len(), 4, "{trials:?}");
    let winner = if loss(&trials[0], "tail_loss") <= loss(&trials[1], "tail_loss") {
        &trials[0]
    } else {
        &trials[1]
    };
    let (segment, grown) = (&trials[2], &trials[3]);
    assert_eq!(segment["parent"], winner["id"]);
    assert_eq!(segment["mutation"], "continue");
    assert_eq!(
        segment["span"][1].as_f64(),
        Some(0.25),
        "it grows at a quarter"
    );
    assert_eq!(grown["parent"], segment["id"]);
    assert_eq!(grown["inherit"], true);
    assert_eq!(grown["start_weights"], segment["weights"]);
    assert_eq!(grown["mutation"]["move"]["kind"], "widen");
    assert_eq!(grown["function_preserving"], true);
    let width = grown["genotype"]["channels"].as_u64().unwrap();
    assert!(width > 4 && width <= 8, "{width}");
    // The widened network starts where its parent ended (its function kept).
    assert!(
        (loss(grown, "first_loss") - loss(segment, "last_loss")).abs() < 0.5,
        "{grown}"
    );
    let s = summary(&out);
    assert_eq!(s["final"]["parent"], grown["id"]);
    assert_eq!(s["arch"]["channels"].as_u64(), Some(width));
    assert!(s["flops"].as_u64().unwrap() <= 30_000_000_000);
}

#[test]
fn adjacent_with_random_starts_and_the_valid_loss_signal_scores_every_probe_on_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    // Three random starts.
    let tiny = TINY.replace("random_starts = 0\n", "random_starts = 3\n");
    let config = format!("{tiny}signal = \"valid_loss\"\nscore_images = 100\n");
    tiny_budget_search(dir.path(), &config, &out);
    let trials = records(&out);
    // Four networks from scratch (the start and three random ones), then per decision a main
    // segment and three probes.
    assert_eq!(trials.len(), 4 + 2 * 4, "{trials:?}");
    assert!(trials[..4].iter().all(|t| t["parent"].is_null()));
    let loss = |t: &Value| t["score_loss"].as_f64().unwrap();
    for (i, t) in trials.iter().enumerate() {
        let f = forward(&t["genotype"]);
        let images = t["images"].as_u64().unwrap();
        let main = i >= 4 && i % 4 == 0;
        // Probes pay for scoring on 100 validation images (one forward pass each); the main
        // line's segments are not scored; nothing is validated.
        let scored = if main { 0 } else { 100 };
        assert_eq!(
            t["flops"].as_u64().unwrap(),
            3 * f * images + f * scored,
            "{t}"
        );
        assert_eq!(t["score_loss"].is_null(), main, "{t}");
        assert!(t["valid_acc"].is_null());
        if !main {
            assert!(loss(t) > 0.0 && loss(t) < 3.0, "{t}");
        }
    }
    for stage in 0..3 {
        let probes = match stage {
            0 => &trials[..4],
            d => &trials[1 + 4 * d..4 + 4 * d],
        };
        // The lowest scoring loss wins (the margin is 0), whatever the training losses say.
        let winner = probes
            .iter()
            .min_by(|a, b| loss(a).total_cmp(&loss(b)))
            .unwrap();
        let next = match trials.get(4 + 4 * stage) {
            Some(next) => next["parent"].clone(),
            None => summary(&out)["final"]["parent"].clone(),
        };
        assert_eq!(next, winner["id"]);
    }
    assert!(summary(&out)["flops"].as_u64().unwrap() <= 30_000_000_000);
}

#[test]
fn adjacent_chooses_its_learning_rate_by_paired_probes_and_trains_on_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let config = crate::tiny_settings!(
        "",
        r#"
[adjacent]
epochs = 0
probe = 0.1
rates = [1.0, 3.0]
rate_probe = 0.1
score_images = 50
min_probe_steps = 1
"#
    );
    let run = tiny_budget_search(dir.path(), config, &out);
    let trials = records(&out);
    let number = |t: &Value, key: &str| t[key].as_f64().unwrap();
    // Two probes of the rates, then the main line's start afresh.
    assert_eq!(trials.len(), 3, "{trials:?}");
    let (probes, start) = (&trials[..2], &trials[2]);
    for (t, lr) in probes.iter().zip([0.1, 0.3]) {
        assert!(t["parent"].is_null(), "{t}");
        assert_eq!(t["span"], serde_json::json!([0.0, 1.0]));
        assert!((number(t, "lr") - lr).abs() < 1e-12, "{t}");
        assert!(number(t, "score_loss") > 0.0);
    }
    // Paired: the same fresh weights on the same first batch.
    assert_eq!(
        number(&probes[0], "first_loss"),
        number(&probes[1], "first_loss")
    );
    let chosen = match number(&probes[0], "score_loss") <= number(&probes[1], "score_loss") {
        true => &probes[0],
        false => &probes[1],
    };
    let chosen = number(chosen, "lr");
    assert!(start["parent"].is_null());
    assert_eq!(number(start, "lr"), chosen, "{start}");
    assert_eq!(
        number(start, "first_loss"),
        number(&probes[0], "first_loss")
    );
    let s = summary(&out);
    assert_eq!(s["final"]["parent"], start["id"]);
    assert_eq!(s["final"]["lr"].as_f64(), Some(chosen), "{s}");
    assert!(s["flops"].as_u64().unwrap() <= 30_000_000_000);
    let log = String::from_utf8_lossy(&run.stderr);
    // The line of a trial at a rate the strategy scaled shows it.
    assert!(log.contains("lr 0.3\n"), "{log}");
}

/// Tiny settings for the strategies that train networks from scratch: a 450-image training set
/// (600 minus 150 for validation), one pass a network.
const TINY_BASELINES: &str = crate::tiny_settings!(
    "scratch_epochs = 1.0\n",
    r#"
[asha]
min_epochs = 0.25
eta = 3
rungs = 3
"#
);

/// Forward FLOPs of a trial's network on one 28x28 image, by the cost model.
fn forward(genotype: &Value) -> u64 {
    let arch: NetworkArch = serde_json::from_value(genotype.clone()).unwrap();
    arch.cost(28).flops
}

#[test]
fn compute_is_the_cost_models_and_the_budget_holds_with_the_final_phase() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), TINY_BASELINES);
    let budget: u64 = 20_000_000_000;
    for strategy in ["random", "evolution", "asha"] {
        let out = dir.path().join(strategy);
        let run = adjacent(&[
            "search",
            "--subset",
            "600",
            "--valid",
            "150",
            "--config",
            &config,
            "--strategy",
            strategy,
            "--budget-flops",
            "20G",
            "--final",
            "0.4",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let trials = records(&out);
        assert!(trials.len() >= 2, "{strategy}: {trials:?}");
        let mut total = 0;
        for t in &trials {
            if strategy != "asha" {
                // Every network of the baselines trains from scratch.
                assert_eq!(t["inherit"], Value::Bool(false));
                assert!(t["first_loss"].as_f64().unwrap() > 2.0, "{t}");
                assert!(t["images"].as_u64().unwrap() > 450 - 64, "one pass: {t}");
            }
            // Training: forward and a backward of twice its cost per image; validation: one
            // forward pass per validation image.
            let f = forward(&t["genotype"]);
            let images = t["images"].as_u64().unwrap();
            assert_eq!(
                t["flops"].as_u64().unwrap(),
                3 * f * images + f * 150,
                "{t}"
            );
            total += t["flops"].as_u64().unwrap();
        }
        // The search kept 40% of the budget for the final phase.
        assert!(total <= budget * 6 / 10, "{strategy}: search spent {total}");
        let s = summary(&out);
        let fin = &s["final"];
        assert_eq!(fin["state"], "complete", "{s}");
        assert_eq!(fin["inherit"], true, "from the winner's weights");
        let f = forward(&fin["genotype"]);
        let final_images = fin["images"].as_u64().unwrap();
        assert_eq!(
            fin["flops"].as_u64().unwrap(),
            3 * f * final_images + f * 150
        );
        let spent = s["flops"].as_u64().unwrap();
        assert_eq!(spent, total + fin["flops"].as_u64().unwrap());
        assert_eq!(s["budget_flops"].as_u64(), Some(budget));
        // Never past the budget, and short of it by less than one batch of the winner.
        assert!(spent <= budget, "{strategy}: {spent} > {budget}");
        assert!(
            budget - spent < 3 * f * 65,
            "{strategy}: {spent} of {budget}"
        );
        // What the user receives is the final model: it continues the search's best trial.
        assert_eq!(fin["parent"], s["best_trial"]);
        assert_eq!(fin["genotype"], s["best_arch"]);
        assert_eq!(s["valid_acc"], fin["valid_acc"]);
        let result: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("best/result.json")).unwrap())
                .unwrap();
        assert_eq!(result["model"], "final");
        assert_eq!(result["test_acc"], s["test_acc"]);
    }
}

#[test]
fn fixed_trains_one_network_with_the_whole_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), TINY_BASELINES);
    let out = dir.path().join("fixed");
    let cell = adjacent_core::cell::DEFAULT_CELL;
    let run = adjacent(&[
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        &config,
        "--strategy",
        "fixed",
        "--arch",
        cell,
        "--budget-flops",
        "2e10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(records(&out).is_empty(), "fixed runs no search trial");
    let s = summary(&out);
    let fin = &s["final"];
    let arch: NetworkArch = serde_json::from_value(fin["genotype"].clone()).unwrap();
    assert_eq!((arch.channels, arch.stages[0].len()), (4, 1));
    assert_eq!(arch.stages[1][0].to_string(), cell);
    assert_eq!(fin["inherit"], false, "fixed trains from scratch");
    assert!(fin["parent"].is_null());
    // One network, one schedule, the whole budget: about seven passes over 450 images.
    let f = arch.cost(28).flops;
    let images = fin["images"].as_u64().unwrap();
    let asked = (20_000_000_000 - f * 150) / (3 * f);
    assert!(images <= asked && asked - images < 64, "{fin}");
    assert!(images > 6 * 450, "{fin}");
    assert!(
        fin["first_loss"].as_f64().unwrap() > 2.0,
        "from scratch: {fin}"
    );
    assert_eq!(s["flops"].as_u64().unwrap(), 3 * f * images + f * 150);
    assert!(s["test_acc"].as_f64().unwrap() > 40.0, "{s}");
    // `adjacent eval` scores the delivered model the same.
    let eval = adjacent(&["eval", "--model", out.join("best").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        stdout.contains(&format!("{:.2}%", s["test_acc"].as_f64().unwrap())),
        "{stdout}"
    );
}

#[test]
fn asha_promotes_the_top_third_of_each_rung_and_continues_their_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), TINY_BASELINES);
    let out = dir.path().join("asha");
    let run = adjacent(&[
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        &config,
        "--strategy",
        "asha",
        "--trials",
        "13",
        "--final",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trials = records(&out);
    assert_eq!(trials.len(), 13);
    // Rung budgets: 0.25, 0.75 and 2.25 passes over 450 images in all.
    let rung_images = [113u64, 338, 1013];
    let mut rung_of = Vec::new();
    let mut promotions = 0;
    for t in &trials {
        let rung = match t["parent"].as_u64() {
            None => {
                assert_eq!(t["inherit"], Value::Bool(false));
                0
            }
            Some(p) => {
                promotions += 1;
                let parent = &trials[p as usize];
                let rung = rung_of[p as usize] + 1;
                // A promotion continues its parent's weights: the same network, starting where
                // the parent ended.
                assert_eq!(t["inherit"], Value::Bool(true));
                assert_eq!(t["genotype"], parent["genotype"]);
                assert_eq!(t["function_preserving"], Value::Bool(true));
                let gap = (t["first_loss"].as_f64().unwrap()
                    - parent["last_loss"].as_f64().unwrap())
                .abs();
                assert!(
                    gap < 0.5,
                    "trial {}: first loss {gap} from its parent's",
                    t["id"]
                );
                // Its parent was in the top third of its rung when it was promoted.
                let id = t["id"].as_u64().unwrap();
                let acc = parent["valid_acc"].as_f64().unwrap();
                let rivals: Vec<f64> = trials[..id as usize]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| rung_of.get(*i) == Some(&(rung - 1)))
                    .filter_map(|(_, r)| r["valid_acc"].as_f64())
                    .collect();
                let better = rivals.iter().filter(|&&a| a > acc).count();
                assert!(
                    better < rivals.len() / 3,
                    "trial {id}: {better} of {rivals:?}"
                );
                rung
            }
        };
        // Whole batches of 64 within the rung's images (the last batch of a pass is smaller).
        let images = t["images"].as_u64().unwrap();
        let asked = rung_images[rung] - if rung > 0 { rung_images[rung - 1] } else { 0 };
        assert!(images <= asked && asked - images < 64, "{t}");
        rung_of.push(rung);
    }
    assert!(promotions >= 3, "{rung_of:?}");
    assert!(rung_of.contains(&2), "{rung_of:?}");
    let s = summary(&out);
    assert!(s["final"].is_null());
    assert_eq!(s["valid_acc"], s["best_valid_acc"]);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let with_config = |text: &str| {
        let config = write_config(dir.path(), text);
        fails(&["search", "--trials", "1", "--config", &config, "--out", out])
    };
    let err = with_config("start_channels = 4\ncolour = true\n");
    assert!(
        err.contains("colour") && err.contains("search.toml"),
        "{err}"
    );
    let err = with_config("[adjacent]\npatients = 3\n");
    assert!(err.contains("patients"), "{err}");
    let err = with_config("[limits]\nmax_params = 1000\n");
    assert!(err.contains("max_params"), "{err}");
    let err = with_config("start_channels = 16\n[limits]\nmax_channels = 8\n");
    assert!(err.contains("max_channels"), "{err}");
    let err = with_config("[adjacent]\ntournament = 20\n");
    assert!(err.contains("tournament"), "{err}");
    let err = with_config("[evolution]\npopulation = 4\ntournament = 5\n");
    assert!(
        err.contains("[evolution]") && err.contains("tournament"),
        "{err}"
    );
    let err = with_config("[train]\nlr = -1\n");
    assert!(err.contains("lr"), "{err}");
    let err = with_config("[adjacent]\nepochs = 0\ngrow_depth = 1\n");
    assert!(err.contains("grow_depth"), "{err}");
    let err = with_config("[adjacent]\nrates = [1.0, -2.0]\n");
    assert!(err.contains("rates") && err.contains("got -2"), "{err}");
    let err = with_config("[adjacent]\nrates = 2.0\n");
    assert!(err.contains("rates"), "{err}");
    let err = fails(&["search", "--config", "/no/such.toml", "--out", out]);
    assert!(err.contains("/no/such.toml"), "{err}");

    // A budget that cannot fit one trial, or the final phase.
    let err = fails(&[
        "search",
        "--strategy",
        "random",
        "--budget-images",
        "1000",
        "--out",
        out,
    ]);
    assert!(err.contains("cannot fit its first trial"), "{err}");
    let err = fails(&["search", "--trials", "3", "--out", out]);
    assert!(
        err.contains("adjacent") && err.contains("--trials"),
        "{err}"
    );
    let err = fails(&["search", "--budget-minutes", "0.001", "--out", out]);
    assert!(
        err.contains("cannot fit its first trial") || err.contains("final phase"),
        "{err}"
    );
    let err = fails(&[
        "search",
        "--budget-flops",
        "1G",
        "--final",
        "0.3",
        "--out",
        out,
    ]);
    assert!(
        err.contains("final phase") && err.contains("budget-flops"),
        "{err}"
    );
    let err = fails(&["search", "--budget-flops", "25X", "--out", out]);
    assert!(
        err.contains("budget-flops") && err.contains("suffix"),
        "{err}"
    );
    for share in ["1.5", "1", "-0.1"] {
        let share = format!("--final={share}");
        let err = fails(&["search", "--trials", "1", &share, "--out", out]);
        assert!(err.contains("--final") && err.contains("[0, 1)"), "{err}");
    }
    let err = with_config("final = 1.2\n");
    assert!(
        err.contains("final") && err.contains("search.toml"),
        "{err}"
    );
    let err = with_config("final_from = \"nowhere\"\n");
    assert!(err.contains("final_from"), "{err}");
    // `fixed` needs the network it trains, and a budget that is not a count of trials.
    let err = fails(&[
        "search",
        "--strategy",
        "fixed",
        "--budget-flops",
        "25T",
        "--out",
        out,
    ]);
    assert!(err.contains("--arch"), "{err}");
    let cell = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|";
    let err = fails(&[
        "search",
        "--strategy",
        "fixed",
        "--arch",
        cell,
        "--trials",
        "3",
        "--out",
        out,
    ]);
    assert!(err.contains("--trials"), "{err}");
    let err = fails(&[
        "search",
        "--strategy",
        "fixed",
        "--arch",
        "|bad|",
        "--budget-flops",
        "25T",
        "--out",
        out,
    ]);
    assert!(err.contains("--arch"), "{err}");
    assert!(
        !Path::new(out).exists(),
        "a refused search leaves no folder behind"
    );
    let err = fails(&["search", "--trials", "0", "--out", out]);
    assert!(err.contains("--trials"), "{err}");
    let err = fails(&[
        "search",
        "--trials",
        "1",
        "--budget-images",
        "5",
        "--out",
        out,
    ]);
    assert!(err.contains("cannot be used with"), "{err}");

    // An output folder in use.
    std::fs::create_dir_all(dir.path().join("used")).unwrap();
    std::fs::write(dir.path().join("used/trials.jsonl"), "{}\n").unwrap();
    let used = dir.path().join("used");
    let err = fails(&["search", "--trials", "1", "--out", used.to_str().unwrap()]);
    assert!(err.contains("in use"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("used/trials.jsonl")).unwrap(),
        "{}\n",
        "the earlier result is untouched"
    );
}

#[test]
fn diverged_trials_are_recorded_as_failed_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    // Promotions restart at an absurd learning rate and diverge; fresh networks train normally.
    let config = write_config(
        dir.path(),
        &TINY_BASELINES.replace("batch = 64", "batch = 64\nchild_lr = 1e9\nclip_norm = 1e30"),
    );
    let run = adjacent(&[
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        &config,
        "--strategy",
        "asha",
        "--trials",
        "5",
        "--final",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trials = records(&out);
    assert_eq!(trials.len(), 5);
    let promotion = &trials[3];
    assert_eq!(promotion["inherit"], Value::Bool(true), "{promotion}");
    assert_eq!(promotion["state"], "failed", "{promotion}");
    assert!(
        promotion["reason"].as_str().unwrap().contains("diverged"),
        "{promotion}"
    );
    assert!(promotion["valid_acc"].is_null());
    // Its images still count: the steps it took before the loss became infinite.
    assert!(promotion["flops"].as_u64().unwrap() > 0);
    assert_eq!(trials[4]["state"], "complete", "the search went on");
    let s = summary(&out);
    assert_eq!(s["failed"], 1);
    assert_ne!(s["best_trial"].as_u64().unwrap(), 3);
}
