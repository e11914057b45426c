//! Plots: mean curves with a one-standard-deviation band, as SVG.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

/// One line of a plot: a mean per x = 1, 2, ... and its standard deviation.
pub struct Series {
    pub label: String,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
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
    let n = series
        .iter()
        .map(|s| s.mean.len())
        .max()
        .unwrap_or(1)
        .max(2);
    // The y range skips the first few points, where every curve starts far below where it ends.
    let skip = n / 10;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in series {
        for (m, d) in s.mean.iter().zip(&s.std).skip(skip) {
            lo = lo.min(m - d);
            hi = hi.max(m + d);
        }
    }
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        (lo, hi) = (0.0, 100.0);
    }
    let pad = (hi - lo) * 0.05;
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..n as f64, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let band: Vec<(f64, f64)> = s
            .mean
            .iter()
            .zip(&s.std)
            .enumerate()
            .map(|(x, (m, d))| ((x + 1) as f64, m + d))
            .chain(
                s.mean
                    .iter()
                    .zip(&s.std)
                    .enumerate()
                    .rev()
                    .map(|(x, (m, d))| ((x + 1) as f64, m - d)),
            )
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.15))))?;
        chart
            .draw_series(LineSeries::new(
                s.mean.iter().enumerate().map(|(x, m)| ((x + 1) as f64, *m)),
                color.stroke_width(2),
            ))?
            .label(&s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
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
