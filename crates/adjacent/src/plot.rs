//! Plots: mean curves with a one-standard-deviation band, as SVG.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

/// One line of a plot: a mean at each x and the half-width of its band (a standard deviation).
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Series {
    /// A series at x = 1, 2, ...
    pub fn counted(label: String, mean: Vec<f64>, std: Vec<f64>) -> Self {
        Series {
            label,
            x: (1..=mean.len()).map(|x| x as f64).collect(),
            mean,
            std,
        }
    }

    fn points(&self) -> impl DoubleEndedIterator<Item = (f64, f64, f64)> + '_ {
        self.x
            .iter()
            .zip(&self.mean)
            .zip(&self.std)
            .map(|((x, m), d)| (*x, *m, *d))
    }
}

/// Refuses, before any work is done, a plot path this module cannot write.
pub fn check_path(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("svg") => Ok(()),
        _ => bail!(
            "cannot plot to {}: only SVG is supported (give a path ending in .svg)",
            path.display()
        ),
    }
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws each series' mean as a line and mean +- std as a translucent band.
pub fn curves(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    check_path(path)?;
    let ((x_lo, x_hi), (lo, hi)) = ranges(series);
    let pad = (hi - lo) * 0.05;
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..x_hi, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .x_label_formatter(&|x| match x.abs() {
            a if a >= 1e4 => format!("{:.0}k", x / 1e3),
            a if a >= 10.0 => format!("{x:.0}"),
            _ => format!("{x:.1}"),
        })
        .y_desc(y_label)
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        draw_series(&mut chart, s, COLORS[i % COLORS.len()])?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The x range of every series, and the y range of their bands past the first tenth of the x
/// range, where every curve starts far below where it ends.
fn ranges(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let (x_lo, x_hi) = series
        .iter()
        .flat_map(|s| s.x.iter().copied())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    let (x_lo, x_hi) = match x_lo < x_hi {
        true => (x_lo, x_hi),
        false => (1.0, 2.0),
    };
    let skip_below = x_lo + (x_hi - x_lo) / 10.0;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in series {
        for (_, m, d) in s.points().filter(|p| p.0 >= skip_below) {
            lo = lo.min(m - d);
            hi = hi.max(m + d);
        }
    }
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        (lo, hi) = (0.0, 100.0);
    }
    ((x_lo, x_hi), (lo, hi))
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One series: its mean as a line, mean +- std as a translucent band, and its end marked.
fn draw_series(chart: &mut Chart, s: &Series, color: RGBColor) -> Result<()> {
    let band: Vec<(f64, f64)> = s
        .points()
        .map(|(x, m, d)| (x, m + d))
        .chain(s.points().rev().map(|(x, m, d)| (x, m - d)))
        .collect();
    chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.15))))?;
    chart
        .draw_series(LineSeries::new(
            s.points().map(|(x, m, _)| (x, m)),
            color.stroke_width(2),
        ))?
        .label(&s.label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    // The end of each curve (the only point of a curve that has one), with its error bar.
    if let Some((x, m, d)) = s.points().last() {
        chart.draw_series(std::iter::once(Circle::new((x, m), 4, color.filled())))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, m - d), (x, m + d)],
            color.stroke_width(2),
        )))?;
    }
    Ok(())
}
