//! A line of progress for each trial as it ends, the same for `adjacent search` and `adjacent
//! worker`.

use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::spaces::nb201::{Cell, EdgeChange};
use adjacent_core::trial::{Trial, TrialState};

/// Prints a trial as it ends.
pub fn print_trial(record: &TrialOf<GrownSpace>) {
    let o = &record.outcome;
    eprintln!(
        "trial {:>3} {:<10} valid {:>12}  {:>8} params  {:>7} images  {:>6.1} s  first loss {:.3}  {}{}",
        record.id,
        match (record.parent, record.inherit) {
            (Some(p), true) => format!("<- {p}"),
            (Some(p), false) => format!("~ {p}"),
            _ if record.origin.is_some() => "adapted".into(),
            _ => "new".into(),
        },
        match (record.state, o.valid_acc, o.score_loss) {
            (TrialState::Complete, Some(a), _) => format!("{a:.2}%"),
            (TrialState::Complete, None, Some(l)) => format!("(score {l:.3})"),
            (TrialState::Complete, None, None) => match o.tail_loss {
                Some(l) => format!("(loss {l:.3})"),
                None => "-".into(),
            },
            _ => "failed".into(),
        },
        o.params.unwrap_or_else(|| record.genotype.params()),
        o.images,
        o.seconds,
        o.first_loss.unwrap_or(f64::NAN),
        record
            .reason
            .clone()
            .or(record.mutation.as_ref().map(|m| m.to_string()))
            .unwrap_or_default(),
        // A rate chosen by the strategy is worth seeing; the recipe's is in the settings.
        match (record.lr_scale != 1.0, o.lr) {
            (true, Some(lr)) => format!("  lr {}", (lr * 1e6).round() / 1e6),
            _ => String::new(),
        }
    );
}

/// Prints a table study's trial as it ends.
pub fn print_table_trial(t: &Trial<Cell, EdgeChange>) {
    eprintln!(
        "trial {:>4} {:<8} valid {:>6.2}%  {}",
        t.id,
        t.parent.map_or("new".into(), |p| format!("~ {p}")),
        t.valid_acc().unwrap_or(f64::NAN),
        t.genotype
    );
}
